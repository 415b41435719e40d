"""The Kubernetes manifests a package ships: read within the YAML budget,
checked to be objects the worker can apply and own.

A manifest file may hold several documents (``---``) and ``kind: List``
wrappers.  Each object must name its apiVersion, kind and metadata.name; its
kind must be one the worker knows (``WORKLOAD_KINDS`` and ``NAMESPACED_KINDS``,
plus the cluster-scoped ones when the caller allows them), at the apiVersion
the worker speaks.  Problems name the file, kind and name.  Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from k8s_worker.kube import KINDS
from k8s_worker.tosca.errors import Problem
from k8s_worker.tosca.loader import YamlBudget, YamlBudgetExceeded, load_bounded_all
from k8s_worker.tosca.naming import is_dns1123_label, is_dns1123_subdomain

#: Kinds a VDU may name (its pods are the VDU's).
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod")
#: Workload kinds whose replicas the worker sets (scale).
SCALABLE_KINDS = ("Deployment", "StatefulSet", "ReplicaSet")
#: Other namespaced kinds a package may hold.
NAMESPACED_KINDS = (
    "Job",
    "Service",
    "ConfigMap",
    "Secret",
    "PersistentVolumeClaim",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "NetworkPolicy",
    "LimitRange",
    "ResourceQuota",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
)
#: Cluster-scoped kinds: only on a VIM the tenant registered with its own credentials.
CLUSTER_KINDS = ("Namespace", "ClusterRole", "PersistentVolume", "StorageClass", "PriorityClass")


@dataclass(frozen=True)
class Manifest:
    """One object of a package and the file it came from."""

    path: str
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind"))

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name"))

    @property
    def where(self) -> str:
        return f"{self.path}: {self.kind}/{self.name}"


def load_manifests(
    path: str, text: str, *, budget: YamlBudget
) -> tuple[list[Manifest], list[Problem]]:
    """The objects of one manifest file, and the problems found in it."""
    problems: list[Problem] = []
    try:
        documents = load_bounded_all(text, budget)
    except YamlBudgetExceeded as exc:
        return [], [Problem(path, None, f"the manifest file is refused: {exc}")]
    except yaml.YAMLError as exc:
        return [], [Problem(path, None, f"not valid YAML: {exc}")]
    found: list[Manifest] = []
    queue = [d for d in documents if d is not None]
    while queue:
        doc = queue.pop(0)
        if not isinstance(doc, dict):
            problems.append(Problem(path, None, "every document must be a Kubernetes object"))
            continue
        if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            queue[:0] = doc["items"]
            continue
        meta = doc.get("metadata")
        if not doc.get("apiVersion") or not doc.get("kind"):
            problems.append(Problem(path, None, "an object without apiVersion or kind"))
            continue
        if not isinstance(meta, dict) or not meta.get("name"):
            problems.append(
                Problem(
                    path, None, f"a {doc['kind']} without metadata.name (generateName is not kept)"
                )
            )
            continue
        name, namespace = meta.get("name"), meta.get("namespace")
        if not isinstance(name, str) or not is_dns1123_subdomain(name):
            problems.append(
                Problem(path, "metadata.name", f"{name!r} is not a valid object name (DNS-1123)")
            )
            continue
        if namespace is not None and (
            not isinstance(namespace, str) or not is_dns1123_label(namespace)
        ):
            problems.append(
                Problem(
                    f"{path}: {doc['kind']}/{name}",
                    "metadata.namespace",
                    f"{namespace!r} is not a valid namespace name",
                )
            )
            continue
        found.append(Manifest(path=path, obj=doc))
    return found, problems


def check_kind(
    manifest: Manifest, *, cluster_scoped: bool, extra: frozenset[str] = frozenset()
) -> Problem | None:
    """Why the worker may not apply this object's kind here (None: it may);
    ``extra``: the kinds ``[kubernetes] package_extra_kinds`` allows."""
    kind = manifest.kind
    known = KINDS.get(kind)
    allowed = (
        *WORKLOAD_KINDS,
        *NAMESPACED_KINDS,
        *extra,
        *(CLUSTER_KINDS if cluster_scoped else ()),
    )
    if kind in CLUSTER_KINDS and not cluster_scoped:
        return Problem(
            manifest.where,
            "kind",
            f"{kind} is cluster-scoped: allowed only on a VIM the tenant registered with its "
            "own credentials",
        )
    if known is None or kind not in allowed:
        return Problem(manifest.where, "kind", f"kind {kind} is not one the worker applies")
    if manifest.obj.get("apiVersion") != known.api_version:
        return Problem(
            manifest.where,
            "apiVersion",
            f"{manifest.obj.get('apiVersion')} is not served for {kind} here "
            f"(use {known.api_version})",
        )
    return None


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec an object runs (a Pod's own, a workload's or Job's
    template, a CronJob's job template), or None for a kind that runs none."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get(
            "spec"
        )
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return (spec.get("template") or {}).get("spec")
    return None


def no_token_unless_account(obj: dict[str, Any]) -> None:
    """A package's pod that names no ServiceAccount gets no token (as the
    worker's own pods): set, unless the manifest says otherwise (then the
    tenancy checks decide)."""
    spec = pod_spec(obj)
    if not isinstance(spec, dict) or "containers" not in spec:
        return
    if not (spec.get("serviceAccountName") or spec.get("serviceAccount")):
        spec.setdefault("automountServiceAccountToken", False)
