"""Descriptors live apart from the records, so a big one fits etcd (real bed).

Through the RPC with 1.4 MiB VNFDs (the limit raised for it): inline, such a
record is over etcd's request limit and the instantiate is refused; stored by
content in gzipped ConfigMap chunks, the record keeps a reference of a few
hundred bytes, an update keeps the previous descriptor's reference too, and
the chunks no record references any more are collected.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client

from k8s_worker.kube import Kube
from k8s_worker.kube.kinds import VNF_GROUP, VNF_VERSION
from k8s_worker.record.descriptors import DESCRIPTOR_LABEL
from k8s_worker.record.model import record_name
from k8s_worker.record.store import RecordStore
from tests.functional.harness import Conductor, Names, WorkerProcess, write_config
from tests.vnfds import one_vdu

BIG = 1400 * 1024


@pytest.fixture(scope="module")
async def worker(
    transport_url: str, kubeconfig: str, names: Names, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("descriptors")
    config = write_config(
        tmp / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="descriptors-1",
        extra="[limits]\nmax_vnfd_bytes = 1572864\n",
    )
    proc = WorkerProcess(config, log=tmp / "worker.log")
    await proc.start()
    yield proc
    assert await proc.stop() == 0


def _big_vnfd() -> str:
    """A working VNFD carrying 1.4 MiB of incompressible comment."""
    noise = base64.b64encode(os.urandom(BIG * 3 // 4)).decode()
    lines = "".join(f"# {noise[i : i + 76]}\n" for i in range(0, len(noise), 76))
    return one_vdu().rstrip("\n") + "\n" + lines


async def _record(kube_api, names: Names, vnf_id: str) -> dict:
    return await client.CustomObjectsApi(kube_api).get_namespaced_custom_object(
        VNF_GROUP, VNF_VERSION, names.records, "vnfs", record_name(vnf_id)
    )


async def _chunks(kube_api, names: Names) -> dict[str, str]:
    items = await client.CoreV1Api(kube_api).list_namespaced_config_map(
        names.records, label_selector=DESCRIPTOR_LABEL
    )
    return {
        cm.metadata.name: cm.metadata.annotations["tacker.openstack.org/sha256"]
        for cm in items.items
    }


async def test_a_big_descriptor_fits_and_its_versions_are_kept_then_collected(
    transport_url, names, worker, events, kube_api, namespace
):
    conductor = Conductor(transport_url, names)
    vnf_id = str(uuid.uuid4())
    first, second, third = _big_vnfd(), _big_vnfd(), _big_vnfd()
    vnf = {"id": vnf_id, "name": "big", "tenant_id": "tenant-1", "vnfd": first}
    await conductor("instantiate_vnf", op_id="i1", vnf=vnf | {"namespace": namespace})
    await events.wait(vnf_id, "vnf.instantiate.end", within=90)

    rec = await _record(kube_api, names, vnf_id)
    assert len(json.dumps(rec)) < 32 * 1024
    assert "vnfd" not in rec["spec"]
    ref = rec["spec"]["vnfdRef"]
    assert ref["bytes"] == len(first.encode()) and ref["parts"] >= 2  # over one chunk's size
    chunks = await _chunks(kube_api, names)
    assert sorted(n for n, sha in chunks.items() if sha == ref["sha256"]) == [
        f"vnfd-{ref['sha256'][:40]}-{i}" for i in range(ref["parts"])
    ]
    assert (await conductor("get_vnf", vnf_id=vnf_id))["status"] == "ACTIVE"

    for n, vnfd in enumerate((second, third), start=1):
        await conductor("update_vnf", vnf_id=vnf_id, op_id=f"u{n}", vnfd=vnfd)
        await events.wait(vnf_id, "vnf.update.end", op_id=f"u{n}", within=90)
    rec = await _record(kube_api, names, vnf_id)
    assert len(json.dumps(rec)) < 32 * 1024
    current, previous = rec["spec"]["vnfdRef"], rec["spec"]["previousVnfdRef"]
    assert current["bytes"] == len(third.encode()) and previous["bytes"] == len(second.encode())
    assert current["sha256"] != previous["sha256"] != ref["sha256"]

    # The first descriptor is referenced no more: collected; the other two stay.
    api = client.ApiClient(configuration=kube_api.configuration)
    try:
        store = RecordStore(Kube(api), namespace=names.records)
        # Put again (an instantiate of the same VNFD on its way): its grace
        # counts from now, not from when its chunks were first created.
        await asyncio.sleep(6)
        assert await store.descriptors.put(first) == ref
        assert await store.collect_descriptors(grace=5) == 0
        assert ref["sha256"] in set((await _chunks(kube_api, names)).values())
        assert await store.collect_descriptors(grace=0) >= ref["parts"]
    finally:
        await api.close()
    left = set((await _chunks(kube_api, names)).values())
    assert ref["sha256"] not in left and {current["sha256"], previous["sha256"]} <= left

    await conductor("terminate_vnf", vnf_id=vnf_id, op_id="t1")
    await events.wait(vnf_id, "vnf.terminate.end", within=90)
