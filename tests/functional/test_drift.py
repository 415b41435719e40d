"""Drift, end to end: an object of a VNF deleted by hand (``kubectl delete
svc``) is re-created and a Deployment scaled by hand goes back to its desired
replicas, each reported once as ``vnf.drift.repaired``; with repair off, only
reported.  A real worker (drift checked every 2 s here), RabbitMQ and
kube-apiserver; the conductor is an unmodified oslo RPC client.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.functional.harness import Conductor, Events, Names, WorkerProcess, write_config
from tests.functional.test_tacker_defaults import SAMPLE_ONE_CONTAINER

SELECTOR = "tacker.openstack.org/vnf-id={}"


async def _worker(
    transport_url: str, kubeconfig: str, tmp: Any, *, repair: bool
) -> tuple[WorkerProcess, Names]:
    names = Names.fresh()
    config = write_config(
        tmp / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="drift-1",
        extra=f"[lifecycle]\ndrift_check_interval = 2\nrepair_drift = {str(repair).lower()}\n",
    )
    proc = WorkerProcess(config, log=tmp / "worker.log")
    await proc.start()
    return proc, names


@pytest.fixture(params=[True, False], ids=["repair", "report-only"])
async def setup(
    request: pytest.FixtureRequest,
    transport_url: str,
    kubeconfig: str,
    tmp_path: Any,
) -> AsyncIterator[tuple[bool, Conductor, Events]]:
    proc, names = await _worker(transport_url, kubeconfig, tmp_path, repair=request.param)
    events = Events(transport_url, names)
    try:
        yield request.param, Conductor(transport_url, names), events
    finally:
        events.stop()
        assert await proc.stop() == 0


async def test_objects_changed_by_hand_are_put_back_and_reported_once(
    setup: tuple[bool, Conductor, Events], kube_api: Any, namespace: str
) -> None:
    repair, conductor, events = setup
    vnf_id = str(uuid.uuid4())
    vnf = {
        "id": vnf_id,
        "name": "drift",
        "tenant_id": "tenant-1",
        "vnfd": SAMPLE_ONE_CONTAINER.replace("namespace: default", f"namespace: {namespace}"),
        "namespace": namespace,
    }
    await conductor("instantiate_vnf", vnf=vnf, op_id=f"i-{vnf_id[:8]}")
    await events.wait(vnf_id, "vnf.instantiate.end", within=60)
    core, apps = client.CoreV1Api(kube_api), client.AppsV1Api(kube_api)
    (svc,) = (
        await core.list_namespaced_service(namespace, label_selector=SELECTOR.format(vnf_id))
    ).items
    (dep,) = (
        await apps.list_namespaced_deployment(namespace, label_selector=SELECTOR.format(vnf_id))
    ).items
    (cm,) = (
        await core.list_namespaced_config_map(namespace, label_selector=SELECTOR.format(vnf_id))
    ).items
    want = dep.spec.replicas
    await core.delete_namespaced_service(svc.metadata.name, namespace)
    await apps.patch_namespaced_deployment_scale(
        dep.metadata.name, namespace, {"spec": {"replicas": 5}}
    )
    edited = {k: "edited by hand" for k in cm.data}
    await core.patch_namespaced_config_map(
        cm.metadata.name, namespace, {"data": edited}, field_manager="kubectl-edit"
    )
    found = await events.wait(vnf_id, "vnf.drift.repaired", count=3, within=30)
    changes = sorted((e["payload"]["kind"], e["payload"]["change"]) for e in found)
    assert changes == [
        ("ConfigMap", "edited by kubectl-edit"),
        ("Deployment", f"replicas 5 -> {want}"),
        ("Service", "re-created"),
    ]
    assert {e["payload"]["repaired"] for e in found} == {repair}
    await asyncio.sleep(5)  # two more checks: nothing is reported again
    assert len(events.of(vnf_id, "vnf.drift.repaired")) == 3
    data = (await core.read_namespaced_config_map(cm.metadata.name, namespace)).data
    assert data == (cm.data if repair else edited)
    services = await core.list_namespaced_service(namespace, label_selector=SELECTOR.format(vnf_id))
    scale = await apps.read_namespaced_deployment_scale(dep.metadata.name, namespace)
    if repair:
        assert [s.metadata.name for s in services.items] == [svc.metadata.name]
        assert scale.spec.replicas == want
    else:
        assert services.items == [] and scale.spec.replicas == 5
    await conductor("terminate_vnf", vnf_id=vnf_id, op_id=f"t-{vnf_id[:8]}")
    await events.wait(vnf_id, "vnf.terminate.end", within=60)
