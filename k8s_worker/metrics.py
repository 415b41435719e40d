"""Prometheus metrics of one replica, without touching the modules they measure.

Counters are driven by two thin wrappers: ``instrument_publisher`` sees every
notification the worker publishes (so it counts them by event type, and times
operations from ``vnf.<op>.start`` to ``.end``/``.error`` by op_id, counts
respawns and policy decisions), and ``instrument_handler`` sees every RPC the
intake hands over (intake rate by method and outcome, requests in flight).
State that already exists elsewhere (watch restarts of the informers, the
reconcile queue's depth, the VNFs this replica owns) is read at scrape time
by a custom collector, so it is never stale and costs nothing in between.
"""

from __future__ import annotations

import collections
import functools
import platform
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from k8s_worker import stages
from k8s_worker.version import version_string
from rpc.exceptions import BadRequest

P = TypeVar("P")

PREFIX = "tacker_k8s_worker"
_OP_EVENT = re.compile(r"^vnf\.(instantiate|terminate|scale|heal|update)\.(start|end|error)$")
#: Stage and API request latencies: a few ms (loopback) to seconds (waiting).
_STAGE_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    float("inf"),
)
_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, float("inf"))


class Metrics:
    """The registry of one worker process and the instruments that feed it."""

    def __init__(self, *, max_tracked_operations: int = 10000) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # The process's memory, CPU and open files, and the Python it runs on.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.build_info = Info(
            f"{PREFIX}_build", "The worker's version (pbr) and Python.", registry=r
        )
        self.build_info.info({"version": version_string(), "python": platform.python_version()})
        self.operations = Counter(
            f"{PREFIX}_operations",
            "Lifecycle operations finished, by operation and outcome (success, error).",
            ["operation", "outcome"],
            registry=r,
        )
        self.operation_seconds = Histogram(
            f"{PREFIX}_operation_duration_seconds",
            "Time from an operation's .start notification to its .end or .error.",
            ["operation", "outcome"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.rpc_requests = Counter(
            f"{PREFIX}_rpc_requests",
            "RPC requests handed to the worker, by method and outcome (ok, bad_request, error).",
            ["method", "outcome"],
            registry=r,
        )
        self.rpc_in_flight = Gauge(
            f"{PREFIX}_rpc_in_flight", "RPC requests being handled right now.", registry=r
        )
        self.notifications = Counter(
            f"{PREFIX}_notifications_published",
            "Notifications confirmed by the broker, by event type and priority.",
            ["event_type", "priority"],
            registry=r,
        )
        self.notification_failures = Counter(
            f"{PREFIX}_notification_failures",
            "Notifications that could not be published after every retry.",
            ["event_type"],
            registry=r,
        )
        self.respawns = Counter(
            f"{PREFIX}_respawns",
            "Pods of VNFs replaced or containers restarted (vnf.respawn), by reason.",
            ["reason"],
            registry=r,
        )
        self.policy_decisions = Counter(
            f"{PREFIX}_policy_decisions",
            "Decisions of scale and heal policies (vnf.policy.triggered).",
            ["action", "decision"],
            registry=r,
        )
        self.kube_events = Counter(
            f"{PREFIX}_kube_events",
            "Notifications recorded as Kubernetes Events on Vnf resources, by outcome "
            "(written, dropped by the rate limit or a full queue, failed).",
            ["outcome"],
            registry=r,
        )
        self.stage_seconds = Histogram(
            f"{PREFIX}_stage_seconds",
            "Latency of each stage from a watch event to a confirmed notification: "
            "queue_wait (queued -> a reconcile worker takes it), record_read, "
            "record_write, publish (-> the broker's confirm), pass (one reconcile "
            "pass), queued_to_published (queued -> a notification of that pass out).",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.api_requests = Counter(
            f"{PREFIX}_api_requests",
            "Requests to Kubernetes API servers (every attempt), by verb, resource and "
            "status code (0: no answer).",
            ["verb", "resource", "code"],
            registry=r,
        )
        self.api_request_seconds = Histogram(
            f"{PREFIX}_api_request_seconds",
            "Latency of requests to Kubernetes API servers (each attempt; watches "
            "not counted), by verb and resource.",
            ["verb", "resource"],
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self._started: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._max_tracked = max_tracked_operations

    # -- stages --------------------------------------------------------------------------
    def report_stages(self) -> None:
        """Make this registry the sink of :mod:`k8s_worker.stages` (the process's one)."""
        stage_of = {s: self.stage_seconds.labels(stage=s) for s in stages.STAGES}

        def stage(name: str, seconds: float) -> None:
            histogram = stage_of.get(name)
            if histogram is not None:
                histogram.observe(seconds)

        def api(verb: str, resource: str, seconds: float, status: int) -> None:
            self.api_requests.labels(verb=verb, resource=resource, code=str(status)).inc()
            self.api_request_seconds.labels(verb=verb, resource=resource).observe(seconds)

        stages.set_sinks(stage=stage, api=api)

    # -- notifications ---------------------------------------------------------------
    def published(self, event_type: str, payload: Mapping[str, Any], *, priority: str) -> None:
        """Account for one notification the broker confirmed."""
        self.notifications.labels(event_type=event_type, priority=priority.upper()).inc()
        if event_type == "vnf.respawn":
            self.respawns.labels(reason=str(payload.get("reason") or "unknown")).inc()
        elif event_type == "vnf.policy.triggered":
            self.policy_decisions.labels(
                action=str(payload.get("action") or "unknown"),
                decision=str(payload.get("decision") or "unknown"),
            ).inc()
        match = _OP_EVENT.match(event_type)
        if match is None:
            return
        operation, phase = match.groups()
        op_id = payload.get("op_id")
        key = f"{operation}:{op_id}"
        now = time.monotonic()
        if phase == "start":
            if op_id:
                self._started.setdefault(key, now)
                while len(self._started) > self._max_tracked:
                    self._started.popitem(last=False)
            return
        outcome = "success" if phase == "end" else "error"
        self.operations.labels(operation=operation, outcome=outcome).inc()
        started = self._started.pop(key, None) if op_id else None
        if started is not None:
            self.operation_seconds.labels(operation=operation, outcome=outcome).observe(
                now - started
            )

    def instrument_publisher(self, publisher: P) -> P:
        """``publisher`` (a Notifier) whose confirmed publishes are counted
        (the wrapper passes everything else through, so it types as one)."""
        return cast(P, _CountingPublisher(publisher, self))

    # -- intake ------------------------------------------------------------------------
    def instrument_handler(self, handler: Any) -> _CountingHandler:
        """An intake handler whose calls are counted by method and outcome."""
        return _CountingHandler(handler, self)

    # -- state read at scrape time ------------------------------------------------------
    def observe_state(
        self,
        *,
        informers: Callable[[], Iterable[Any]],
        queue_depth: Callable[[], int],
        owned_vnfs: Callable[[], int],
        vims: Callable[[], Iterable[tuple[str, bool, int]]] = lambda: (),
    ) -> None:
        """Register the collector of watch, queue and ownership state (once);
        ``vims``: (vim_id, reachable, VNFs owned here) of each VIM open here."""
        self.registry.register(
            _StateCollector(
                informers=informers, queue_depth=queue_depth, owned_vnfs=owned_vnfs, vims=vims
            )
        )

    def render(self) -> bytes:
        """The registry in Prometheus' text exposition format."""
        return generate_latest(self.registry)


class _CountingPublisher:
    def __init__(self, inner: Any, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def publish(
        self,
        event_type: str,
        payload: Mapping[str, Any],
        *,
        priority: str = "INFO",
        **kwargs: Any,
    ) -> None:
        try:
            await self._inner.publish(event_type, payload, priority=priority, **kwargs)
        except Exception:
            self._metrics.notification_failures.labels(event_type=event_type).inc()
            raise
        self._metrics.published(event_type, payload, priority=priority)


class _CountingHandler:
    def __init__(self, inner: Any, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith("_") or not callable(attr):
            return attr
        metrics = self._metrics

        @functools.wraps(attr)
        async def call(*args: Any, **kwargs: Any) -> Any:
            outcome = "error"
            metrics.rpc_in_flight.inc()
            try:
                result = await attr(*args, **kwargs)
                outcome = "ok"
                return result
            except BadRequest:
                outcome = "bad_request"
                raise
            finally:
                metrics.rpc_in_flight.dec()
                metrics.rpc_requests.labels(method=name, outcome=outcome).inc()

        return call


class _StateCollector(Collector):
    def __init__(
        self,
        *,
        informers: Callable[[], Iterable[Any]],
        queue_depth: Callable[[], int],
        owned_vnfs: Callable[[], int],
        vims: Callable[[], Iterable[tuple[str, bool, int]]],
    ) -> None:
        self._informers = informers
        self._queue_depth = queue_depth
        self._owned = owned_vnfs
        self._vims = vims

    def collect(self) -> Iterable[Metric]:
        labels = ["kind", "namespace"]
        restarts = CounterMetricFamily(
            f"{PREFIX}_watch_restarts",
            "Watch streams restarted (ended, silent too long, or failed).",
            labels=labels,
        )
        relists = CounterMetricFamily(
            f"{PREFIX}_watch_relists", "Full re-lists after 410 Gone.", labels=labels
        )
        synced = GaugeMetricFamily(
            f"{PREFIX}_watch_synced", "1 when the informer's cache is synced.", labels=labels
        )
        cached = GaugeMetricFamily(
            f"{PREFIX}_watch_cached_objects", "Objects in the informer's cache.", labels=labels
        )
        for informer in self._informers():
            values = [informer.kind.kind, informer.namespace or "*"]
            restarts.add_metric(values, informer.restarts)
            relists.add_metric(values, informer.relists)
            synced.add_metric(values, 1.0 if informer.synced.is_set() else 0.0)
            cached.add_metric(values, len(informer.cache))
        yield from (restarts, relists, synced, cached)
        yield GaugeMetricFamily(
            f"{PREFIX}_reconcile_queue_depth",
            "VNFs waiting to be reconciled.",
            value=self._queue_depth(),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_owned_vnfs", "VNFs this replica is responsible for.", value=self._owned()
        )
        reachable = GaugeMetricFamily(
            f"{PREFIX}_vim_reachable",
            "1 while a VIM open on this replica answers its probes (0: UNREACHABLE).",
            labels=["vim_id"],
        )
        owned = GaugeMetricFamily(
            f"{PREFIX}_vim_owned_vnfs",
            "VNFs this replica is responsible for, by VIM.",
            labels=["vim_id"],
        )
        for vim_id, ok, count in self._vims():
            reachable.add_metric([vim_id], 1.0 if ok else 0.0)
            owned.add_metric([vim_id], count)
        yield from (reachable, owned)
