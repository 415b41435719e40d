"""Where the worker's time went in a measured window: its own stage histograms.

The worker keeps ``tacker_k8s_worker_stage_seconds{stage}`` and
``tacker_k8s_worker_api_requests{verb,resource,code}`` on ``/metrics`` (see
``k8s_worker.stages``).  A bench scrapes them before and after its measured
window; the difference says how many times each stage ran in the window, its
mean and its p50/p99 (from the histogram's buckets, interpolated as
Prometheus' ``histogram_quantile`` does, so a figure is good to a bucket),
and how many API requests of each verb the worker made, per operation or per
respawn.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

STAGE = "tacker_k8s_worker_stage_seconds"
API = "tacker_k8s_worker_api_requests"
API_SECONDS = "tacker_k8s_worker_api_request_seconds"
READ_VERBS = frozenset({"GET"})


@dataclass
class Histogram:
    count: float = 0.0
    total: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count

    def plus(self, other: Histogram) -> Histogram:
        keys = set(self.buckets) | set(other.buckets)
        return Histogram(
            count=self.count + other.count,
            total=self.total + other.total,
            buckets={le: self.buckets.get(le, 0.0) + other.buckets.get(le, 0.0) for le in keys},
        )

    def minus(self, other: Histogram) -> Histogram:
        return Histogram(
            count=self.count - other.count,
            total=self.total - other.total,
            buckets={le: n - other.buckets.get(le, 0.0) for le, n in self.buckets.items()},
        )

    def quantile(self, q: float) -> float:
        """histogram_quantile(q): linear within the bucket the rank falls in."""
        if self.count <= 0:
            return math.nan
        rank = q * self.count
        lower, below = 0.0, 0.0
        for le in sorted(self.buckets):
            n = self.buckets[le]
            if n >= rank:
                if math.isinf(le):
                    return lower
                inside = n - below
                return lower + (le - lower) * ((rank - below) / inside if inside else 1.0)
            lower, below = le, n
        return lower

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan


@dataclass
class Snapshot:
    stages: dict[str, Histogram] = field(default_factory=dict)
    api_seconds: dict[tuple[str, str], Histogram] = field(default_factory=dict)
    api: dict[tuple[str, str, str], float] = field(default_factory=dict)

    def minus(self, other: Snapshot) -> Snapshot:
        return Snapshot(
            stages={k: h.minus(other.stages.get(k, Histogram())) for k, h in self.stages.items()},
            api_seconds={
                k: h.minus(other.api_seconds.get(k, Histogram()))
                for k, h in self.api_seconds.items()
            },
            api={k: v - other.api.get(k, 0.0) for k, v in self.api.items()},
        )

    def plus(self, other: Snapshot) -> Snapshot:
        def add(a: dict[Any, Histogram], b: dict[Any, Histogram]) -> dict[Any, Histogram]:
            return {k: a.get(k, Histogram()).plus(b.get(k, Histogram())) for k in {*a, *b}}

        return Snapshot(
            stages=add(self.stages, other.stages),
            api_seconds=add(self.api_seconds, other.api_seconds),
            api={k: self.api.get(k, 0.0) + other.api.get(k, 0.0) for k in {*self.api, *other.api}},
        )

    def writes(self) -> float:
        return sum(v for (verb, _, _), v in self.api.items() if verb not in READ_VERBS)

    def reads(self) -> float:
        return sum(v for (verb, _, _), v in self.api.items() if verb in READ_VERBS)

    def by_verb(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for (verb, resource, _), v in self.api.items():
            out[f"{verb} {resource}"] += v
        return dict(out)


def parse(text: str) -> Snapshot:
    snap = Snapshot()
    for family in text_string_to_metric_families(text):
        if family.name not in (STAGE, API, API_SECONDS):
            continue
        for sample in family.samples:
            labels = sample.labels
            if family.name == API:
                if sample.name.endswith("_total"):
                    key3 = (labels["verb"], labels["resource"], labels["code"])
                    snap.api[key3] = sample.value
                continue
            if family.name == STAGE:
                hist = snap.stages.setdefault(labels["stage"], Histogram())
            else:
                key2 = (labels["verb"], labels["resource"])
                hist = snap.api_seconds.setdefault(key2, Histogram())
            if sample.name.endswith("_bucket"):
                hist.buckets[float(labels["le"])] = sample.value
            elif sample.name.endswith("_count"):
                hist.count = sample.value
            elif sample.name.endswith("_sum"):
                hist.total = sample.value
    return snap


async def scrape(port: int) -> Snapshot:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        return parse(await resp.text())


async def gauge(port: int, name: str) -> float:
    """One unlabelled gauge of the worker's /metrics (0 when absent)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        text = await resp.text()
    for family in text_string_to_metric_families(text):
        if family.name == name and family.samples:
            return float(family.samples[0].value)
    return 0.0


def _ms(x: float) -> str:
    return "-" if math.isnan(x) else f"{1000 * x:.1f}"


ORDER = ("queue_wait", "record_read", "record_write", "publish", "pass", "queued_to_published")


def report(window: Snapshot, *, per: float, unit: str, indent: str = "    ") -> None:
    """Print the stages and the API requests of ``window``, the requests also
    per ``unit`` (``per`` of them happened in the window)."""
    print(f"{indent}worker stages in the window (from its /metrics; ms, p50/p99 to a bucket):")
    print(f"{indent}  {'stage':22s} {'n':>7s} {'mean':>8s} {'p50':>8s} {'p99':>8s}")
    for name in ORDER:
        h = window.stages.get(name)
        if h is None or h.count <= 0:
            continue
        print(
            f"{indent}  {name:22s} {h.count:7.0f} {_ms(h.mean):>8s}"
            f" {_ms(h.quantile(0.5)):>8s} {_ms(h.quantile(0.99)):>8s}"
        )
    per = max(per, 1.0)
    print(
        f"{indent}API requests: {window.writes():.0f} writes ({window.writes() / per:.2f} per"
        f" {unit}), {window.reads():.0f} reads ({window.reads() / per:.2f} per {unit})"
    )
    rows = sorted(window.by_verb().items(), key=lambda kv: -kv[1])
    for key, n in rows:
        if n <= 0:
            continue
        verb, resource = key.split(" ", 1)
        h = window.api_seconds.get((verb, resource))
        latency = ""
        if h is not None and h.count > 0:
            latency = f", p50 {_ms(h.quantile(0.5))} ms, p99 {_ms(h.quantile(0.99))} ms"
        print(f"{indent}  {key:34s} {n:6.0f} ({n / per:.2f} per {unit}{latency})")
