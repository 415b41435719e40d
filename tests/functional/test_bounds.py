"""Hostile and oversized input through the RPC, as a conductor would send it:
each is refused with a clear error, and the replica stays small and responsive."""

from __future__ import annotations

import asyncio
import json
import pathlib
import uuid
from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client

from k8s_worker.kube.kinds import VNF_GROUP, VNF_VERSION
from k8s_worker.record.model import record_name
from rpc.exceptions import VnfNotFound
from tests.functional.harness import Conductor, Names, WorkerProcess, write_config
from tests.vnfds import one_vdu

PENDING_MAX = 5


def _laughs(indent: str) -> str:
    lines = [f'{indent}l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        lines.append(f"{indent}l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


BOMBS = {
    "tacker": "tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0\nmetadata:\n"
    + _laughs("  "),
    "sol001": "tosca_definitions_version: tosca_simple_yaml_1_2\ntopology_template:\n"
    "  inputs:\n" + _laughs("    "),
}


@pytest.fixture(scope="module")
async def worker(
    transport_url: str, kubeconfig: str, names: Names, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("bounds")
    config = write_config(
        tmp / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="bounds-1",
        extra=f"[limits]\nmax_pending_operations = {PENDING_MAX}\n",
    )
    proc = WorkerProcess(config, log=tmp / "worker.log")
    await proc.start()
    yield proc
    assert await proc.stop() == 0


@pytest.fixture(scope="module")
def conductor(transport_url: str, names: Names, worker: WorkerProcess) -> Conductor:
    return Conductor(transport_url, names)


def _vnf(vnfd: str, namespace: str | None = None) -> dict:
    vnf = {"id": str(uuid.uuid4()), "name": "bounds", "tenant_id": "tenant-1", "vnfd": vnfd}
    return vnf | ({"namespace": namespace} if namespace else {})


def _resident_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants (KiB, proportional)."""
    total = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        proc = pathlib.Path(f"/proc/{current}")
        try:
            for line in (proc / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
            for task in (proc / "task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


async def test_a_vnfd_over_the_size_limit_is_refused_at_the_intake(conductor, events):
    vnf = _vnf(one_vdu() + "#" * (2 << 20))  # 2 MiB
    await conductor("instantiate_vnf", vnf=vnf, op_id="big")
    (err,) = await events.wait(vnf["id"], "vnf.instantiate.error", op_id="big")
    assert err["payload"]["error"]["type"] == "InvalidArguments"
    assert "over the limit" in err["payload"]["error"]["message"]
    with pytest.raises(VnfNotFound):  # nothing was stored
        await conductor("get_vnf", vnf_id=vnf["id"])


@pytest.mark.parametrize("form", sorted(BOMBS))
async def test_an_alias_bomb_costs_the_replica_nothing(form, conductor, events, worker):
    vnf = _vnf(BOMBS[form])
    await conductor("instantiate_vnf", vnf=vnf, op_id="bomb")
    (err,) = await events.wait(vnf["id"], "vnf.instantiate.error", op_id="bomb", within=60)
    message = err["payload"]["error"]["message"]
    assert err["payload"]["error"]["type"] == "InvalidVnfd"
    assert (len(message) < 4096 and "alias" in message) or "expands" in message, message
    # Still small, and still answering (its lease held: it serves the call).
    assert _resident_kib(worker.pid) < 300 * 1024
    assert await asyncio.wait_for(conductor("ping"), 10) == "pong"
    info = await conductor("get_vnf", vnf_id=vnf["id"])
    assert info["status"] == "ERROR"
    await conductor("terminate_vnf", vnf_id=vnf["id"], op_id="bomb-t")
    await events.wait(vnf["id"], "vnf.terminate.end", op_id="bomb-t")


async def test_a_backlog_of_casts_for_one_vnf_keeps_its_record_small(
    conductor, events, kube_api, names, namespace
):
    # Scales take a while each (a pod starts or stops), so the casts pile up past the cap.
    vnf = _vnf(one_vdu(max_instances=3), namespace)
    vnf_id = vnf["id"]
    await conductor("instantiate_vnf", vnf=vnf, op_id="p-i")
    await events.wait(vnf_id, "vnf.instantiate.end", op_id="p-i", within=60)
    started = asyncio.get_running_loop().time()
    # A thousand casts at once: most are refused past the cap (one read each);
    # those journaled are JSON patches that the owner's status writes do not
    # make conflict (they took about 0.5 s each by compare-and-swap).
    ops = [f"s-{i}" for i in range(1000)]
    sem = asyncio.Semaphore(50)

    async def cast(op_id: str) -> None:
        # Out and in by turns: each journaled scale starts or stops a pod, so
        # the scales take a while (a backlog builds) but the pods stay few.
        kind = "out" if int(op_id.removeprefix("s-")) % 2 == 0 else "in"
        async with sem:
            await conductor("scale_vnf", vnf_id=vnf_id, op_id=op_id, policy="SP1", type=kind)

    await asyncio.gather(*(cast(op) for op in ops))
    # Each cast has its outcome: journaled (then run), or refused past the cap.
    await events.wait(vnf_id, "vnf.scale.error", within=60)
    # Journaled scales run (a pod each) while the rest are answered: the faster
    # they run, the more casts find room under the cap and are journaled rather
    # than refused, so the whole takes longer on a fast worker (about 50 s here,
    # three times that on a loaded machine).
    deadline = asyncio.get_running_loop().time() + 300
    while True:
        outcomes = {
            e["payload"].get("op_id")
            for e in events.of(vnf_id)
            if e["event_type"] in ("vnf.scale.start", "vnf.scale.error")
        }
        if outcomes >= set(ops) or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.5)
    assert outcomes >= set(ops), len(set(ops) - outcomes)
    print(f"{len(ops)} casts answered in {asyncio.get_running_loop().time() - started:.1f}s")
    refused = [
        e["payload"]
        for e in events.of(vnf_id, "vnf.scale.error")
        if e["payload"]["error"]["type"] == "BadRequest"
    ]
    assert refused and all("max_pending_operations = 5" in r["error"]["message"] for r in refused)
    custom = client.CustomObjectsApi(kube_api)
    raw = await custom.get_namespaced_custom_object(
        VNF_GROUP, VNF_VERSION, names.records, "vnfs", record_name(vnf_id)
    )
    assert len(json.dumps(raw)) < 256 * 1024
    await conductor("terminate_vnf", vnf_id=vnf_id, op_id="p-t")
    await events.wait(vnf_id, "vnf.terminate.end", op_id="p-t", within=120)


async def test_replicas_changed_behind_the_owners_back_are_restored(
    conductor, events, kube_api, namespace
):
    """A stale owner's late scale (or a hand-made one) is undone by the owner's
    next idle pass: the record is the desired state."""
    vnf = _vnf(one_vdu(default_instances=2), namespace)
    await conductor("instantiate_vnf", vnf=vnf, op_id="r-i")
    await events.wait(vnf["id"], "vnf.instantiate.end", op_id="r-i", within=60)
    apps = client.AppsV1Api(kube_api)
    (dep,) = (
        await apps.list_namespaced_deployment(
            namespace, label_selector=f"tacker.openstack.org/vnf-id={vnf['id']}"
        )
    ).items
    await apps.patch_namespaced_deployment_scale(
        dep.metadata.name, namespace, {"spec": {"replicas": 1}}
    )
    for _ in range(60):
        await asyncio.sleep(0.5)
        current = await apps.read_namespaced_deployment(dep.metadata.name, namespace)
        if current.spec.replicas == 2:
            break
    assert current.spec.replicas == 2
    await conductor("terminate_vnf", vnf_id=vnf["id"], op_id="r-t")
    await events.wait(vnf["id"], "vnf.terminate.end", op_id="r-t", within=60)


async def test_late_duplicates_of_a_terminated_vnf_are_answered_not_rerun(
    conductor, events, namespace
):
    vnf = _vnf(one_vdu(), namespace)
    vnf_id = vnf["id"]
    await conductor("instantiate_vnf", vnf=vnf, op_id="late-i")
    await events.wait(vnf_id, "vnf.instantiate.end", op_id="late-i", within=60)
    await conductor("terminate_vnf", vnf_id=vnf_id, op_id="late-t")
    await events.wait(vnf_id, "vnf.terminate.end", op_id="late-t", within=60)
    for _ in range(40):  # the record goes right after the .end
        try:
            await conductor("get_vnf", vnf_id=vnf_id)
        except VnfNotFound:
            break
        await asyncio.sleep(0.25)
    # The conductor (or the broker) delivers both casts again, late.
    await conductor("instantiate_vnf", vnf=vnf, op_id="late-i")
    await conductor("terminate_vnf", vnf_id=vnf_id, op_id="late-t")
    await conductor("ping")  # the casts before it were taken
    await asyncio.sleep(3)
    with pytest.raises(VnfNotFound):  # not brought back
        await conductor("get_vnf", vnf_id=vnf_id)
    assert len(events.of(vnf_id, "vnf.instantiate.start")) == 1
    assert events.of(vnf_id, "vnf.terminate.error") == []  # no spurious error
    # A new operation on it is still refused as it should be.
    await conductor("scale_vnf", vnf_id=vnf_id, op_id="late-s", policy="SP1", type="out")
    (err,) = await events.wait(vnf_id, "vnf.scale.error", op_id="late-s")
    assert err["payload"]["error"]["type"] == "VnfNotFound"
