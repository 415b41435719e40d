"""Scale and heal policies end to end: alarms cast through oslo.messaging,
failures injected through kwok, decisions observed as notifications."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client

from k8s_worker.tosca import LABEL_VNF_ID
from tests.functional.harness import Conductor, WorkerProcess, write_config
from tests.functional.kube_wait import CHAOS_FAILED, pod_ready, wait_for_pods
from tests.vnfds import heal_policy, one_vdu


@pytest.fixture(scope="module")
def config(transport_url, kubeconfig, names, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("policies")
    return write_config(
        tmp / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="pol-1",
    ), tmp


@pytest.fixture(scope="module")
async def worker(config) -> AsyncIterator[WorkerProcess]:
    path, tmp = config
    proc = WorkerProcess(path, log=tmp / "worker.log")
    await proc.start()
    yield proc
    await proc.stop()


@pytest.fixture(scope="module")
def conductor(transport_url, names, worker) -> Conductor:
    return Conductor(transport_url, names)


async def _instantiate(conductor, events, namespace, *, cooldown: int) -> str:
    vnf_id = str(uuid.uuid4())
    await conductor(
        "instantiate_vnf",
        op_id=f"i-{vnf_id}",
        vnf={
            "id": vnf_id,
            "name": "pol",
            "tenant_id": "tenant-1",
            "namespace": namespace,
            "vnfd": one_vdu(cooldown=cooldown, policies=heal_policy(backoff=1)),
        },
    )
    await events.wait(vnf_id, "vnf.instantiate.end")
    return vnf_id


async def _replicas(kube_api, namespace: str, vnf_id: str) -> int:
    apps = client.AppsV1Api(kube_api)
    deps = await apps.list_namespaced_deployment(
        namespace, label_selector=f"{LABEL_VNF_ID}={vnf_id}"
    )
    return deps.items[0].spec.replicas


async def test_alarm_scales_out_once_and_cooldown_blocks_the_second(
    conductor, events, kube_api, namespace
):
    vnf_id = await _instantiate(conductor, events, namespace, cooldown=300)
    await conductor("alarm", vnf_id=vnf_id, policy="SP1", trigger="cpu_high", state="firing")
    first = (await events.wait(vnf_id, "vnf.policy.triggered", decision="act"))[0]["payload"]
    end = (await events.wait(vnf_id, "vnf.scale.end", op_id=first["op_id"]))[0]["payload"]
    assert end["automatic"] is True and end["replicas"] == {"VDU1": {"old": 1, "new": 2}}
    await conductor("alarm", vnf_id=vnf_id, policy="SP1", trigger="cpu_high", state="firing")
    blocked = (await events.wait(vnf_id, "vnf.policy.triggered", decision="cooldown"))[0]
    assert "cooldown of 300s" in blocked["payload"]["reason"]
    assert await _replicas(kube_api, namespace, vnf_id) == 2
    assert len(events.of(vnf_id, "vnf.scale.start")) == 1


async def test_a_burst_of_twenty_alarms_never_exceeds_max(conductor, events, kube_api, namespace):
    vnf_id = await _instantiate(conductor, events, namespace, cooldown=0)
    for _ in range(20):
        await conductor("alarm", vnf_id=vnf_id, policy="SP1", trigger="burst", state="firing")
    await events.wait(vnf_id, "vnf.scale.end", count=2)
    # Alarms that arrive while a scale runs collapse into one, so the burst may
    # end without a refusal; one more alarm at max must be refused.
    await conductor("alarm", vnf_id=vnf_id, policy="SP1", trigger="burst", state="firing")
    await events.wait(vnf_id, "vnf.policy.triggered", decision="bound_reached")
    await asyncio.sleep(2)
    assert await _replicas(kube_api, namespace, vnf_id) == 3
    ends = events.of(vnf_id, "vnf.scale.end")
    assert len(ends) == 2, "1 -> 2 -> 3 and no further"
    assert max(e["payload"]["replicas"]["VDU1"]["new"] for e in ends) == 3


async def test_a_replica_restart_keeps_the_cooldown(
    conductor, events, worker, config, kube_api, namespace
):
    vnf_id = await _instantiate(conductor, events, namespace, cooldown=600)
    await conductor("alarm", vnf_id=vnf_id, policy="SP1", trigger="t", state="firing")
    await events.wait(vnf_id, "vnf.scale.end")
    # Stop the worker and start a new process on the same records.
    assert await worker.stop() == 0
    await worker.start()
    await conductor("alarm", vnf_id=vnf_id, policy="SP1", trigger="t", state="firing")
    await events.wait(vnf_id, "vnf.policy.triggered", decision="cooldown")
    assert await _replicas(kube_api, namespace, vnf_id) == 2


async def test_failed_pods_are_respawned_until_the_limit_then_error(
    conductor, events, kube_api, namespace
):
    vnf_id = await _instantiate(conductor, events, namespace, cooldown=0)
    core = client.CoreV1Api(kube_api)
    selector = f"{LABEL_VNF_ID}={vnf_id}"
    for attempt in range(1, 4):
        pods = await wait_for_pods(
            kube_api,
            namespace=namespace,
            selector=selector,
            predicate=lambda ps: any(pod_ready(p) for p in ps.values()),
        )
        victim = next(n for n, p in pods.items() if pod_ready(p))
        await core.patch_namespaced_pod(
            victim, namespace, {"metadata": {"labels": {CHAOS_FAILED: "true"}}}
        )
        if attempt <= 2:
            acts = await events.wait(vnf_id, "vnf.policy.triggered", decision="act", count=attempt)
            op_id = acts[-1]["payload"]["op_id"]
            end = (await events.wait(vnf_id, "vnf.heal.end", op_id=op_id))[0]["payload"]
            assert end["automatic"] is True and end["replaced_pods"] == [victim]
    gave_up = (await events.wait(vnf_id, "vnf.policy.triggered", decision="attempts_exhausted"))[0]
    assert gave_up["priority"] == "ERROR"
    status = await events.wait(vnf_id, "vnf.status.update", status="ERROR")
    assert "HP1" in status[0]["payload"]["reason"]
    await asyncio.sleep(2)
    assert len(events.of(vnf_id, "vnf.heal.start")) == 2, "no loop after giving up"
