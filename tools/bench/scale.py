"""Scale: 1,000 VNFs x 2 pods in one worker: memory, CPU under churn, lag (issue 10, mode 4).

What it answers: can one replica hold a thousand VNFs (target: resident
memory under 300 MiB), what a churn of pod deaths costs it in CPU, and how far
behind Kubernetes its vnf.respawn notifications fall while it churns.

- memory: VmRSS (and the peak, VmHWM) of the worker process from
  /proc/<pid>/status, at start (no VNF), after each batch of ``--batch``
  instantiations, and after the fleet has been idle for 10 s;
- CPU: utime + stime of the worker from /proc/<pid>/stat over 10 idle seconds
  (the fleet's background cost: lease renewals, watch bookmarks) and over the
  churn, from the first deletion until the last vnf.respawn was received;
- churn: ``--churn`` pods (one of each of as many VNFs) deleted at
  ``--churn-rate`` per second; lag = vnf.respawn received by the oslo
  listener - this process's raw watch seeing the pod deleted (p50/p99), and
  every deletion must be reported (lost ones are counted).

``--preload`` makes the fleet directly (one VNF instantiated, the others its
clones, see :mod:`tools.bench.preload`) for fleets of thousands, and
``--replicas 3`` runs three replicas sharing it (each one's memory is listed,
the figures are their sums).  The memory line says how much each VNF adds to
the replicas' resident memory and what one replica holding 10,000 VNFs would
use at that rate (issue 21's goal: 300 MiB), as a projection.

The worker runs with its defaults and watches only the run's namespace.  At
the end it is stopped (SIGTERM, by pid) and the VNF and record namespaces are
deleted (cascading to every object), which is much faster than 1,000
terminate_vnf casts; ``--vnfs`` runs a smaller fleet when time is short.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import signal
import time
import uuid
from typing import Any

from kubernetes_asyncio import client

from k8s_worker.record.store import SETTLE_SECONDS
from k8s_worker.tenancy import parse_quantity
from tools.bench import breakdown, plots, preload, profile, stats
from tools.bench.peer import Conductor, Events, vnfd
from tools.bench.podwatch import PodWatch, gone_how, is_ready
from tools.bench.probe import StatusProbe
from tools.bench.testbed import Run, WorkerProcess

REPLICAS = 2
QUEUE_DEPTH = "tacker_k8s_worker_reconcile_queue_depth"
IDLE_SECONDS = 10.0


class Fleet:
    """The run's replicas (``--replicas``), measured together: memory and CPU
    summed, /metrics scraped from each and added up; each one's memory apart."""

    def __init__(self, workers: list[WorkerProcess]) -> None:
        self.workers = workers

    @property
    def pid(self) -> int:  # the one a profiler attaches to
        return self.workers[0].pid

    def rss_mib(self) -> tuple[float, float]:
        pairs = [w.rss_mib() for w in self.workers]
        return sum(r for r, _ in pairs), sum(h for _, h in pairs)

    def each_rss(self) -> str:
        return ", ".join(f"{w.host} {w.rss_mib()[0]:.1f}" for w in self.workers) + " MiB"

    def cpu_seconds(self) -> float:
        return sum(w.cpu_seconds() for w in self.workers)

    async def queue_depth(self) -> float:
        return sum([await breakdown.gauge(w.http_port, QUEUE_DEPTH) for w in self.workers])

    async def scrape(self) -> breakdown.Snapshot:
        snaps = [await breakdown.scrape(w.http_port) for w in self.workers]
        total = snaps[0]
        for snap in snaps[1:]:
            total = total.plus(snap)
        return total


def _rss(worker: Fleet) -> str:
    rss, hwm = worker.rss_mib()
    return f"VmRSS {rss:6.1f} MiB (peak {hwm:6.1f})"


async def _instantiate(
    run: Run,
    conductor: Conductor,
    events: Events,
    worker: Fleet,
    *,
    vnfs: int,
    batch: int,
    memory: list[tuple[int, float]],
) -> list[str]:
    descriptor = vnfd(REPLICAS)
    ns = run.names.namespace
    vnf_ids: list[str] = []
    t0 = time.time()
    for start in range(0, vnfs, batch):
        ids = [str(uuid.uuid4()) for _ in range(min(batch, vnfs - start))]
        t = time.time()
        await asyncio.gather(
            *(conductor.instantiate(v, vnfd=descriptor, namespace=ns) for v in ids)
        )
        await asyncio.gather(*(events.wait(v, "vnf.instantiate.end", within=300) for v in ids))
        vnf_ids += ids
        memory.append((len(vnf_ids), worker.rss_mib()[0]))
        print(
            f"    {len(vnf_ids):5d} VNFs ACTIVE: batch {time.time() - t:5.1f} s,"
            f" {_rss(worker)}, load {stats.loadavg()}",
            flush=True,
        )
    print(f"    {vnfs} VNFs in {time.time() - t0:.0f} s")
    return vnf_ids


async def _traced_snapshot(worker: WorkerProcess, out: pathlib.Path) -> str:
    """Signal the traced replica (tools.bench.traced) and wait for its report."""
    before = await asyncio.to_thread(_mtime, out)
    os.kill(worker.pid, signal.SIGUSR2)
    async with asyncio.timeout(600):
        # Another process writes the file: nothing here to wait on but its mtime.
        while await asyncio.to_thread(_mtime, out) == before:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
    return await asyncio.to_thread(out.read_text)


def _mtime(path: pathlib.Path) -> int:
    return path.stat().st_mtime_ns if path.exists() else 0


async def _free_pods(core: client.CoreV1Api) -> int:
    """Pods the cluster's Ready nodes still have room for."""
    nodes = json.loads(await (await core.list_node(_preload_content=False)).read())["items"]
    room = sum(
        int(parse_quantity(n["status"].get("allocatable", {}).get("pods", 0)))  # e.g. "2k"
        for n in nodes
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in n["status"].get("conditions") or []
        )
    )
    pods = json.loads(
        await (await core.list_pod_for_all_namespaces(_preload_content=False)).read()
    )["items"]
    return room - len(pods)


async def _fleet_settled(watch: PodWatch, worker: Fleet, *, pods: int) -> None:
    """Until every pod of the preloaded fleet is Ready and the worker has
    looked at every VNF (its reconcile queue empty), with progress lines."""
    t0 = time.monotonic()
    last = 0.0
    while True:
        ready = sum(1 for p in watch.pods.values() if is_ready(p))
        depth = await worker.queue_depth()
        if ready >= pods and depth == 0:
            break
        if time.monotonic() - last >= 15:
            last = time.monotonic()
            print(
                f"    {time.monotonic() - t0:5.0f} s: {ready}/{pods} pods Ready, reconcile queue"
                f" {depth:.0f}, {_rss(worker)}, load {stats.loadavg()}",
                flush=True,
            )
        await asyncio.sleep(1.0)
    print(f"    fleet ready and reconciled in {time.monotonic() - t0:.0f} s", flush=True)


async def _churn(
    core: client.CoreV1Api,
    watch: PodWatch,
    events: Events,
    worker: Fleet,
    *,
    namespace: str,
    vnf_ids: list[str],
    count: int,
    rate: float,
    probe: StatusProbe | None = None,
) -> dict[str, Any]:
    victims: list[tuple[str, str]] = []
    for vnf_id in vnf_ids[:count]:
        ready = sorted(
            p["metadata"]["name"] for p in watch.of_vnf(vnf_id) if is_ready(p) and not gone_how(p)
        )
        if ready:
            victims.append((vnf_id, ready[0]))
    acted: dict[str, float] = {}
    before = await worker.scrape()
    if probe is not None:
        await probe.start()
    cpu0, t0 = worker.cpu_seconds(), time.time()

    async def kill(i: int, pod: str) -> None:
        await asyncio.sleep(max(0.0, t0 + i / rate - time.time()))
        acted[pod] = time.time()
        await core.delete_namespaced_pod(pod, namespace, grace_period_seconds=0)

    await asyncio.gather(*(kill(i, pod) for i, (_, pod) in enumerate(victims)))
    deadline = time.time() + 120
    received: dict[str, float] = {}
    replacement: dict[str, str] = {}  # old pod -> the new pod its respawn names
    while time.time() < deadline:
        for vnf_id, pod in victims:
            if pod not in received:
                for event in events.of(vnf_id, "vnf.respawn"):
                    if event["payload"].get("old_pod") == pod:
                        received[pod] = event["received"]
                        replacement[pod] = str(event["payload"].get("new_pod") or "")
        if len(received) == len(victims):
            break
        await asyncio.sleep(0.2)
    t1 = max(received.values(), default=time.time())
    cpu = worker.cpu_seconds() - cpu0
    if probe is not None:
        await probe.stop()
    # The writes that follow the last publishes: the settles included.
    await asyncio.sleep(SETTLE_SECONDS + 2.0)
    window = (await worker.scrape()).minus(before)
    fresh = {p: watch.times[n].seen for p, n in replacement.items() if n in watch.times}
    lags = [received[p] - watch.times[p].gone for _, p in victims if p in received]  # type: ignore[operator]
    timeline = [
        (
            acted[p] - t0,
            received[p] - watch.times[p].gone,  # type: ignore[operator]
            fresh[p] - watch.times[p].gone if p in fresh else None,  # type: ignore[operator]
        )
        for _, p in victims
        if p in received
    ]
    return {
        "deleted": len(victims),
        "reported": len(received),
        "seconds": t1 - t0,
        "cpu": cpu,
        "lag": lags,
        "e2e": [received[p] - acted[p] for _, p in victims if p in received],
        # Kubernetes' share: the pod gone -> its replacement exists (ReplicaSet
        # controller, API server), and the worker's: replacement seen -> respawn.
        "k8s": [fresh[p] - watch.times[p].gone for _, p in victims if p in fresh],  # type: ignore[operator]
        "ours": [received[p] - fresh[p] for _, p in victims if p in fresh],
        "window": window,
        "timeline": timeline,
    }


async def measure(
    *,
    vnfs: int,
    batch: int,
    churn: int,
    churn_rate: float,
    profile_to: pathlib.Path | None,
    replicas: int = 1,
    preload_fleet: bool = False,
    trace_memory: bool = False,
    plot_dir: pathlib.Path | None = None,
) -> None:
    run = Run("scale")
    events: Events | None = None
    watch: PodWatch | None = None
    added_nodes: list[str] = []
    try:
        api = await run.open()
        core = client.CoreV1Api(api)
        hosts = ["bench-sc"] if replicas == 1 else [f"bench-sc{i}" for i in range(replicas)]
        trace = run.workdir / "tracemalloc.txt"

        async def start(i: int, host: str) -> WorkerProcess:
            if trace_memory and i == 0:  # the first replica, traced
                env = {"TKW_TRACE_OUT": str(trace)}
                return await run.start_worker(host, module="tools.bench.traced", env=env)
            return await run.start_worker(host)

        worker = Fleet(list(await asyncio.gather(*(start(i, h) for i, h in enumerate(hosts)))))
        if trace_memory and not preload_fleet:
            await _traced_snapshot(worker.workers[0], trace)  # the baseline
        start_rss, _ = worker.rss_mib()
        memory: list[tuple[int, float]] = [(0, start_rss)]
        print(
            f"  {replicas} replica(s) ready: {_rss(worker)} ({worker.each_rss()});"
            f" load {stats.loadavg()}"
        )
        events = Events(run.transport_url, run.names)
        conductor = Conductor(run.transport_url, run.names)
        watch = PodWatch(api, run.names.namespace)
        await watch.start()
        if preload_fleet:
            vnf_ids = await _instantiate(
                run, conductor, events, worker, vnfs=1, batch=1, memory=memory
            )
            added_nodes = await preload.add_nodes(
                api, pods=REPLICAS * vnfs, existing_capacity=await _free_pods(core)
            )
            while len(vnf_ids) < vnfs:  # in steps of --batch, memory after each
                vnf_ids += await preload.clone_fleet(
                    api,
                    template_id=vnf_ids[0],
                    records_namespace=run.names.records,
                    namespace=run.names.namespace,
                    count=min(batch, vnfs - len(vnf_ids)),
                )
                await _fleet_settled(watch, worker, pods=REPLICAS * len(vnf_ids))
                memory.append((len(vnf_ids), worker.rss_mib()[0]))
                print(f"    {len(vnf_ids):5d} VNFs held: {_rss(worker)}", flush=True)
                if trace_memory and len(memory) == 3:  # start, template, first step
                    # The baseline after the first step: the report is then what
                    # the later VNFs added, not the fixed costs of the first.
                    await _traced_snapshot(worker.workers[0], trace)
        else:
            vnf_ids = await _instantiate(
                run, conductor, events, worker, vnfs=vnfs, batch=batch, memory=memory
            )
        cpu0 = worker.cpu_seconds()
        await asyncio.sleep(IDLE_SECONDS)
        idle_cpu = worker.cpu_seconds() - cpu0
        rss, hwm = worker.rss_mib()
        memory.append((vnfs, rss))
        print(
            f"  {vnfs} VNFs x {REPLICAS} pods ({len(watch.pods)} pods), idle {IDLE_SECONDS:.0f} s:"
        )
        print(f"    memory: VmRSS {rss:.1f} MiB, peak VmHWM {hwm:.1f} MiB ({worker.each_rss()})")
        per_vnf = (rss - start_rss) * 1024 / vnfs  # KiB, all replicas together
        # The slope between the first step and the end: fixed costs that grow
        # with the first VNFs (connection buffers, code paths warmed) left out.
        steps = [(n, m) for n, m in memory if n >= min(batch, vnfs) and n < vnfs]
        marginal = (rss - steps[0][1]) * 1024 / (vnfs - steps[0][0]) if steps else per_vnf
        if vnfs >= 10_000 and replicas == 1:
            projected, how = rss, "measured"
        else:
            projected = (rss + marginal * (10_000 - vnfs) / 1024) / replicas
            how = "projected from this run's slope, not measured at 10,000"
        verdict = "met" if projected <= 300 else "NOT met"
        print(
            f"    {per_vnf:.1f} KiB per VNF over the idle worker(s)"
            + (f", {marginal:.1f} KiB per VNF from {steps[0][0]} VNFs on" if steps else "")
            + f"; one replica holding 10,000 VNFs: {projected:.0f} MiB ({how};"
            f" goal <= 300 MiB): {verdict}"
        )
        print(
            f"    idle CPU: {idle_cpu:.2f} s in {IDLE_SECONDS:.0f} s"
            f" ({100 * idle_cpu / IDLE_SECONDS:.1f}% of a core); load {stats.loadavg()}"
        )
        if trace_memory:
            since = f"the first {batch} VNFs" if preload_fleet else "it started"
            print(f"  tracemalloc, {worker.workers[0].host}, growth since {since} (traced):")
            report = await _traced_snapshot(worker.workers[0], trace)
            print("    " + report.rstrip().replace("\n", "\n    "), flush=True)
        probe = StatusProbe(
            api,
            records_namespace=run.names.records,
            namespace=run.names.namespace,
            vnf_id=vnf_ids[-1],
        )
        sampler = profile.Attached(worker.pid, profile_to) if profile_to else None
        async with sampler or contextlib.nullcontext():
            result = await _churn(
                core,
                watch,
                events,
                worker,
                namespace=run.names.namespace,
                vnf_ids=vnf_ids,
                count=churn,
                rate=churn_rate,
                probe=probe,
            )
        n, secs, cpu = result["deleted"], result["seconds"], result["cpu"]
        print(f"  churn: {n} pods deleted at {churn_rate:.0f}/s, reported {result['reported']}:")
        print(
            f"    CPU {cpu:.2f} s over {secs:.1f} s ({100 * cpu / secs:.0f}% of a core),"
            f" {1000 * cpu / max(n, 1):.1f} ms per respawn"
        )
        print(
            f"    lag vnf.respawn - raw watch sees the pod deleted: {stats.summary(result['lag'])}"
        )
        print(
            f"    deletion request -> vnf.respawn received:        {stats.summary(result['e2e'])}"
        )
        print(
            f"      split: pod gone -> replacement seen (k8s):     {stats.summary(result['k8s'])}"
        )
        print(
            f"      split: replacement seen -> vnf.respawn (ours): {stats.summary(result['ours'])}"
        )
        print(f"    lost: {n - result['reported']}; {_rss(worker)}; load {stats.loadavg()}")
        breakdown.report(result["window"], per=n, unit="respawn")
        print(
            "    bare client, same window (one record status PUT at a time, the worker's"
            f" body): {stats.summary(probe.latencies)}"
        )
        lag = result["lag"]
        if lag:
            p99 = stats.percentile(lag, 99)
            limit = 0.100 if churn_rate <= 25 else 0.250
            verdict = "met" if p99 <= limit else "NOT met"
            print(
                f"    goal: vnf.respawn lag p99 {1000 * p99:.0f} ms <= {1000 * limit:.0f} ms"
                f" at {churn_rate:.0f}/s: {verdict}"
            )
        if plot_dir is not None:
            what = f"{vnfs} VNFs x {REPLICAS} pods, {replicas} replica(s)\n{stats.machine()}"
            await asyncio.to_thread(
                _plot,
                plot_dir,
                memory=memory,
                timeline=result["timeline"],
                memory_title=f"scale: memory, {what}",
                churn_title=f"scale: respawn lag, {n} deletions at {churn_rate:.0f}/s, {what}",
            )
    finally:
        if watch is not None:
            await watch.stop()
        if events is not None:
            events.stop()
        if added_nodes and run.api is not None:
            await preload.remove_nodes(run.api, added_nodes)
        await run.cleanup()
    if profile_to is not None:
        profile.report(profile_to)


def _plot(
    out_dir: pathlib.Path,
    *,
    memory: list[tuple[int, float]],
    timeline: list[tuple[float, float, float | None]],
    memory_title: str,
    churn_title: str,
) -> None:
    if not plots.available():
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"  plot: {plots.memory(memory, out_dir=out_dir, title=memory_title)}")
    print(f"  plot: {plots.churn(timeline, out_dir=out_dir, title=churn_title)}")


def main(args: Any) -> int:
    print(f"scale: {stats.machine()}")
    print(
        f"  {args.vnfs} VNFs x {REPLICAS} pods in batches of {args.batch}; churn {args.churn}"
        f" deletions at {args.churn_rate}/s; load {stats.loadavg()}"
    )
    out = None
    if args.profile:
        out = pathlib.Path("/tmp") / f"bench-scale-{uuid.uuid4().hex[:6]}.pyspy.txt"
    asyncio.run(
        measure(
            vnfs=args.vnfs,
            batch=args.batch,
            churn=args.churn,
            churn_rate=args.churn_rate,
            profile_to=out,
            replicas=args.replicas,
            preload_fleet=args.preload,
            trace_memory=args.trace_memory,
            plot_dir=args.plot,
        )
    )
    return 0
