"""The resource kinds the worker touches, and where each lives in the API.

A static table instead of API discovery: the worker manages a known set of
kinds, and a table costs no requests at start-up and no cache on disk.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Kind:
    """A Kubernetes resource kind the worker manages, and the paths of its objects on the
    API server."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def base(self) -> str:
        if "/" in self.api_version:
            return f"/apis/{self.api_version}"
        return f"/api/{self.api_version}"

    def path(self, *, namespace: str | None = None, name: str | None = None) -> str:
        """The collection path, or the object's path when ``name`` is given."""
        parts = [self.base]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{_segment(namespace)}")
        parts.append(self.plural)
        if name:
            parts.append(_segment(name))
        return "/".join(parts)


def _segment(value: str) -> str:
    """One path segment, whatever the name holds (a tenant's "../x" stays a
    name the API server refuses, never a path it resolves elsewhere)."""
    return urllib.parse.quote(value, safe="") if value not in (".", "..") else "%2E" * len(value)


VNF_GROUP = "tacker.openstack.org"
VNF_VERSION = "v1alpha1"

KINDS: dict[str, Kind] = {
    k.kind: k
    for k in (
        Kind("v1", "Namespace", "namespaces", namespaced=False),
        Kind("v1", "Node", "nodes", namespaced=False),
        Kind("v1", "ConfigMap", "configmaps"),
        Kind("v1", "Secret", "secrets"),
        Kind("v1", "Service", "services"),
        Kind("v1", "Pod", "pods"),
        Kind("v1", "Event", "events"),
        Kind("v1", "ServiceAccount", "serviceaccounts"),
        Kind("v1", "ResourceQuota", "resourcequotas"),
        Kind("v1", "LimitRange", "limitranges"),
        Kind("apps/v1", "Deployment", "deployments"),
        Kind("apps/v1", "ReplicaSet", "replicasets"),
        Kind("apps/v1", "StatefulSet", "statefulsets"),
        Kind("apps/v1", "DaemonSet", "daemonsets"),
        Kind("batch/v1", "Job", "jobs"),
        Kind("batch/v1", "CronJob", "cronjobs"),
        Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
        Kind("v1", "PersistentVolume", "persistentvolumes", namespaced=False),
        Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
        Kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
        Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
        Kind("storage.k8s.io/v1", "StorageClass", "storageclasses", namespaced=False),
        Kind("scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", namespaced=False),
        Kind("coordination.k8s.io/v1", "Lease", "leases"),
        Kind(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            namespaced=False,
        ),
        Kind("rbac.authorization.k8s.io/v1", "Role", "roles"),
        Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
        Kind("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", namespaced=False),
        Kind(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            namespaced=False,
        ),
        Kind(f"{VNF_GROUP}/{VNF_VERSION}", "Vnf", "vnfs"),
        Kind(f"{VNF_GROUP}/{VNF_VERSION}", "Vim", "vims"),
        Kind(
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            namespaced=False,
        ),
    )
}


def parse_kind(text: str) -> Kind:
    """``<apiVersion>/<Kind>/<plural>`` (a namespaced kind); ValueError otherwise."""
    parts = text.strip().split("/")
    if len(parts) not in (3, 4) or not all(parts):
        raise ValueError(f"{text!r} is not <apiVersion>/<Kind>/<plural>")
    *version, kind, plural = parts
    if not kind[:1].isupper() or not plural.islower():
        raise ValueError(f"{text!r}: expected a Kind (capitalized) and its plural (lower case)")
    return Kind("/".join(version), kind, plural)


def register_kind(kind: Kind) -> None:
    """Know ``kind`` from now on (an operator's extra package kind); a kind the
    table has already is left as it is."""
    KINDS.setdefault(kind.kind, kind)


def kind_of(obj: dict[str, Any]) -> Kind:
    """The Kind of a manifest; a clear error for a kind the worker does not manage."""
    name = obj.get("kind")
    kind = KINDS.get(name or "")
    if kind is None or kind.api_version != obj.get("apiVersion"):
        raise ValueError(f"unsupported object kind {obj.get('apiVersion')}/{name}")
    return kind
