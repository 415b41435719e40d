"""The generated manifests are accepted by a real kube-apiserver (server-side dry run)."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from k8s_worker.tosca import translate

DATA = pathlib.Path(__file__).resolve().parent.parent / "unit" / "tosca" / "data"
VNF_ID = "0b6a1b5e-5b0e-4d6c-9c1f-2f0e8c3a7d11"


@pytest.mark.parametrize("sample", ["tacker_multi_vdu.yaml", "sol001_cnf.yaml"])
async def test_every_generated_object_passes_server_side_dry_run(
    kube_api: Any, namespace: str, sample: str
) -> None:
    from kubernetes_asyncio import utils

    result = translate((DATA / sample).read_text(), vnf_id=VNF_ID, namespace=namespace)
    assert result.objects

    accepted = []
    for manifest in result.objects:
        created = await utils.create_from_dict(
            kube_api, manifest, namespace=namespace, dry_run="All"
        )
        accepted.extend(created)
    assert [obj.metadata.name for obj in accepted] == [
        o["metadata"]["name"] for o in result.objects
    ]
    assert all(obj.metadata.namespace == namespace for obj in accepted)
