"""The ``Vnf`` custom resource definition, installed by the worker when its RBAC
allows and shipped in ``etc/kubernetes/crd.yaml`` for clusters where it does not.

``kubectl get vnfs`` shows each VNF's status, tenant and last operation.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from k8s_worker.kube import KINDS, Kube, KubeConflict, KubeNotFound, KubeRejected
from k8s_worker.kube.kinds import VNF_GROUP, VNF_VERSION

LOG = structlog.get_logger(__name__)
CRD_NAME = f"vnfs.{VNF_GROUP}"

_OPEN_OBJECT: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def crd_manifest() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": VNF_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": "Vnf",
                "listKind": "VnfList",
                "plural": "vnfs",
                "singular": "vnf",
                "shortNames": ["vnf"],
                "categories": ["tacker"],
            },
            "versions": [
                {
                    "name": VNF_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Name", "type": "string", "jsonPath": ".spec.name"},
                        {"name": "Status", "type": "string", "jsonPath": ".status.status"},
                        {"name": "Tenant", "type": "string", "jsonPath": ".spec.tenantId"},
                        {"name": "Namespace", "type": "string", "jsonPath": ".spec.namespace"},
                        {"name": "Last-Op", "type": "string", "jsonPath": ".status.lastOperation"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A containerized VNF managed by tacker-k8s-worker.",
                            "properties": {
                                "spec": {
                                    **_OPEN_OBJECT,
                                    "required": ["vnfId", "tenantId"],
                                    "properties": {
                                        "vnfId": {"type": "string"},
                                        "name": {"type": "string"},
                                        "tenantId": {"type": "string"},
                                        "namespace": {"type": "string"},
                                    },
                                },
                                "status": _OPEN_OBJECT,
                            },
                        }
                    },
                }
            ],
        },
    }


async def install_crd(
    kube: Kube, *, wait_seconds: float = 30.0, manifest: dict[str, Any] | None = None
) -> bool:
    """Create or update the CRD (the Vnf one, or ``manifest``) and wait until it
    is Established.

    Returns False (and logs why) when the worker may not manage CRDs; the
    operator then applies ``etc/kubernetes/crd.yaml`` once.
    """
    crd_kind = KINDS["CustomResourceDefinition"]
    manifest = manifest or crd_manifest()
    crd_name = manifest["metadata"]["name"]
    try:
        await kube.apply(manifest)
    except KubeRejected as exc:
        if exc.status == 403:
            LOG.warning("crd.install.forbidden", crd=crd_name, error=str(exc))
            return False
        raise
    except KubeConflict:
        pass
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        try:
            crd = await kube.get(crd_kind, name=crd_name)
        except KubeNotFound:
            crd = {}
        conditions = (crd.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            return True
        if loop.time() > deadline:
            raise TimeoutError(f"CRD {crd_name} not Established after {wait_seconds}s")
        await asyncio.sleep(0.2)
