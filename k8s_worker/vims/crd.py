"""The ``Vim`` custom resource definition (``kubectl get vims`` lists the
registered VIMs with their health), installed beside the Vnf one."""

from __future__ import annotations

from typing import Any

from k8s_worker.kube.kinds import VNF_GROUP
from k8s_worker.record.crd import namespaced_crd

VIM_CRD_NAME = f"vims.{VNF_GROUP}"


def vim_crd_manifest() -> dict[str, Any]:
    return namespaced_crd(
        kind="Vim",
        plural="vims",
        columns=[
            ("Vim-Id", "string", ".spec.vimId"),
            ("Tenant", "string", ".spec.tenantId"),
            ("Endpoint", "string", ".spec.authUrl"),
            ("Health", "string", ".status.health"),
            ("Age", "date", ".metadata.creationTimestamp"),
        ],
        description="A Kubernetes cluster registered as a VIM "
        "(credentials in the Secret spec.credentialsSecret).",
        required=["vimId", "tenantId", "authUrl"],
    )
