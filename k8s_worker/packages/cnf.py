"""A CNF package with raw Kubernetes manifests -> a :class:`Translation`, as Tacker v2 does it.

The entry VNFD (ETSI SOL001) and the files it imports from the package give
the VDUs, their ``vdu_profile`` bounds, the scaling aspects and the
instantiation levels (the flavour's, chosen by ``flavourId``); the request's
``additionalParams`` ``lcm-kubernetes-def-files`` list the manifest files to
apply, in order.  Each ``tosca.nodes.nfv.Vdu.Compute`` VDU's
``properties.name`` names a workload (Deployment, StatefulSet, DaemonSet,
ReplicaSet or Pod) of those manifests.  Every object keeps its name and gets
the VNF's ownership labels (its pod template too, with the VDU's, so the pods
are traced; a StatefulSet's volume claim templates too, so its claims are the
VNF's); the instantiation level sets each VDU's initial replicas.  Refused,
with every reason at once: an import or a listed file that is not in the
package, a kind the worker does not apply, VDUs of which none names a
workload (one that does not is left out, as Tacker does), a
HorizontalPodAutoscaler on a VDU that one of the VNF's scaling aspects scales
(they would fight).  Pure.
"""

from __future__ import annotations

import base64
import copy
import io
import posixpath
import re
import tarfile
import zlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import yaml

from k8s_worker.kube import KINDS, parse_kind, register_kind
from k8s_worker.packages.csar import Package, normalised
from k8s_worker.packages.manifests import (
    SCALABLE_KINDS,
    WORKLOAD_KINDS,
    Manifest,
    check_kind,
    load_manifests,
    pod_spec,
)
from k8s_worker.tosca import labels as lbl
from k8s_worker.tosca import manifests as tosca_manifests
from k8s_worker.tosca.errors import Problem, ProblemCollector, VnfdError
from k8s_worker.tosca.loader import YamlBudget, YamlBudgetExceeded, load_bounded
from k8s_worker.tosca.model import VnfModel
from k8s_worker.tosca.naming import is_dns1123_label, is_dns1123_subdomain
from k8s_worker.tosca.sol001_form import is_sol001, read_sol001_form
from k8s_worker.tosca.translate import ChartSpec, Translation, Vdu

DEF_FILES = "lcm-kubernetes-def-files"
HELM_CHART_PATH = "helm_chart_path"
#: The ETSI type files are never fetched: an import of them that is not in the
#: package is taken as known (their types are checked directly, as Tacker does).
ETSI_TYPES = ("etsi_nfv_sol001_common_types.yaml", "etsi_nfv_sol001_vnfd_types.yaml")
MAX_IMPORTS = 32
PACKAGE_FORM = "package"


def _problem(where: str | None, message: str, prop: str | None = None) -> Problem:
    return Problem(where, prop, message)


def _load_yaml(
    path: str, text: str, budget: YamlBudget, out: list[Problem]
) -> dict[str, Any] | None:
    try:
        loaded = load_bounded(text, budget)
    except YamlBudgetExceeded as exc:
        out.append(_problem(path, f"refused: {exc}"))
        return None
    except yaml.YAMLError as exc:
        out.append(_problem(path, f"not valid YAML: {exc}"))
        return None
    if not isinstance(loaded, dict):
        out.append(_problem(path, "must be a YAML mapping (a TOSCA template)"))
        return None
    return loaded


def vnfd_templates(
    package: Package, *, budget: YamlBudget, out: list[Problem]
) -> list[tuple[str, dict[str, Any]]]:
    """The entry VNFD and every template it imports (transitively) from the
    package, in the order read."""
    seen: dict[str, dict[str, Any]] = {}
    queue = [package.entry]
    while queue and len(seen) <= MAX_IMPORTS:
        path = queue.pop(0)
        if path in seen:
            continue
        text = package.text(path)
        if text is None:
            out.append(_problem(path, "is imported but not in the package"))
            continue
        tpl = _load_yaml(path, text, budget, out)
        if tpl is None:
            continue
        seen[path] = tpl
        for entry in tpl.get("imports") or []:
            ref = entry.get("file") if isinstance(entry, dict) else entry
            if not isinstance(ref, str):
                out.append(_problem(path, f"import {entry!r} is not a file name", "imports"))
                continue
            if "://" in ref or ref.startswith("/"):
                if posixpath.basename(ref) in ETSI_TYPES:
                    continue
                out.append(
                    _problem(
                        path, f"import {ref!r} is outside the package (never fetched)", "imports"
                    )
                )
                continue
            target = normalised(posixpath.join(posixpath.dirname(path), ref))
            if target is None:
                out.append(_problem(path, f"import {ref!r} escapes the package", "imports"))
                continue
            if package.text(target) is None and posixpath.basename(target) in ETSI_TYPES:
                continue
            queue.append(target)
    if len(seen) > MAX_IMPORTS:
        out.append(_problem(package.entry, f"imports more than {MAX_IMPORTS} templates"))
    return list(seen.items())


def _flavour_of(tpl: dict[str, Any]) -> str | None:
    mapping = (tpl.get("topology_template") or {}).get("substitution_mappings") or {}
    flavour = (mapping.get("properties") or {}).get("flavour_id")
    return str(flavour) if flavour is not None else None


def _has_vdus(tpl: dict[str, Any]) -> bool:
    nodes = (tpl.get("topology_template") or {}).get("node_templates") or {}
    return any(
        isinstance(n, dict) and n.get("type") == "tosca.nodes.nfv.Vdu.Compute"
        for n in nodes.values()
    )


def choose_flavour(
    templates: list[tuple[str, dict[str, Any]]], flavour_id: str | None, out: list[Problem]
) -> tuple[str, dict[str, Any]] | None:
    """The template of the requested flavour (its substitution_mappings'
    flavour_id), or the only one with VDUs when no flavour is asked for."""
    with_vdus = [(p, t) for p, t in templates if _has_vdus(t)]
    if flavour_id:
        chosen = [(p, t) for p, t in with_vdus if _flavour_of(t) == flavour_id]
        if not chosen and len(with_vdus) == 1 and _flavour_of(with_vdus[0][1]) is None:
            chosen = with_vdus
        if not chosen:
            known = sorted({f for _, t in with_vdus if (f := _flavour_of(t))})
            out.append(
                _problem(
                    None,
                    f"flavour {flavour_id!r} is not in the VNFD (its flavours: "
                    f"{', '.join(known) or 'none'})",
                    "flavourId",
                )
            )
            return None
        return chosen[0]
    if len(with_vdus) != 1:
        out.append(
            _problem(
                None,
                "the VNFD has no tosca.nodes.nfv.Vdu.Compute node"
                if not with_vdus
                else "the VNFD has several flavours: give flavourId",
                "flavourId",
            )
        )
        return None
    return with_vdus[0]


def _def_files(params: Mapping[str, Any], package: Package, out: list[Problem]) -> list[str]:
    listed = params.get(DEF_FILES)
    if not isinstance(listed, list) or not listed or not all(isinstance(p, str) for p in listed):
        out.append(
            _problem(None, f"additionalParams {DEF_FILES} must list the manifest files to apply")
        )
        return []
    paths = []
    for path in listed:
        clean = normalised(path)
        if clean is None or package.text(clean) is None:
            out.append(
                _problem(path, "is listed in lcm-kubernetes-def-files but not in the package")
            )
            continue
        paths.append(clean)
    return paths


def _stamp(obj: dict[str, Any], labels: dict[str, str]) -> None:
    """``labels`` on the object; ownership labels the manifest set itself are
    dropped first (a package may not label an object as another VDU's)."""
    meta = obj.setdefault("metadata", {})
    kept = {k: v for k, v in (meta.get("labels") or {}).items() if k not in lbl.OWNERSHIP_KEYS}
    meta["labels"] = {**kept, **labels}


def own(
    manifest: Manifest, *, vnf_id: str, vdu: str | None, annotations: dict[str, str]
) -> dict[str, Any]:
    """The object with the VNF's ownership labels on it, its pod template
    and its volume claim templates."""
    obj = copy.deepcopy(manifest.obj)
    owner = lbl.ownership_labels(vnf_id=vnf_id, vdu=vdu)
    _stamp(obj, owner)
    if annotations:
        meta = obj["metadata"]
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else None
    if spec is not None:
        template = spec.get("template")
        if obj["kind"] == "CronJob":
            template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
        if isinstance(template, dict):
            _stamp(template, owner)
        for claim in spec.get("volumeClaimTemplates") or []:
            if isinstance(claim, dict):
                _stamp(claim, lbl.ownership_labels(vnf_id=vnf_id))
    return obj


def translate_package(
    stored: Mapping[str, Any],
    *,
    vnf_id: str,
    vnf_name: str | None = None,
    namespace: str | None = None,
    params: dict[str, Any] | None = None,
    budget: YamlBudget | None = None,
    extra_kinds: tuple[str, ...] = (),
) -> Translation:
    """The Translation of a stored package (``Package.stored()`` plus its
    ``request``: flavourId, instantiationLevelId, additionalParams); VnfdError
    naming every problem.  ``extra_kinds`` (``<apiVersion>/<Kind>/<plural>``)
    are more namespaced kinds it may hold."""
    budget = budget or YamlBudget()
    extra = frozenset(known_kinds(extra_kinds))
    package = Package.from_stored(stored)
    request = stored.get("request") or {}
    additional = request.get("additionalParams") or {}
    problems: list[Problem] = []
    templates = vnfd_templates(package, budget=budget, out=problems)
    chosen = choose_flavour(templates, request.get("flavourId"), problems)
    helm = additional.get(HELM_CHART_PATH) is not None
    def_files = [] if helm else _def_files(additional, package, problems)
    if problems or chosen is None:
        raise VnfdError(problems)
    path, tpl = chosen
    if not is_sol001(tpl):
        raise VnfdError(
            [_problem(path, "a package's VNFD must be SOL001 (tosca_simple_yaml_1_2 or 1_3)")]
        )
    collector = ProblemCollector()
    # Types of the VNF node may live in another imported file.
    merged = dict(tpl)
    merged["node_types"] = {
        k: v for _, t in templates for k, v in (t.get("node_types") or {}).items()
    }
    merged.pop("imports", None)
    model = read_sol001_form(merged, params=params, out=collector, images=False)
    collector.raise_if_any()
    if helm:
        return _chart_translation(
            model,
            package,
            additional,
            vnf_id=vnf_id,
            namespace=additional.get("namespace") or namespace,
            level=request.get("instantiationLevelId"),
        )

    objects: list[Manifest] = []
    for file in def_files:
        found, more = load_manifests(file, package.text(file) or "", budget=budget)
        objects += found
        problems += more
    for manifest in objects:
        # (Cluster scope is decided at apply, where the VIM is known.)
        refused = check_kind(manifest, cluster_scoped=True, extra=extra)
        if refused is not None:
            problems.append(refused)
    return _assemble(
        model,
        objects,
        problems,
        vnf_id=vnf_id,
        vnf_name=vnf_name,
        namespace=_namespace(objects, additional.get("namespace"), namespace, problems),
        level=request.get("instantiationLevelId"),
    )


def known_kinds(extra_kinds: tuple[str, ...]) -> list[str]:
    """The extra kinds' names, each known to this process's kind table."""
    names = []
    for text in extra_kinds:
        kind = parse_kind(text)
        register_kind(kind)
        names.append(kind.kind)
    return names


def _namespace(
    objects: list[Manifest], requested: Any, called: str | None, problems: list[Problem]
) -> str | None:
    """The VNF's namespace, as Tacker v2 decides it: ``additionalParams``
    ``namespace`` puts every namespaced object there (whatever its manifest
    says); without it, the one namespace the manifests name (several are
    refused), else the call's."""
    if requested is not None and (
        not isinstance(requested, str) or (requested and not is_dns1123_label(requested))
    ):
        problems.append(
            _problem(
                None, f"additionalParams namespace {requested!r} is not a valid namespace name"
            )
        )
        return None
    if requested:
        for manifest in objects:
            known = KINDS.get(manifest.kind)
            if known is not None and known.namespaced:
                manifest.obj.setdefault("metadata", {})["namespace"] = requested
        return requested
    named = sorted(
        {
            str(m.obj["metadata"]["namespace"])
            for m in objects
            if (m.obj.get("metadata") or {}).get("namespace")
        }
    )
    if len(named) > 1:
        problems.append(
            _problem(
                None,
                f"the manifests name several namespaces ({', '.join(named)}); a VNF's "
                "objects are in one (or give additionalParams namespace)",
            )
        )
        return None
    return named[0] if named else called


def _assemble(
    model: VnfModel,
    objects: list[Manifest],
    problems: list[Problem],
    *,
    vnf_id: str,
    vnf_name: str | None,
    namespace: str | None,
    level: str | None,
) -> Translation:
    workloads = {m.name: m for m in objects if m.kind in WORKLOAD_KINDS}
    levels = {name: dict(pairs) for name, pairs in model.instantiation_levels}
    if level is not None and level not in levels:
        problems.append(
            _problem(
                None,
                f"instantiation level {level!r} is not in the VNFD "
                f"(its levels: {', '.join(sorted(levels)) or 'none'})",
                "instantiationLevelId",
            )
        )
    scaled = {t for p in model.policies.scaling for t in p.targets}
    vdus: list[Vdu] = []
    by_workload: dict[str, str] = {}
    for spec in model.vdus:
        target = spec.workload or spec.name
        manifest = workloads.get(target)
        if manifest is None:
            # As in Tacker v2: a VDU whose workload the chosen files do not
            # hold is not part of this VNF (one VNFD serves several file sets).
            continue
        default = (
            levels.get(level or "", {}).get(spec.name, spec.default_replicas)
            if level
            else spec.default_replicas
        )
        if manifest.kind not in SCALABLE_KINDS:
            default = 1
        by_workload[manifest.name] = spec.name
        vdus.append(
            Vdu(
                name=spec.name,
                deployment_name=manifest.name,
                service_name=None,
                default_replicas=default,
                min_replicas=spec.min_replicas,
                max_replicas=spec.max_replicas,
                containers=tuple(
                    str(c.get("name"))
                    for c in ((pod_spec(manifest.obj) or {}).get("containers") or [])
                    if isinstance(c, dict)
                ),
                kind=manifest.kind,
            )
        )
        if manifest.kind not in SCALABLE_KINDS and spec.name in scaled:
            problems.append(
                _problem(
                    spec.name,
                    f"a {manifest.kind} cannot be scaled, yet a scaling aspect targets it",
                    "policies",
                )
            )
    if not vdus and model.vdus:
        problems.append(
            _problem(
                None,
                f"no VDU's properties.name names a workload ({', '.join(WORKLOAD_KINDS)}) of the "
                f"{DEF_FILES} manifests (VDUs: "
                + ", ".join(f"{v.name} -> {v.workload}" for v in model.vdus)
                + ")",
                "properties.name",
            )
        )
    for manifest in objects:
        if manifest.kind != "HorizontalPodAutoscaler":
            continue
        ref = (manifest.obj.get("spec") or {}).get("scaleTargetRef") or {}
        vdu = by_workload.get(str(ref.get("name")))
        if vdu is not None and vdu in scaled:
            problems.append(
                _problem(
                    manifest.where,
                    f"targets VDU {vdu}, which a scaling aspect of the VNFD also scales "
                    "(they would fight): drop one of them",
                    "spec.scaleTargetRef",
                )
            )
    if problems:
        raise VnfdError(problems)
    annotations = {tosca_manifests.ANNOTATION_VNF_NAME: vnf_name} if vnf_name else {}
    owned = [
        own(
            m,
            vnf_id=vnf_id,
            vdu=by_workload.get(m.name) if m.kind in WORKLOAD_KINDS else None,
            annotations=annotations,
        )
        for m in objects
    ]
    present = {v.name for v in vdus}
    policies = replace(
        model.policies,
        scaling=tuple(
            replace(
                p,
                targets=tuple(t for t in p.targets if t in present),
                step_deltas=tuple((v, d) for v, d in p.step_deltas if v in present),
            )
            for p in model.policies.scaling
            if any(t in present for t in p.targets)
        ),
    )
    return Translation(
        vnf_id=vnf_id,
        namespace=namespace,
        vdus=tuple(vdus),
        objects=owned,
        policies=policies,
        instantiation_levels=levels,
        default_instantiation_level=level or model.default_instantiation_level,
        form=PACKAGE_FORM,
        sources=tuple((f"{m.kind}/{m.name}", m.path) for m in objects),
    )


def chart_files(package: Package, path: str) -> bytes | dict[str, bytes] | None:
    """The chart at ``path`` in the package: a .tgz's bytes, or a directory's
    files (relative path -> bytes); None when there is none."""
    clean = normalised(path)
    if clean is None:
        return None
    if clean in package.binary:
        return base64.b64decode(package.binary[clean])
    if clean in package.files:
        return package.files[clean].encode()
    prefix = clean.rstrip("/") + "/"
    found: dict[str, bytes] = {}
    for name, text in package.files.items():
        if name.startswith(prefix):
            found[name[len(prefix) :]] = text.encode()
    for name, data in package.binary.items():
        if name.startswith(prefix):
            found[name[len(prefix) :]] = base64.b64decode(data)
    return found if "Chart.yaml" in found else None


#: Template functions that read the cluster while helm renders: with the
#: worker's credentials, a chart could copy any Secret it may read.
CLUSTER_READING = re.compile(r"\blookup\b")
CHART_MEMBERS_MAX = 2000
CHART_BYTES_MAX = 32 << 20


def chart_refusals(source: bytes | dict[str, bytes] | None) -> list[str]:
    """Why a chart may not be installed: it uses ``lookup`` (in any template,
    its subcharts' too), or it cannot be read within bounds."""
    if source is None:
        return []
    found: list[str] = []

    def scan(files: dict[str, bytes], where: str, depth: int) -> None:
        for name, data in files.items():
            if name.endswith(".tgz") and depth < 3:
                scan(_untar(data, found, f"{where}{name}"), f"{where}{name}/", depth + 1)
            elif "/templates/" in f"/{name}" or name.startswith("templates/"):
                text = data.decode("utf-8", errors="replace")
                if CLUSTER_READING.search(text):
                    found.append(
                        f"{where}{name} uses lookup, which reads the cluster with the worker's "
                        "credentials while helm renders: refused"
                    )

    files = _untar(source, found, "the chart") if isinstance(source, bytes) else dict(source)
    scan(files, "", 0)
    return found


def _untar(data: bytes, problems: list[str], what: str) -> dict[str, bytes]:
    """A chart archive's files (path -> bytes), within bounds."""
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            total = 0
            for count, member in enumerate(archive):
                if count > CHART_MEMBERS_MAX:
                    problems.append(f"{what} has more than {CHART_MEMBERS_MAX} files")
                    break
                if not member.isfile():
                    continue
                total += member.size
                if total > CHART_BYTES_MAX:
                    problems.append(f"{what} expands to more than {CHART_BYTES_MAX} bytes")
                    break
                handle = archive.extractfile(member)
                if handle is not None:
                    out[member.name] = handle.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        problems.append(f"{what} is not a chart archive ({exc})")
    return out


def _chart_translation(
    model: VnfModel,
    package: Package,
    additional: Mapping[str, Any],
    *,
    vnf_id: str,
    namespace: str | None,
    level: str | None,
) -> Translation:
    """A Helm package: the VDUs and policies of its VNFD, the chart to install."""
    problems: list[Problem] = []
    path = str(additional.get(HELM_CHART_PATH))
    if namespace is not None and (
        not isinstance(namespace, str) or not is_dns1123_label(namespace)
    ):
        problems.append(
            _problem(
                None, f"additionalParams namespace {namespace!r} is not a valid namespace name"
            )
        )
    for spec in model.vdus:
        if spec.workload and not is_dns1123_subdomain(spec.workload):
            problems.append(
                _problem(
                    spec.name, f"{spec.workload!r} is not a valid workload name", "properties.name"
                )
            )
    source = chart_files(package, path)
    problems += [_problem(path, reason) for reason in chart_refusals(source)]
    if source is None:
        problems.append(
            _problem(
                path,
                "helm_chart_path names no chart in the package (a .tgz, or a directory "
                "with Chart.yaml)",
            )
        )
    parameters = additional.get("helm_parameters") or {}
    if not isinstance(parameters, dict):
        problems.append(_problem(None, "additionalParams helm_parameters must be a mapping"))
        parameters = {}
    names = additional.get("helm_value_names") or {}
    if not isinstance(names, dict):
        problems.append(_problem(None, "additionalParams helm_value_names must be a mapping"))
        names = {}
    replica_values: list[tuple[str, str]] = []
    for vdu in model.vdus:
        entry = names.get(vdu.name)
        value = entry.get("replica") if isinstance(entry, dict) else None
        if not isinstance(value, str) or not value:
            problems.append(
                _problem(
                    vdu.name,
                    "helm_value_names must name this VDU's replica value "
                    f"({{{vdu.name}: {{replica: <value name>}}}})",
                    "helm_value_names",
                )
            )
            continue
        replica_values.append((vdu.name, value))
    levels = {name: dict(pairs) for name, pairs in model.instantiation_levels}
    if level is not None and level not in levels:
        problems.append(
            _problem(
                None, f"instantiation level {level!r} is not in the VNFD", "instantiationLevelId"
            )
        )
    if problems:
        raise VnfdError(problems)
    vdus = tuple(
        Vdu(
            name=spec.name,
            deployment_name=spec.workload or spec.name,
            service_name=None,
            default_replicas=levels.get(level or "", {}).get(spec.name, spec.default_replicas),
            min_replicas=spec.min_replicas,
            max_replicas=spec.max_replicas,
            containers=(),
            kind="Deployment",
        )
        for spec in model.vdus
    )
    return Translation(
        vnf_id=vnf_id,
        namespace=namespace,
        vdus=vdus,
        objects=[],
        policies=model.policies,
        instantiation_levels=levels,
        default_instantiation_level=level or model.default_instantiation_level,
        form="helm",
        chart=ChartSpec(
            path=path,
            parameters=tuple(sorted(parameters.items())),
            replica_values=tuple(replica_values),
            workloads=tuple((spec.workload or spec.name, spec.name) for spec in model.vdus),
        ),
    )
