"""The ``Vim`` custom resource definition (``kubectl get vims`` lists the
registered VIMs with their health), installed beside the Vnf one."""

from __future__ import annotations

from typing import Any

from k8s_worker.kube.kinds import VNF_GROUP, VNF_VERSION

VIM_CRD_NAME = f"vims.{VNF_GROUP}"
_OPEN_OBJECT: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def vim_crd_manifest() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": VIM_CRD_NAME},
        "spec": {
            "group": VNF_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": "Vim",
                "listKind": "VimList",
                "plural": "vims",
                "singular": "vim",
                "categories": ["tacker"],
            },
            "versions": [
                {
                    "name": VNF_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Vim-Id", "type": "string", "jsonPath": ".spec.vimId"},
                        {"name": "Tenant", "type": "string", "jsonPath": ".spec.tenantId"},
                        {"name": "Endpoint", "type": "string", "jsonPath": ".spec.authUrl"},
                        {"name": "Health", "type": "string", "jsonPath": ".status.health"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A Kubernetes cluster registered as a VIM "
                            "(credentials in the Secret spec.credentialsSecret).",
                            "properties": {
                                "spec": {
                                    **_OPEN_OBJECT,
                                    "required": ["vimId", "tenantId", "authUrl"],
                                    "properties": {
                                        "vimId": {"type": "string"},
                                        "tenantId": {"type": "string"},
                                        "authUrl": {"type": "string"},
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
