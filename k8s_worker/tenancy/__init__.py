"""Tenancy rules: which namespaces a tenant's VNF may use, and what its pods and
Services may ask for.  Pure: the lifecycle feeds them names and manifests and
acts on the verdict, so every operation is judged by the same code."""

from k8s_worker.tenancy.guard import (
    PodRules,
    check_objects,
    check_package_objects,
    check_replica_bounds,
    parse_quantity,
)
from k8s_worker.tenancy.namespaces import (
    NamespaceRefused,
    NamespaceRules,
    derived_namespace,
    parse_grants,
    tenant_label_value,
)

__all__ = [
    "NamespaceRefused",
    "NamespaceRules",
    "PodRules",
    "check_objects",
    "check_package_objects",
    "check_replica_bounds",
    "derived_namespace",
    "parse_grants",
    "parse_quantity",
    "tenant_label_value",
]
