"""The worker's way to Kubernetes: an ApiClient from config, a small generic
resource layer over plain dicts (apply, get, list, watch, scale, delete), and
the error classes and retry policy every caller shares."""

from k8s_worker.kube.errors import (
    KubeConflict,
    KubeError,
    KubeGone,
    KubeNotFound,
    KubeRejected,
    KubeUnavailable,
)
from k8s_worker.kube.kinds import KINDS, Kind, kind_of, parse_kind, register_kind
from k8s_worker.kube.resources import Kube

__all__ = [
    "KINDS",
    "Kind",
    "Kube",
    "KubeConflict",
    "KubeError",
    "KubeGone",
    "KubeNotFound",
    "KubeRejected",
    "KubeUnavailable",
    "kind_of",
    "parse_kind",
    "register_kind",
]
