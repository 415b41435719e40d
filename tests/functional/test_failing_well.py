"""Operations that fail well, end to end (SOL003's FAILED_TEMP): an instantiate
whose pods a ResourceQuota refuses parks in FAILED_TEMP with one non-final
``.error``; the VNF then takes no other operation; ``retry_operation`` after the
quota is lifted completes it, ``rollback_operation`` leaves no object behind
(NOT_INSTANTIATED), ``fail_operation`` makes it FAILED and terminate then works;
a scale refused by the quota is rolled back to its replicas.  A real worker,
RabbitMQ and kube-apiserver; the conductor is an unmodified oslo RPC client.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.functional.harness import Conductor, Events, Names, WorkerProcess, write_config
from tests.vnfds import one_vdu

FINAL = ("COMPLETED", "FAILED", "ROLLED_BACK")


@pytest.fixture(scope="module")
async def worker(
    transport_url: str, kubeconfig: str, names: Names, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("failing")
    config = write_config(
        tmp / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="fail-1",
    )
    config.write_text(
        config.read_text().replace("operation_timeout = 120", "operation_timeout = 20")
    )
    proc = WorkerProcess(config, log=tmp / "worker.log")
    await proc.start()
    yield proc
    assert await proc.stop() == 0


@pytest.fixture(scope="module")
def conductor(transport_url: str, names: Names, worker: WorkerProcess) -> Conductor:
    return Conductor(transport_url, names)


async def _quota(kube_api: Any, namespace: str, pods: int | None) -> None:
    """A ResourceQuota of ``pods`` in ``namespace`` (None: none)."""
    core = client.CoreV1Api(kube_api)
    if pods is None:
        await core.delete_namespaced_resource_quota("pods", namespace)
        return
    body = {"metadata": {"name": "pods"}, "spec": {"hard": {"pods": str(pods)}}}
    try:
        await core.create_namespaced_resource_quota(namespace, body)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        await core.patch_namespaced_resource_quota("pods", namespace, body)
    # The quota admission plugin sees a new quota once its status is computed.
    for _ in range(100):
        quota = await core.read_namespaced_resource_quota("pods", namespace)
        if quota.status and quota.status.hard:
            return
        await asyncio.sleep(0.1)


def _vnf(namespace: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "name": "failing",
        "tenant_id": "tenant-1",
        "vnfd": one_vdu(),
        "namespace": namespace,
    }


def _finals(events: Events, vnf_id: str, operation: str) -> list[dict[str, Any]]:
    return [
        e["payload"]
        for e in events.of(vnf_id)
        if e["event_type"] in (f"vnf.{operation}.end", f"vnf.{operation}.error")
        and e["payload"].get("operation_state") in FINAL
    ]


async def _parked(conductor: Conductor, events: Events, vnf: dict[str, Any]) -> str:
    """Instantiate ``vnf`` into a namespace whose quota refuses its pods: the
    operation's op_id once its FAILED_TEMP ``.error`` arrived."""
    op_id = f"i-{vnf['id'][:8]}"
    await conductor("instantiate_vnf", vnf=vnf, op_id=op_id)
    (error,) = await events.wait(vnf["id"], "vnf.instantiate.error", op_id=op_id, within=60)
    payload = error["payload"]
    assert payload["operation_state"] == "FAILED_TEMP", payload
    assert payload["error"]["type"] == "PodsRejected", payload["error"]
    return op_id


async def _deployments(kube_api: Any, namespace: str, vnf_id: str) -> list[Any]:
    found = await client.AppsV1Api(kube_api).list_namespaced_deployment(
        namespace, label_selector=f"tacker.openstack.org/vnf-id={vnf_id}"
    )
    return list(found.items)


async def test_a_refused_instantiate_parks_takes_nothing_else_and_completes_on_retry(
    conductor: Conductor, events: Events, kube_api: Any, namespace: str
) -> None:
    await _quota(kube_api, namespace, 0)
    vnf = _vnf(namespace)
    op_id = await _parked(conductor, events, vnf)
    info = await conductor("get_vnf", vnf_id=vnf["id"])
    assert info["last_operation"]["state"] == "FAILED_TEMP"
    # Nothing else is taken meanwhile, not even a terminate.
    for method, extra in (
        ("scale_vnf", {"policy": "SP1", "type": "out"}),
        ("terminate_vnf", {}),
    ):
        other = f"{method[:2]}-{vnf['id'][:8]}"
        await conductor(method, vnf_id=vnf["id"], op_id=other, **extra)
        event = method.removesuffix("_vnf")
        (refused,) = await events.wait(vnf["id"], f"vnf.{event}.error", op_id=other, within=30)
        assert refused["payload"]["error"]["type"] == "OperationInFailedTemp"
    await _quota(kube_api, namespace, None)
    await conductor("retry_operation", vnf_id=vnf["id"], op_id=f"r-{op_id}", target_op_id=op_id)
    (end,) = await events.wait(vnf["id"], "vnf.instantiate.end", op_id=op_id, within=60)
    assert end["payload"]["retry_op_id"] == f"r-{op_id}"
    assert end["payload"]["operation_state"] == "COMPLETED"
    # The retry again (a redelivery) changes nothing; exactly one final event.
    await conductor("retry_operation", vnf_id=vnf["id"], op_id=f"r-{op_id}", target_op_id=op_id)
    await asyncio.sleep(1.0)
    assert len(_finals(events, vnf["id"], "instantiate")) == 1
    assert (await conductor("get_vnf", vnf_id=vnf["id"]))["status"] == "ACTIVE"


async def test_a_rolled_back_instantiate_leaves_no_object_and_a_failed_one_can_go(
    conductor: Conductor, events: Events, kube_api: Any, namespace: str
) -> None:
    await _quota(kube_api, namespace, 0)
    rolled, failed = _vnf(namespace), _vnf(namespace)
    op_rolled, op_failed = await asyncio.gather(
        _parked(conductor, events, rolled), _parked(conductor, events, failed)
    )
    await conductor(
        "rollback_operation",
        vnf_id=rolled["id"],
        op_id=f"rb-{op_rolled}",
        target_op_id=op_rolled,
    )
    await conductor(
        "fail_operation", vnf_id=failed["id"], op_id=f"f-{op_failed}", target_op_id=op_failed
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not (
        _finals(events, rolled["id"], "instantiate")
        and _finals(events, failed["id"], "instantiate")
    ):
        assert loop.time() < deadline, "no final event for both"
        await asyncio.sleep(0.1)
    (back,) = _finals(events, rolled["id"], "instantiate")
    assert back["operation_state"] == "ROLLED_BACK" and back["rolled_back"] is True
    assert back["rollback_op_id"] == f"rb-{op_rolled}"
    assert not await _deployments(kube_api, namespace, rolled["id"])
    assert (await conductor("get_vnf", vnf_id=rolled["id"]))["status"] == "NOT_INSTANTIATED"
    (gave_up,) = _finals(events, failed["id"], "instantiate")
    assert gave_up["operation_state"] == "FAILED" and gave_up["error"]["type"] == "PodsRejected"
    # Both can be terminated now.
    for vnf in (rolled, failed):
        await conductor("terminate_vnf", vnf_id=vnf["id"], op_id=f"t-{vnf['id'][:8]}")
    for vnf in (rolled, failed):
        await events.wait(vnf["id"], "vnf.terminate.end", within=60)
    assert not await _deployments(kube_api, namespace, failed["id"])
    # The fail_operation redelivered after the terminate (at least once) is
    # answered as the duplicate it is: no error for a VNF that is gone.
    await conductor(
        "fail_operation", vnf_id=failed["id"], op_id=f"f-{op_failed}", target_op_id=op_failed
    )
    await asyncio.sleep(1.5)
    assert not events.of(failed["id"], "vnf.fail.error")


async def test_a_scale_the_quota_refuses_is_rolled_back_to_its_replicas(
    conductor: Conductor, events: Events, kube_api: Any, namespace: str
) -> None:
    await _quota(kube_api, namespace, 1)
    vnf = _vnf(namespace)
    await conductor("instantiate_vnf", vnf=vnf, op_id=f"i-{vnf['id'][:8]}")
    await events.wait(vnf["id"], "vnf.instantiate.end", within=60)
    op_id = f"s-{vnf['id'][:8]}"
    await conductor("scale_vnf", vnf_id=vnf["id"], op_id=op_id, policy="SP1", type="out")
    (error,) = await events.wait(vnf["id"], "vnf.scale.error", op_id=op_id, within=60)
    assert error["payload"]["operation_state"] == "FAILED_TEMP"
    # A rollback of a rollback target that is not parked is refused.
    await conductor(
        "rollback_operation",
        vnf_id=vnf["id"],
        op_id=f"rb-bad-{op_id}",
        target_op_id=f"i-{vnf['id'][:8]}",
    )
    (refused,) = await events.wait(vnf["id"], "vnf.rollback.error", within=30)
    assert "not FAILED_TEMP" in refused["payload"]["error"]["message"]
    await conductor("rollback_operation", vnf_id=vnf["id"], op_id=f"rb-{op_id}", target_op_id=op_id)
    (final,) = [
        e
        for e in await events.wait(vnf["id"], "vnf.scale.error", op_id=op_id, count=2, within=60)
        if e["payload"]["operation_state"] == "ROLLED_BACK"
    ]
    assert final["payload"]["rolled_back"] is True
    (dep,) = await _deployments(kube_api, namespace, vnf["id"])
    assert dep.spec.replicas == 1
    info = await conductor("get_vnf", vnf_id=vnf["id"])
    assert info["vdus"][0]["desired_replicas"] == 1 and info["status"] == "ACTIVE"


async def test_heal_by_vnfc_replaces_exactly_the_named_pod(
    conductor: Conductor, events: Events, kube_api: Any, namespace: str
) -> None:
    vnf = {**_vnf(namespace), "vnfd": one_vdu(default_instances=2)}
    await conductor("instantiate_vnf", vnf=vnf, op_id=f"i-{vnf['id'][:8]}")
    await events.wait(vnf["id"], "vnf.instantiate.end", within=60)
    pods = {p["name"]: p for p in (await conductor("get_vnf", vnf_id=vnf["id"]))["pods"]}
    assert len(pods) == 2
    core = client.CoreV1Api(kube_api)
    listed = await core.list_namespaced_pod(
        namespace, label_selector=f"tacker.openstack.org/vnf-id={vnf['id']}"
    )
    uids = {p.metadata.name: p.metadata.uid for p in listed.items}
    victim, kept = sorted(uids)
    # By uid, as Tacker's vnfcInstanceId may be.
    op_id = f"h-{vnf['id'][:8]}"
    await conductor("heal_vnf", vnf_id=vnf["id"], op_id=op_id, vnfc_ids=[uids[victim]])
    (end,) = await events.wait(vnf["id"], "vnf.heal.end", op_id=op_id, within=60)
    assert end["payload"]["replaced_pods"] == [victim]
    (respawn,) = await events.wait(vnf["id"], "vnf.respawn", within=30)
    assert respawn["payload"]["old_pod"] == victim
    listed = await core.list_namespaced_pod(
        namespace, label_selector=f"tacker.openstack.org/vnf-id={vnf['id']}"
    )
    now = {
        p.metadata.name: p.metadata.uid for p in listed.items if not p.metadata.deletion_timestamp
    }
    assert now[kept] == uids[kept] and victim not in now and len(now) == 2
    # A pod that is not this VNF's is refused.
    bad = f"hb-{vnf['id'][:8]}"
    await conductor("heal_vnf", vnf_id=vnf["id"], op_id=bad, vnfc_ids=["kube-apiserver-x"])
    (error,) = await events.wait(vnf["id"], "vnf.heal.error", op_id=bad, within=30)
    assert error["payload"]["error"]["type"] == "UnknownVnfc"
    assert error["payload"]["operation_state"] == "FAILED"


async def test_terminate_gives_the_pods_exactly_graceful_timeout(
    conductor: Conductor, events: Events, kube_api: Any, namespace: str
) -> None:
    from kubernetes_asyncio import watch

    core = client.CoreV1Api(kube_api)
    for grace in (7, 0):
        vnf = _vnf(namespace)
        await conductor("instantiate_vnf", vnf=vnf, op_id=f"i-{vnf['id'][:8]}")
        await events.wait(vnf["id"], "vnf.instantiate.end", within=60)
        seen: list[int | None] = []
        ready = asyncio.Event()

        async def follow(
            vnf_id: str = vnf["id"], seen: list[int | None] = seen, ready: asyncio.Event = ready
        ) -> None:
            stream = watch.Watch().stream(
                core.list_namespaced_pod,
                namespace,
                label_selector=f"tacker.openstack.org/vnf-id={vnf_id}",
                timeout_seconds=60,
            )
            async for event in stream:
                ready.set()
                pod = event["object"]
                if pod.metadata.deletion_timestamp is not None:
                    seen.append(pod.metadata.deletion_grace_period_seconds)
                if event["type"] == "DELETED":
                    return

        watcher = asyncio.create_task(follow())
        await asyncio.wait_for(ready.wait(), 10)  # the pod's ADDED: the watch is on
        op_id = f"t-{vnf['id'][:8]}"
        await conductor("terminate_vnf", vnf_id=vnf["id"], op_id=op_id, graceful_timeout=grace)
        await events.wait(vnf["id"], "vnf.terminate.end", op_id=op_id, within=60)
        await asyncio.wait_for(watcher, 30)
        # The first deletion mark is the worker's; kwok's node then removes
        # the pod at once (grace 0), as a kubelet does once it stopped.
        assert seen, "the pod was seen being deleted"
        assert seen[0] == grace, (grace, seen)


async def _update_refused(
    conductor: Conductor, events: Events, kube_api: Any, namespace: str
) -> tuple[dict[str, Any], str, Any]:
    """A VNF at its quota (one pod), then an update whose rollout needs one more:
    (the VNF, the update's op_id, its Deployment's container before the update)."""
    await _quota(kube_api, namespace, 1)
    vnf = _vnf(namespace)
    await conductor("instantiate_vnf", vnf=vnf, op_id=f"i-{vnf['id'][:8]}")
    await events.wait(vnf["id"], "vnf.instantiate.end", within=60)
    (dep,) = await _deployments(kube_api, namespace, vnf["id"])
    before = dep.spec.template.spec.containers[0].resources
    op_id = f"u-{vnf['id'][:8]}"
    await conductor(
        "update_vnf", vnf_id=vnf["id"], op_id=op_id, vnfd=one_vdu().replace("32 MB", "48 MB")
    )
    return vnf, op_id, before


async def _rolled_back_update(
    events: Events, kube_api: Any, namespace: str, vnf: dict[str, Any], op_id: str, before: Any
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    while not _finals(events, vnf["id"], "update"):
        assert loop.time() < deadline, events.of(vnf["id"])
        await asyncio.sleep(0.1)
    (final,) = _finals(events, vnf["id"], "update")
    assert final["operation_state"] == "ROLLED_BACK" and final["rolled_back"] is True, final
    (dep,) = await _deployments(kube_api, namespace, vnf["id"])
    assert dep.spec.template.spec.containers[0].resources == before, "the old pods are back"
    assert (dep.status.ready_replicas or 0) == 1
    return final


async def test_an_update_whose_pods_fail_is_rolled_back_on_request(
    conductor: Conductor, events: Events, kube_api: Any, namespace: str
) -> None:
    vnf, op_id, before = await _update_refused(conductor, events, kube_api, namespace)
    (parked,) = await events.wait(vnf["id"], "vnf.update.error", op_id=op_id, within=60)
    assert parked["payload"]["operation_state"] == "FAILED_TEMP"
    await conductor("rollback_operation", vnf_id=vnf["id"], op_id=f"rb-{op_id}", target_op_id=op_id)
    final = await _rolled_back_update(events, kube_api, namespace, vnf, op_id, before)
    assert final["rollback_op_id"] == f"rb-{op_id}"


@pytest.fixture(scope="module")
async def auto_rollback(
    transport_url: str, kubeconfig: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Conductor, Events]]:
    """A second worker (its own topic and records) that rolls failed updates
    back by itself."""
    names = Names.fresh()
    tmp = tmp_path_factory.mktemp("auto-rollback")
    config = write_config(
        tmp / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="auto-1",
        extra="[lifecycle]\nauto_rollback_updates = true\n",
    )
    proc = WorkerProcess(config, log=tmp / "worker.log")
    await proc.start()
    events = Events(transport_url, names)
    try:
        yield Conductor(transport_url, names), events
    finally:
        events.stop()
        assert await proc.stop() == 0


async def test_an_update_whose_pods_fail_rolls_back_by_itself_with_the_option(
    auto_rollback: tuple[Conductor, Events], kube_api: Any, namespace: str
) -> None:
    conductor, events = auto_rollback
    vnf, op_id, before = await _update_refused(conductor, events, kube_api, namespace)
    final = await _rolled_back_update(events, kube_api, namespace, vnf, op_id, before)
    assert final["rollback_op_id"] == f"auto-rollback-{op_id}"
