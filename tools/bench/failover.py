"""Failover: SIGKILL one of 3 replicas, time until its VNFs are served elsewhere (issue 10, mode 5).

What it answers: when a replica dies without a word, how long until every VNF
it owned has a new owner that acts on it, and whether an event that happens in
the gap is lost.  ``--replicas`` workers (the worker's lease defaults:
``[cluster] lease_duration`` 10 s, ``renew_interval`` 2.5 s) manage ``--vnfs``
VNFs of 2 pods; the benchmark reads each VNF's owner from its Vnf record
(``status.owner``), SIGKILLs the replica owning the most, and right after the
kill deletes one pod of *each* of that replica's VNFs.  Per VNF it records:

- owner moved: the first time (polling the records every 100 ms) its
  ``status.owner`` names a live replica;
- respawn: the vnf.respawn for the deleted pod received by an oslo listener;
- failover = max(owner moved, respawn) - kill; the target is under 15 s for
  every VNF, with no respawn missing and no gap in any VNF's sequence numbers.

The floor is the dead replica's lease: its last renewTime plus its duration,
read from the Lease right after the kill; a hand-over cannot start earlier.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import json
import time
import uuid
from typing import Any

from kubernetes_asyncio import client

from k8s_worker.fleet.membership import lease_name
from tools.bench import stats
from tools.bench.peer import Conductor, Events, vnfd
from tools.bench.podwatch import PodWatch, gone_how, is_ready
from tools.bench.testbed import Run

REPLICAS = 2
GROUP, VERSION, PLURAL = "tacker.openstack.org", "v1alpha1", "vnfs"


def _ts(value: str) -> float:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def owners(api: client.ApiClient, namespace: str) -> dict[str, str | None]:
    custom = client.CustomObjectsApi(api)
    resp = await custom.list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, _preload_content=False
    )
    items = json.loads(await resp.read())["items"]
    return {o["metadata"]["name"]: (o.get("status") or {}).get("owner") for o in items}


async def one_round(*, vnfs: int, replicas: int) -> dict[str, Any]:
    run = Run("failover")
    events: Events | None = None
    watch: PodWatch | None = None
    out: dict[str, Any] = {"load_before": stats.loadavg()}
    try:
        api = await run.open()
        core = client.CoreV1Api(api)
        hosts = [f"fo-{i + 1}" for i in range(replicas)]
        await asyncio.gather(*(run.start_worker(h) for h in hosts))
        events = Events(run.transport_url, run.names)
        conductor = Conductor(run.transport_url, run.names)
        watch = PodWatch(api, run.names.namespace)
        await watch.start()
        ns, records = run.names.namespace, run.names.records
        vnf_ids = [str(uuid.uuid4()) for _ in range(vnfs)]
        descriptor = vnfd(REPLICAS)
        await asyncio.gather(
            *(conductor.instantiate(v, vnfd=descriptor, namespace=ns) for v in vnf_ids)
        )
        await asyncio.gather(*(events.wait(v, "vnf.instantiate.end", within=300) for v in vnf_ids))
        await asyncio.sleep(3)
        before = await owners(api, records)
        share = collections.Counter(before[v] for v in vnf_ids)
        out["share"] = dict(share)
        victim = share.most_common(1)[0][0]
        mine = [v for v in vnf_ids if before[v] == victim]
        pods = {}
        for v in mine:
            ready = sorted(
                p["metadata"]["name"] for p in watch.of_vnf(v) if is_ready(p) and not gone_how(p)
            )
            pods[v] = ready[0]
        moved: dict[str, tuple[float, str]] = {}
        stop = asyncio.Event()

        async def follow() -> None:
            while not stop.is_set():
                now = time.time()
                for v, owner in (await owners(api, records)).items():
                    if v in pods and v not in moved and owner not in (None, victim):
                        moved[v] = (now, owner)
                await asyncio.sleep(0.1)

        follower = asyncio.create_task(follow())
        t_kill = time.time()
        await run.workers[victim].kill()
        await asyncio.gather(
            *(core.delete_namespaced_pod(p, ns, grace_period_seconds=0) for p in pods.values())
        )
        t_deleted = time.time()
        lease = await client.CoordinationV1Api(api).read_namespaced_lease(
            lease_name(victim), records
        )
        expiry = lease.spec.renew_time.timestamp() + lease.spec.lease_duration_seconds
        respawned: dict[str, float] = {}
        deadline = t_kill + 60
        while time.time() < deadline and (len(moved) < len(pods) or len(respawned) < len(pods)):
            for v, pod in pods.items():
                if v not in respawned:
                    for event in events.of(v, "vnf.respawn"):
                        if event["payload"].get("old_pod") == pod:
                            respawned[v] = event["received"]
            await asyncio.sleep(0.1)
        stop.set()
        await follower
        await asyncio.sleep(2)  # anything published late (duplicates) arrives too
        gaps = 0
        for v in vnf_ids:
            seqs = sorted({e["payload"]["sequence"] for e in events.all_of(v)})
            gaps += seqs != list(range(1, len(seqs) + 1))
        out.update(
            victim=victim,
            vnfs_moved=len(pods),
            kill_to_deleted=t_deleted - t_kill,
            lease_floor=expiry - t_kill,
            moved=[t - t_kill for t, _ in moved.values()],
            respawn=[t - t_kill for t in respawned.values()],
            failover=[
                max(moved[v][0], respawned[v]) - t_kill
                for v in pods
                if v in moved and v in respawned
            ],
            new_owners=dict(collections.Counter(o for _, o in moved.values())),
            missing_owner=len(pods) - len(moved),
            missing_respawn=len(pods) - len(respawned),
            gaps=gaps,
            load_after=stats.loadavg(),
        )
        return out
    finally:
        if watch is not None:
            await watch.stop()
        if events is not None:
            events.stop()
        await run.cleanup()


def report(r: dict[str, Any], *, replicas: int, vnfs: int) -> None:
    def line(label: str, values: list[float]) -> None:
        print(f"    {label:40s} {stats.summary(values, unit='s', scale=1)}")

    print(
        f"  {replicas} replicas, {vnfs} VNFs x {REPLICAS} pods, shares {r['share']};"
        f" killed {r['victim']} (SIGKILL) with {r['vnfs_moved']} VNFs;"
        f" one pod of each deleted within {r['kill_to_deleted']:.2f} s of the kill"
    )
    print(f"    floor: the dead lease expires {r['lease_floor']:.2f} s after the kill")
    line("kill -> status.owner moved", r["moved"])
    line("kill -> vnf.respawn of the deleted pod", r["respawn"])
    line("failover: kill -> both, per VNF", r["failover"])
    worst = max(r["failover"], default=float("inf"))
    lost = r["missing_owner"] + r["missing_respawn"] + r["gaps"]
    verdict = "met" if worst < 15 and not lost else "NOT met"
    print(
        f"    new owners {r['new_owners']}; not moved {r['missing_owner']},"
        f" respawns missing {r['missing_respawn']}, VNFs with a sequence gap {r['gaps']}"
    )
    print(f"    target: every VNF within 15 s, no event lost: {worst:.2f} s, {verdict}")
    print(f"    load {r['load_before']} -> {r['load_after']}")


def main(args: Any) -> int:
    print(f"failover: {stats.machine()}")
    for i in range(args.rounds):
        print(f"  round {i + 1}:")
        result = asyncio.run(one_round(vnfs=args.vnfs, replicas=args.replicas))
        report(result, replicas=args.replicas, vnfs=args.vnfs)
    return 0
