"""Lifecycle: M VNFs instantiated at once, cast -> vnf.instantiate.end (issue 10, mode 2).

What it answers: how long Tacker's conductor waits for ACTIVE when it casts M
instantiate_vnf at once (M = 10 and 100 by default), and how that compares
with (a) the time Kubernetes itself needs to make the pods ready and (b) the
polling that Tacker's own Kubernetes driver did.  All three are measured in
the same run, on the same VNFs:

- ours: cast (time.time() just before the oslo RPCClient's cast) ->
  ``vnf.instantiate.end`` received by an oslo notification listener;
- Kubernetes, from the pods' own conditions: the VNF's first pod
  creationTimestamp -> the last pod's Ready lastTransitionTime (the API
  server's timestamps have a resolution of one second), and, with
  sub-millisecond resolution, cast -> the last pod seen Ready by a raw watch
  in this process (the earliest moment any watcher could know);
- polling baseline: one task per VNF started with the cast that, like
  Tacker's driver's ``create_wait``, sleeps 5 s, lists the VNF's pods,
  and repeats until every pod is Running and Ready.

Each round starts one fresh worker (the worker's defaults; it watches only the
round's namespace), and removes everything afterwards; sizes are rotated over
``--rounds`` rounds.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import pathlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio import client

from k8s_worker.tosca import LABEL_VNF_ID
from tools.bench import breakdown, plots, profile, stats
from tools.bench.peer import Conductor, Events, vnfd
from tools.bench.podwatch import PodWatch, is_ready
from tools.bench.probe import StatusProbe
from tools.bench.testbed import Run

REPLICAS = 2
POLL_SECONDS = 5.0


@dataclass
class Round:
    m: int
    events: bool = True  # [kubernetes] record_events of the round's worker
    load_before: str = ""
    load_after: str = ""
    ours: list[float] = field(default_factory=list)
    k8s_conditions: list[float] = field(default_factory=list)
    k8s_watch: list[float] = field(default_factory=list)
    first_pod: list[float] = field(default_factory=list)
    pods_ready: list[float] = field(default_factory=list)
    deployment_lag: list[float] = field(default_factory=list)  # last pod Ready -> Deployment ready
    after_deployment: list[float] = field(default_factory=list)  # Deployment ready -> .end
    after_ready: list[float] = field(default_factory=list)
    poller: list[float] = field(default_factory=list)
    ours_rate: float = 0.0
    poller_rate: float = 0.0
    k8s_rate: float = 0.0
    window: breakdown.Snapshot | None = None  # the worker's stages over the round
    probe: list[float] = field(default_factory=list)  # a bare client's status PUTs, same window


def _ts(value: str) -> float:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def _poll_like_tacker(core: client.CoreV1Api, namespace: str, vnf_id: str) -> float:
    """Tacker's create_wait: every 5 s list the VNF's pods; when all are ready, done."""
    while True:
        await asyncio.sleep(POLL_SECONDS)
        resp = await core.list_namespaced_pod(
            namespace, label_selector=f"{LABEL_VNF_ID}={vnf_id}", _preload_content=False
        )
        pods = json.loads(await resp.read())["items"]
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        if len(live) >= REPLICAS and all(is_ready(p) for p in live):
            return time.time()


async def one_round(
    m: int, *, within: float, profile_to: pathlib.Path | None = None, events_on: bool = True
) -> Round:
    result = Round(m, events=events_on, load_before=stats.loadavg())
    run = Run("lifecycle")
    events: Events | None = None
    watch: PodWatch | None = None
    deps: PodWatch | None = None
    try:
        api = await run.open()
        core = client.CoreV1Api(api)
        wrap = profile.pyspy_wrap(profile_to) if profile_to else None
        extra = "" if events_on else "[kubernetes]\nrecord_events = false\n"
        worker = await run.start_worker("bench-lc", extra, wrap=wrap)
        events = Events(run.transport_url, run.names)
        conductor = Conductor(run.transport_url, run.names)
        watch = PodWatch(api, run.names.namespace)
        await watch.start()
        deps = PodWatch(api, run.names.namespace, deployments=True)
        await deps.start()
        descriptor = vnfd(REPLICAS)
        vnf_ids = [str(uuid.uuid4()) for _ in range(m)]
        pollers: dict[str, asyncio.Task[float]] = {}
        before = await breakdown.scrape(worker.http_port)

        async def cast(vnf_id: str) -> float:
            pollers[vnf_id] = asyncio.create_task(
                _poll_like_tacker(core, run.names.namespace, vnf_id)
            )
            return await conductor.instantiate(
                vnf_id, vnfd=descriptor, namespace=run.names.namespace
            )

        sent = dict(zip(vnf_ids, await asyncio.gather(*map(cast, vnf_ids)), strict=True))
        # The baseline of the worker's record writes: a bare client writing a
        # copy of the first VNF's record (once the intake made it) meanwhile.
        probe = StatusProbe(
            api,
            records_namespace=run.names.records,
            namespace=run.names.namespace,
            vnf_id=vnf_ids[0],
        )
        await probe.start()
        try:
            ends = await asyncio.gather(
                *(events.wait(v, "vnf.instantiate.end", within=within) for v in vnf_ids)
            )
        finally:
            await probe.stop()
        result.probe = probe.latencies
        polled = await asyncio.wait_for(asyncio.gather(*pollers.values()), POLL_SECONDS * 3)
        # After the pollers (a few seconds): the writes that follow a publish are in.
        result.window = (await breakdown.scrape(worker.http_port)).minus(before)
        result.load_after = stats.loadavg()
        resp = await core.list_namespaced_pod(
            run.names.namespace, label_selector=LABEL_VNF_ID, _preload_content=False
        )
        pods = json.loads(await resp.read())["items"]
        first = min(sent.values())
        for vnf_id, end, poll_done in zip(vnf_ids, ends, polled, strict=True):
            t0 = sent[vnf_id]
            mine = [p for p in pods if p["metadata"]["labels"].get(LABEL_VNF_ID) == vnf_id]
            created = min(_ts(p["metadata"]["creationTimestamp"]) for p in mine)
            ready_at = max(
                _ts(c["lastTransitionTime"])
                for p in mine
                for c in p["status"]["conditions"]
                if c["type"] == "Ready"
            )
            seen_ready = max(watch.times[p["metadata"]["name"]].ready or 0.0 for p in mine)
            seen_first = min(watch.times[p["metadata"]["name"]].seen for p in mine)
            result.first_pod.append(seen_first - t0)
            result.pods_ready.append(seen_ready - seen_first)
            result.ours.append(end["received"] - t0)
            result.k8s_conditions.append(ready_at - created)
            result.k8s_watch.append(seen_ready - t0)
            result.after_ready.append(end["received"] - seen_ready)
            ready_deps = [t.ready for t in deps.times.values() if t.vnf_id == vnf_id and t.ready]
            if ready_deps:
                result.deployment_lag.append(max(ready_deps) - seen_ready)
                result.after_deployment.append(end["received"] - max(ready_deps))
            result.poller.append(poll_done - t0)
        span = max(e["received"] for e in ends) - first
        result.ours_rate = 60 * m / span
        result.poller_rate = 60 * m / (max(polled) - first)
        last_ready = max(t.ready or 0.0 for t in watch.times.values())
        result.k8s_rate = 60 * m / (last_ready - first)
        return result
    finally:
        for w in (watch, deps):
            if w is not None:
                await w.stop()
        if events is not None:
            events.stop()
        await run.cleanup()


def report(rounds: list[Round]) -> None:
    for m, events_on in sorted({(r.m, r.events) for r in rounds}):
        mine = [r for r in rounds if r.m == m and r.events == events_on]

        def line(label: str, attr: str, unit: str = "s", mine: list[Round] = mine) -> None:
            values = [x for r in mine for x in getattr(r, attr)]
            scale = 1.0 if unit == "s" else 1000.0
            print(f"    {label:44s} {stats.summary(values, unit=unit, scale=scale)}")

        def rate(label: str, attr: str, mine: list[Round] = mine) -> None:
            print(f"    {label:44s} {', '.join(f'{getattr(r, attr):.0f}' for r in mine)}")

        loads = "; ".join(f"{r.load_before} -> {r.load_after}" for r in mine)
        kube_events = "Kubernetes Events on" if events_on else "Kubernetes Events off"
        print(
            f"  M = {m} VNFs x {REPLICAS} pods, {kube_events}, {len(mine)} round(s), load {loads}"
        )
        line("ours: cast -> vnf.instantiate.end", "ours")
        rate("ours: VNFs/min (first cast -> last .end)", "ours_rate")
        line("k8s: pod conditions created -> Ready (1 s res)", "k8s_conditions")
        line("k8s: raw watch, cast -> all pods Ready", "k8s_watch")
        line("  split: cast -> first pod exists (worker+ctrl)", "first_pod")
        line("  split: first pod exists -> all Ready (k8s)", "pods_ready")
        rate("k8s: VNFs/min (first cast -> last Ready)", "k8s_rate")
        line("ours - k8s: last pod Ready -> .end", "after_ready", unit="ms")
        line("  split: -> Deployment ready (k8s controller)", "deployment_lag", unit="ms")
        line("  split: Deployment ready -> .end (ours)", "after_deployment", unit="ms")
        line("5 s poller: cast -> all pods ready seen", "poller")
        rate("5 s poller: VNFs/min (first cast -> last)", "poller_rate")
        if mine[0].window is not None:
            breakdown.report(mine[0].window, per=m, unit="instantiate")
        line("bare client status PUT, same window", "probe", unit="ms")
        goals(m, mine)


def goals(m: int, rounds: list[Round]) -> None:
    """Issue 21's goals for this M, met or not, from this run's figures."""
    after = [x for r in rounds for x in r.after_ready]
    ours = [x for r in rounds for x in r.ours]
    watch = [x for r in rounds for x in r.k8s_watch]
    poller = [x for r in rounds for x in r.poller]
    if not after:
        return
    limit = 0.050 if m <= 10 else 0.100
    p99 = stats.percentile(after, 99)
    ours_share = [x for r in rounds for x in r.after_deployment]
    ours50, watch50 = stats.percentile(ours, 50), stats.percentile(watch, 50)
    poll50 = stats.percentile(poller, 50)
    print(f"    goals at M={m}:")
    print(
        f"      last pod Ready -> .end p99 {1000 * p99:.0f} ms <= {1000 * limit:.0f} ms:"
        f" {_met(p99 <= limit)}"
    )
    if ours_share:
        share99 = stats.percentile(ours_share, 99)
        print(
            f"        of which the worker's (raw watch sees the Deployment ready -> .end)"
            f" p99 {1000 * share99:.0f} ms <= {1000 * limit:.0f} ms: {_met(share99 <= limit)}"
        )
    print(
        f"      cast -> .end p50 {ours50:.2f} s < raw watch p50 {watch50:.2f} s + 0.10 s:"
        f" {_met(ours50 < watch50 + 0.1)}"
    )
    print(
        f"      cast -> .end p50 {ours50:.2f} s < 5 s poller p50 {poll50:.2f} s:"
        f" {_met(ours50 < poll50)}"
    )


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


async def run(
    *,
    sizes: list[int],
    rounds: int,
    within: float,
    profile_m: int | None = None,
    events: tuple[bool, ...] = (True,),
    plot_dir: pathlib.Path | None = None,
) -> list[Round]:
    print(f"lifecycle: {stats.machine()}")
    print(f"  sizes {sizes}, {rounds} round(s) each, order rotated; load {stats.loadavg()}")
    results: list[Round] = []
    for r in range(rounds):
        order = sizes[r % len(sizes) :] + sizes[: r % len(sizes)]
        for m, events_on in [(m, e) for m in order for e in events]:
            out = None
            if profile_m == m and r == 0 and events_on == events[0]:
                out = pathlib.Path("/tmp") / f"bench-lifecycle-{m}-{uuid.uuid4().hex[:6]}.pyspy.txt"
            result = await one_round(m, within=within, profile_to=out, events_on=events_on)
            results.append(result)
            print(
                f"  round {r + 1} M={m} events {'on' if events_on else 'off'}:"
                f" ours p50 {stats.percentile(result.ours, 50):.2f} s,"
                f" watch-ready p50 {stats.percentile(result.k8s_watch, 50):.2f} s,"
                f" poller p50 {stats.percentile(result.poller, 50):.2f} s"
                f" (load {result.load_before} -> {result.load_after})"
                + (" [worker under py-spy]" if out else "")
            )
            if out is not None:
                profile.report(out)
    report(results)
    if plot_dir is not None:
        await asyncio.to_thread(_plot, plot_dir, results, sizes=sizes, events=events)
    return results


def _plot(
    out_dir: pathlib.Path, results: list[Round], *, sizes: list[int], events: tuple[bool, ...]
) -> None:
    if not plots.available():
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    rounds = sum(1 for r in results if r.m == sizes[0] and r.events == events[0])
    shown = [r for r in results if r.events == events[0]]
    series = {
        m: {
            "ours": [x for r in shown if r.m == m for x in r.ours],
            "watch": [x for r in shown if r.m == m for x in r.k8s_watch],
            "poller": [x for r in shown if r.m == m for x in r.poller],
        }
        for m in sorted(set(sizes))
    }
    title = f"lifecycle: {rounds} round(s) per M, 2 pods per VNF\n{stats.machine()}"
    print(f"  plot: {plots.lifecycle(series, out_dir=out_dir, title=title)}")


def main(args: Any) -> int:
    events = tuple({"on": True, "off": False}[word] for word in args.kube_events.split(",") if word)
    asyncio.run(
        run(
            sizes=args.sizes,
            rounds=args.rounds,
            within=args.timeout,
            profile_m=args.profile,
            events=events,
            plot_dir=args.plot,
        )
    )
    return 0
