"""kubectl and helm as a user runs them, for the tests' checks: ``-o json``
parsed, run in a thread (the event loop runs the test and its listeners)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

from tests.functional.harness import HELM, KUBECTL

#: The kinds ``owned`` lists by default.
KINDS = (
    "deployments,statefulsets,daemonsets,replicasets,pods,services,configmaps,secrets,jobs,"
    "persistentvolumeclaims,networkpolicies"
)


def _json(argv: list[str]) -> Any:
    out = subprocess.run(
        [*argv, "-o", "json"], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(out.stdout)


async def kubectl(kubeconfig: str, *args: str) -> Any:
    """``kubectl --kubeconfig <kubeconfig> <args> -o json``, parsed."""
    return await asyncio.to_thread(_json, [KUBECTL, "--kubeconfig", kubeconfig, *args])


async def helm(kubeconfig: str, *args: str) -> Any:
    """The bed's ``helm --kubeconfig <kubeconfig> <args> -o json``, parsed."""
    return await asyncio.to_thread(_json, [HELM, "--kubeconfig", kubeconfig, *args])


async def owned(kubeconfig: str, namespace: str, vnf_id: str, *, kinds: str = KINDS) -> list[str]:
    """Every object of the VNF in its namespace ("Kind/name"), as kubectl lists them."""
    found = await kubectl(
        kubeconfig, "get", kinds, "-n", namespace, "-l", f"tacker.openstack.org/vnf-id={vnf_id}"
    )
    return sorted(f"{o['kind']}/{o['metadata']['name']}" for o in found["items"])
