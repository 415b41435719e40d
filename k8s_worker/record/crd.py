"""The ``Vnf`` custom resource definition, installed by the worker when its RBAC
allows and shipped in ``etc/kubernetes/crd.yaml`` for clusters where it does not.

``kubectl get vnfs`` shows each VNF's name, target namespace, status, VIM and
last operation (``-o wide`` adds Ready, its reason and the owning replica);
``kubectl explain vnf.status`` reads the status schema
(``k8s_worker.record.schema``) and ``kubectl wait --for=condition=Ready`` its
conditions.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from k8s_worker.kube import KINDS, Kube, KubeConflict, KubeNotFound, KubeRejected
from k8s_worker.kube.kinds import VNF_GROUP, VNF_VERSION
from k8s_worker.record.schema import STATUS_SCHEMA

LOG = structlog.get_logger(__name__)
CRD_NAME = f"vnfs.{VNF_GROUP}"

_OPEN_OBJECT: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def namespaced_crd(
    *,
    kind: str,
    plural: str,
    columns: list[tuple[str, str, str]],
    description: str,
    required: list[str],
    short_names: tuple[str, ...] = (),
    wide_columns: list[tuple[str, str, str]] | None = None,
    status_schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A namespaced CRD of the worker's group with a status subresource, an open
    spec (``required`` string fields) and status (open, or ``status_schema``),
    and ``kubectl get`` columns as (name, type, jsonPath); ``wide_columns``
    show with ``-o wide`` only (priority 1)."""
    names: dict[str, Any] = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
    }
    if short_names:
        names["shortNames"] = list(short_names)
    names["categories"] = ["tacker"]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{VNF_GROUP}"},
        "spec": {
            "group": VNF_GROUP,
            "scope": "Namespaced",
            "names": names,
            "versions": [
                {
                    "name": VNF_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": name, "type": type_, "jsonPath": path}
                        for name, type_, path in columns
                    ]
                    + [
                        {"name": name, "type": type_, "jsonPath": path, "priority": 1}
                        for name, type_, path in wide_columns or []
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": description,
                            "properties": {
                                "spec": {
                                    **_OPEN_OBJECT,
                                    "required": required,
                                    "properties": {field: {"type": "string"} for field in required},
                                },
                                "status": status_schema or _OPEN_OBJECT,
                            },
                        }
                    },
                }
            ],
        },
    }


def crd_manifest() -> dict[str, Any]:
    manifest = namespaced_crd(
        kind="Vnf",
        plural="vnfs",
        short_names=("vnf",),
        # metadata.name (the VNF id) is kubectl's own NAME column: not repeated.
        columns=[
            ("Vnf-Name", "string", ".spec.name"),
            ("Target-NS", "string", ".status.namespace"),
            ("Status", "string", ".status.status"),
            ("Vim", "string", ".spec.vimId"),
            ("Last-Op", "string", ".status.lastOperation"),
            ("Age", "date", ".metadata.creationTimestamp"),
        ],
        wide_columns=[
            ("Ready", "string", '.status.conditions[?(@.type=="Ready")].status'),
            ("Reason", "string", '.status.conditions[?(@.type=="Ready")].reason'),
            ("Owner", "string", ".status.owner"),
            ("Tenant", "string", ".spec.tenantId"),
        ],
        status_schema=STATUS_SCHEMA,
        description="A containerized VNF managed by tacker-k8s-worker.",
        required=["vnfId", "tenantId"],
    )
    spec = manifest["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"].update({"name": {"type": "string"}, "namespace": {"type": "string"}})
    return manifest


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
