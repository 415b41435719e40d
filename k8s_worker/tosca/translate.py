"""The entry point: a VNFD (text or dict) -> a :class:`Translation`.

Chooses the reader by ``tosca_definitions_version`` (Tacker's NFV profile via
tosca-parser, or SOL001), names every object from the VNF id, and assembles the
manifests in apply order. Pure: no I/O, no cluster.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from k8s_worker.tosca import manifests, naming
from k8s_worker.tosca.errors import Problem, ProblemCollector, VnfdError
from k8s_worker.tosca.loader import YamlBudget, YamlBudgetExceeded, load_bounded
from k8s_worker.tosca.model import VnfModel
from k8s_worker.tosca.parser import TOSCA_LOCK, parse_tacker_vnfd
from k8s_worker.tosca.policies import Policies
from k8s_worker.tosca.precheck import precheck_tacker_form
from k8s_worker.tosca.sol001_form import is_sol001, read_sol001_form
from k8s_worker.tosca.tacker_form import read_tacker_form

TACKER_VERSION = "tosca_simple_profile_for_nfv_1_0_0"


@dataclass(frozen=True)
class Vdu:
    """One VDU of a translated VNF and the names of its objects.

    ``service_name`` is ``None`` when the VDU publishes no ports;
    ``config_maps`` maps container name -> ConfigMap name.
    """

    name: str
    deployment_name: str
    service_name: str | None
    default_replicas: int
    min_replicas: int
    max_replicas: int
    containers: tuple[str, ...]
    config_maps: tuple[tuple[str, str], ...] = ()
    #: The workload's kind (a package's VDU may be a StatefulSet, a DaemonSet...).
    kind: str = "Deployment"

    @property
    def workload_name(self) -> str:
        """The name of the VDU's workload (``deployment_name`` for every kind)."""
        return self.deployment_name

    @property
    def scalable(self) -> bool:
        return self.kind in ("Deployment", "StatefulSet", "ReplicaSet")


@dataclass(frozen=True)
class ChartSpec:
    """A package's Helm chart (Tacker v2's ``ETSINFV.HELM.V_3``): its path in
    the package, the values it is installed with (``helm_parameters``), each
    VDU's replica value (``helm_value_names``) and each VDU's workload base
    name (its ``properties.name``)."""

    path: str
    parameters: tuple[tuple[str, Any], ...] = ()
    replica_values: tuple[tuple[str, str], ...] = ()  # VDU -> value name
    workloads: tuple[tuple[str, str], ...] = ()  # properties.name -> VDU


@dataclass(frozen=True)
class Translation:
    """The Kubernetes form of a VNF.

    ``objects`` are plain manifest dicts in apply order (ConfigMaps, Deployments,
    Services); without a namespace in the VNFD or the call they carry none.
    ``policies`` are normalized (see :mod:`k8s_worker.tosca.policies`);
    ``instantiation_levels`` (SOL001 only) maps level -> {vdu: replicas}.
    """

    vnf_id: str
    namespace: str | None
    vdus: tuple[Vdu, ...]
    objects: list[dict[str, Any]]
    policies: Policies
    instantiation_levels: Mapping[str, Mapping[str, int]]
    default_instantiation_level: str | None = None
    #: "tosca" (objects generated from the VNFD) or "package" (a package's manifests).
    form: str = "tosca"
    #: A package's objects ("Kind/name") and the manifest file each came from.
    sources: tuple[tuple[str, str], ...] = ()
    #: A Helm package's chart (its objects are what the chart renders).
    chart: ChartSpec | None = None

    def vdu_names(self) -> list[str]:
        return [vdu.name for vdu in self.vdus]

    def vdu(self, name: str) -> Vdu:
        """The VDU called ``name``; KeyError if none."""
        for vdu in self.vdus:
            if vdu.name == name:
                return vdu
        raise KeyError(f"no VDU {name!r}")


def _load(vnfd: str | bytes | Mapping[str, Any], budget: YamlBudget) -> dict[str, Any]:
    if isinstance(vnfd, Mapping):
        return dict(vnfd)
    try:
        loaded = load_bounded(vnfd, budget)
    except YamlBudgetExceeded as exc:
        raise VnfdError([Problem(None, None, f"the VNFD is refused: {exc}")]) from None
    except yaml.YAMLError as exc:
        raise VnfdError([Problem(None, None, f"the VNFD is not valid YAML: {exc}")]) from None
    if not isinstance(loaded, dict):
        raise VnfdError([Problem(None, None, "the VNFD must be a YAML mapping (a TOSCA template)")])
    return loaded


_MODELS: OrderedDict[str, VnfModel] = OrderedDict()
_MODELS_LOCK = threading.Lock()
MODEL_CACHE_SIZE = 512


def check_size(text: str, budget: YamlBudget) -> None:
    size = len(text.encode("utf-8"))
    if size > budget.max_bytes:
        raise VnfdError(
            [Problem(None, None, f"the VNFD is {size} bytes, over the limit of {budget.max_bytes}")]
        )


def _read_cached(
    vnfd: str | bytes | Mapping[str, Any], params: dict[str, Any] | None, budget: YamlBudget
) -> VnfModel:
    """The VNF model of a descriptor, parsed once per distinct (descriptor, params).

    Parsing is the expensive part (tosca-parser, serialized by its lock), and it
    does not depend on the VNF: many VNFs of one descriptor, or one VNF
    reconciled again, reuse the model; only the cheap naming and manifests are
    made per VNF.  The model is immutable (frozen dataclasses).
    """
    raw = vnfd.decode(errors="replace") if isinstance(vnfd, bytes) else vnfd
    if isinstance(raw, str):
        check_size(raw, budget)  # before anything hashes or copies it
    key = hashlib.sha256(
        json.dumps([raw, params or {}], sort_keys=True, default=str).encode()
    ).hexdigest()
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is not None:
            _MODELS.move_to_end(key)
            return model
    model = _read(_load(vnfd, budget), params)
    with _MODELS_LOCK:
        _MODELS[key] = model
        while len(_MODELS) > MODEL_CACHE_SIZE:
            _MODELS.popitem(last=False)
    return model


def _read(tpl: dict[str, Any], params: dict[str, Any] | None) -> VnfModel:
    out = ProblemCollector()
    version = tpl.get("tosca_definitions_version")
    if version == TACKER_VERSION:
        precheck_tacker_form(tpl, out=out)
        out.raise_if_any()
        with TOSCA_LOCK:
            model = read_tacker_form(parse_tacker_vnfd(tpl, params=params), out=out)
    elif is_sol001(tpl):
        model = read_sol001_form(tpl, params=params, out=out)
    else:
        raise VnfdError(
            [
                Problem(
                    None,
                    "tosca_definitions_version",
                    f"expected {TACKER_VERSION} (Tacker's form) or tosca_simple_yaml_1_2/1_3 "
                    f"(SOL001), got {version!r}",
                )
            ]
        )
    out.raise_if_any()
    return model


def translate(
    vnfd: str | bytes | Mapping[str, Any],
    *,
    vnf_id: str,
    vnf_name: str | None = None,
    namespace: str | None = None,
    params: dict[str, Any] | None = None,
    budget: YamlBudget | None = None,
) -> Translation:
    """Translate a VNFD into Kubernetes manifests and normalized policies.

    ``vnfd`` is TOSCA YAML text or an already-parsed mapping, either Tacker's
    containerized form (``tosca_simple_profile_for_nfv_1_0_0`` with
    ``tosca.nodes.nfv.VDU.Tacker``) or ETSI SOL001 (``tosca.nodes.nfv.Vdu.Compute``).
    ``vnf_id`` (Tacker's UUID) names and labels every object; ``vnf_name`` is
    recorded as an annotation; ``namespace`` is used when the VNFD names none
    (the VNFD's wins); ``params`` are the values of the VNFD's inputs;
    ``budget`` bounds the YAML text (bytes, depth, aliases, expanded nodes).

    Raises :class:`VnfdError` listing every problem found. Pure and thread-safe
    (tosca-parser calls are serialized internally).
    """
    problems = ProblemCollector()
    if not vnf_id or not naming.is_label_value(vnf_id):
        problems.add(
            None,
            "vnf_id",
            f"VNF id {vnf_id!r} cannot be a label value "
            "(at most 63 letters, digits, '-', '_', '.')",
        )
    if namespace is not None and not naming.is_dns1123_label(namespace):
        problems.add(None, "namespace", f"{namespace!r} is not a valid namespace name")
    problems.raise_if_any()

    model = _read_cached(vnfd, params, budget or YamlBudget())
    ns = model.namespace or namespace
    annotations = {manifests.ANNOTATION_VNF_NAME: vnf_name} if vnf_name else {}

    config_maps: list[dict[str, Any]] = []
    deployments: list[dict[str, Any]] = []
    services: list[dict[str, Any]] = []
    vdus: list[Vdu] = []
    for spec in model.vdus:
        name = naming.object_name(
            vnf_id=vnf_id, parts=(spec.name,), max_len=naming.DEPLOYMENT_NAME_MAX
        )
        cm_names: dict[str, str] = {}
        for container in spec.containers:
            if not container.config:
                continue
            cm_name = naming.object_name(vnf_id=vnf_id, parts=(spec.name, container.name))
            cm_names[container.name] = cm_name
            config_maps.append(
                manifests.config_map(
                    name=cm_name,
                    namespace=ns,
                    container=container,
                    labels={
                        **manifests.lbl.ownership_labels(vnf_id=vnf_id, vdu=spec.name),
                    },
                    annotations=annotations,
                )
            )
        deployments.append(
            manifests.deployment(
                name=name,
                namespace=ns,
                vdu=spec,
                vnf_id=vnf_id,
                config_maps=cm_names,
                annotations=annotations,
            )
        )
        if spec.service_ports:
            services.append(
                manifests.service(
                    name=name, namespace=ns, vdu=spec, vnf_id=vnf_id, annotations=annotations
                )
            )
        vdus.append(
            Vdu(
                name=spec.name,
                deployment_name=name,
                service_name=name if spec.service_ports else None,
                default_replicas=spec.default_replicas,
                min_replicas=spec.min_replicas,
                max_replicas=spec.max_replicas,
                containers=tuple(c.name for c in spec.containers),
                # By Kubernetes name and by the descriptor's own key ("front_end"
                # becomes container "front-end"): a config update may use either.
                config_maps=tuple(cm_names.items())
                + tuple(
                    (c.source_name, cm_names[c.name])
                    for c in spec.containers
                    if c.name in cm_names and c.source_name != c.name
                ),
            )
        )
    return Translation(
        vnf_id=vnf_id,
        namespace=ns,
        vdus=tuple(vdus),
        objects=[*config_maps, *deployments, *services],
        policies=model.policies,
        instantiation_levels={level: dict(pairs) for level, pairs in model.instantiation_levels},
        default_instantiation_level=model.default_instantiation_level,
    )
