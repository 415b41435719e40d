"""Status and respawn notifications from the watch stream, end to end.

Pods are deleted, failed through kwok's chaos stage and restarted (their
restartCount raised); an oslo.messaging listener must receive exactly one
vnf.respawn for each, and vnf.status.update must follow the replicas down and
back up.  The API server is restarted in the middle: the watch resumes without
losing or repeating anything.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import signal
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client

from k8s_worker.kube.kinds import VNF_GROUP, VNF_VERSION
from k8s_worker.record.model import record_name
from k8s_worker.tosca import LABEL_VNF_ID
from tests.functional.harness import Conductor, WorkerProcess, write_config
from tests.functional.kube_wait import CHAOS_FAILED, pod_ready, set_unschedulable, wait_for_pods
from tests.vnfds import one_vdu

ROOT = pathlib.Path(__file__).resolve().parents[2]
VNFD = one_vdu(max_instances=5, default_instances=3)


@pytest.fixture(scope="module")
async def worker(
    transport_url, kubeconfig, names, tmp_path_factory
) -> AsyncIterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("events")
    config = write_config(
        tmp / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="ev-1",
        extra="[kubernetes]\nwatch_inactivity_seconds = 20\n",
    )
    proc = WorkerProcess(config, log=tmp / "worker.log")
    await proc.start()
    yield proc
    assert await proc.stop() == 0


def _ready(pods: dict) -> list[str]:
    return sorted(n for n, p in pods.items() if pod_ready(p))


@pytest.mark.serial  # restarts the shared API server
async def test_respawns_and_status_follow_the_pods(
    transport_url, names, worker, events, kube_api, namespace
):
    conductor = Conductor(transport_url, names)
    vnf_id = str(uuid.uuid4())
    selector = f"{LABEL_VNF_ID}={vnf_id}"
    core = client.CoreV1Api(kube_api)
    await conductor(
        "instantiate_vnf",
        op_id="i1",
        vnf={
            "id": vnf_id,
            "name": "ev",
            "tenant_id": "tenant-1",
            "vnfd": VNFD,
            "namespace": namespace,
        },
    )
    await events.wait(vnf_id, "vnf.instantiate.end")
    pods = await wait_for_pods(
        kube_api, namespace=namespace, selector=selector, predicate=lambda ps: len(_ready(ps)) == 3
    )

    # 1. A pod deleted while no node takes its replacement: DEGRADED, then ACTIVE.
    await set_unschedulable(kube_api, True)
    try:
        victim = _ready(pods)[0]
        await core.delete_namespaced_pod(victim, namespace, grace_period_seconds=0)
        degraded = await events.wait(vnf_id, "vnf.status.update", status="DEGRADED")
        assert degraded[0]["payload"]["old_status"] == "ACTIVE"
        assert "2/3" in degraded[0]["payload"]["reason"]
    finally:
        await set_unschedulable(kube_api, False)
    back = await events.wait(vnf_id, "vnf.status.update", status="ACTIVE", count=2)
    assert back[-1]["payload"]["old_status"] == "DEGRADED"
    respawn = (await events.wait(vnf_id, "vnf.respawn"))[0]["payload"]
    assert respawn["old_pod"] == victim and respawn["vdu"] == "VDU1"
    assert respawn["reason"] == "Deleted" and respawn["new_pod"] != victim

    # 2. A pod failed by kwok's chaos stage.
    pods = await wait_for_pods(
        kube_api, namespace=namespace, selector=selector, predicate=lambda ps: len(_ready(ps)) == 3
    )
    failed = _ready(pods)[0]
    await core.patch_namespaced_pod(
        failed, namespace, {"metadata": {"labels": {CHAOS_FAILED: "true"}}}
    )
    got = await events.wait(vnf_id, "vnf.respawn", count=2)
    assert got[1]["payload"]["old_pod"] == failed
    assert got[1]["payload"]["reason"].startswith("Failed")

    # 3. The API server restarts: the watch resumes, nothing is repeated.
    proc = await asyncio.create_subprocess_exec(
        "bash", str(ROOT / "tools/testbed/kube.sh"), "restart-apiserver"
    )
    assert await proc.wait() == 0

    # 4. A container restart (restartCount raised, last state OOMKilled).
    pods = await wait_for_pods(
        kube_api, namespace=namespace, selector=selector, predicate=lambda ps: len(_ready(ps)) == 3
    )
    restarted = _ready(pods)[0]
    status = pods[restarted]["status"]
    status["containerStatuses"][0]["restartCount"] = 1
    status["containerStatuses"][0]["lastState"] = {
        "terminated": {
            "reason": "OOMKilled",
            "exitCode": 137,
            "startedAt": status["startTime"],
            "finishedAt": status["startTime"],
        }
    }
    await core.patch_namespaced_pod_status(restarted, namespace, {"status": status})
    got = await events.wait(vnf_id, "vnf.respawn", count=3)
    third = got[2]["payload"]
    assert (third["old_pod"], third["new_pod"]) == (restarted, restarted)
    assert third["reason"] == "OOMKilled" and third["restart_count"] == 1

    # Exactly three respawns, and a settled stream: nothing more arrives.
    await asyncio.sleep(3)
    assert len(events.of(vnf_id, "vnf.respawn")) == 3
    # No gap; an event published while the API server restarted may come twice
    # (its outbox entry could not be dropped yet): then as the same message
    # (same message_id), which consumers and k8s-worker-tail skip by sequence.
    by_sequence: dict[int, set[str]] = {}
    for e in events.of(vnf_id):
        by_sequence.setdefault(e["payload"]["sequence"], set()).add(e["message_id"])
    assert sorted(by_sequence) == list(range(1, len(by_sequence) + 1)), "no gap"
    assert all(len(ids) == 1 for ids in by_sequence.values()), "a repeat is the same message"

    await conductor("terminate_vnf", vnf_id=vnf_id, op_id="t1")
    await events.wait(vnf_id, "vnf.terminate.end")


async def test_an_event_published_again_after_a_crash_is_the_same_message(
    transport_url, names, worker, events, kube_api, namespace, tmp_path
):
    """A replica killed after publishing but before dropping the event from the
    record's outbox: the next one publishes it again, as the same message (same
    message_id, sequence and timestamp), and k8s-worker-tail shows it once."""
    tail = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "k8s_worker.cmd.tail",
        "--transport-url", transport_url, "--exchange", names.exchange,
        "--topic", names.notify, "--json", "--event", "vnf.instantiate.end",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=str(ROOT),
    )  # fmt: skip
    try:
        while b"tail.listening" not in await asyncio.wait_for(tail.stderr.readline(), 30):
            pass
        conductor = Conductor(transport_url, names)
        vnf_id = str(uuid.uuid4())
        vnf = {"id": vnf_id, "name": "again", "tenant_id": "tenant-1", "vnfd": one_vdu()}
        await conductor("instantiate_vnf", op_id="i-again", vnf=vnf | {"namespace": namespace})
        first = (await events.wait(vnf_id, "vnf.instantiate.end"))[0]

        # The crash window, recreated: the worker stopped, the event back in the outbox.
        assert await worker.stop() == 0
        custom = client.CustomObjectsApi(kube_api)
        plural = dict(group=VNF_GROUP, version=VNF_VERSION, plural="vnfs")
        obj = await custom.get_namespaced_custom_object(
            **plural, namespace=names.records, name=record_name(vnf_id)
        )
        obj["status"]["outbox"] = [
            {
                "sequence": first["payload"]["sequence"],
                "eventType": "vnf.instantiate.end",
                "priority": "INFO",
                "payload": first["payload"],
                "timestamp": first["timestamp"],
            }
        ]
        await custom.replace_namespaced_custom_object_status(
            **plural, namespace=names.records, name=record_name(vnf_id), body=obj
        )
        await worker.start()

        again = (await events.wait(vnf_id, "vnf.instantiate.end", count=2))[1]
        assert again["message_id"] == first["message_id"]
        assert again["timestamp"] == first["timestamp"]
        assert again["payload"] == first["payload"]
        await asyncio.sleep(1)  # the tail has had the repeat too
    finally:
        tail.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(tail.communicate(), 30)
    shown = [json.loads(line) for line in out.decode().splitlines()]
    assert [e["message_id"] for e in shown] == [first["message_id"]], err.decode()[-2000:]
    assert b'"repeats_skipped": 1' in err or b"repeats_skipped=1" in err, err.decode()[-2000:]
