"""Each notification of a VNF, also as a Kubernetes Event on its Vnf resource,
so ``kubectl describe vnf`` and ``kubectl get events`` tell its story.

Best effort, as client-go's event recorder: ``note`` never blocks and never
fails (a full queue drops the event and counts it); a background task writes
them.  The same correlation as client-go's EventCorrelator: an event equal to
one written in the last ten minutes (object, type, reason, message) bumps that
Event's count; from the tenth similar one (same object, type, reason) in ten
minutes the messages are combined into one aggregate Event; and each object has
a token bucket (burst 25, one more every five minutes) past which events are
dropped.  Secrets are masked before a message is built.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog

from k8s_worker.kube import KINDS, Kube, KubeError
from k8s_worker.wire.redact import redact

LOG = structlog.get_logger(__name__)

COMPONENT = "tacker-k8s-worker"
MAX_SIMILAR = 10  # client-go's maxSimilarEvents
SIMILAR_WINDOW = 600.0  # seconds: client-go's defaultAggregateIntervalInSeconds
BURST = 25  # client-go's defaultSpamBurst
REFILL_SECONDS = 300.0  # client-go's defaultSpamQPS = 1/300
CACHE_SIZE = 4096  # client-go's maxLruCacheEntries
QUEUE_SIZE = 1000
MESSAGE_MAX = 1024
WRITE_TIMEOUT = 5.0
#: Payload fields that say nothing a person reads in an event (the object says them).
_QUIET_FIELDS = frozenset({"vnf_id", "tenant_id", "sequence", "vim_id"})
_WARNING_PRIORITIES = frozenset({"WARN", "WARNING", "ERROR", "CRITICAL"})


def reason_of(event_type: str) -> str:
    """``vnf.instantiate.end`` -> ``InstantiateEnd``; ``vnf.status.update`` -> ``StatusUpdate``."""
    parts = event_type.split(".")
    if parts and parts[0] == "vnf":
        parts = parts[1:]
    return "".join(p[:1].upper() + p[1:] for part in parts for p in part.split("_")) or "Event"


def type_of(event_type: str, priority: str, payload: dict[str, Any]) -> str:
    if priority.upper() in _WARNING_PRIORITIES or event_type.endswith(".error"):
        return "Warning"
    if event_type == "vnf.status.update" and payload.get("status") in ("ERROR", "DEAD", "DEGRADED"):
        return "Warning"
    return "Normal"


def message_of(payload: dict[str, Any]) -> str:
    """The payload's telling fields, key=value, secrets masked, at most 1 KiB."""
    shown = redact({k: v for k, v in payload.items() if k not in _QUIET_FIELDS})
    text = " ".join(
        f"{k}={v if isinstance(v, str) else json.dumps(v, default=str, sort_keys=True)}"
        for k, v in shown.items()
        if v not in (None, "", [], {})
    )
    return text[:MESSAGE_MAX] or "-"


@dataclasses.dataclass(frozen=True)
class Involved:
    """The object an Event is about (a Vnf record)."""

    kind: str
    name: str
    namespace: str
    uid: str
    api_version: str

    def ref(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "uid": self.uid,
            "apiVersion": self.api_version,
        }


@dataclasses.dataclass
class _Written:
    name: str
    count: int
    at: float  # when it was last written (the clock's seconds)


class _Bucket:
    def __init__(self, now: float) -> None:
        self.tokens = float(BURST)
        self.at = now

    def take(self, now: float) -> bool:
        self.tokens = min(BURST, self.tokens + (now - self.at) / REFILL_SECONDS)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Records notifications as Kubernetes Events (see the module docstring):
    ``note`` queues one and returns at once; ``run`` writes them until cancelled.
    ``written``, ``dropped`` and ``failed`` count what happened to them."""

    def __init__(
        self,
        kube: Kube,
        *,
        host: str,
        clock: Callable[[], float] = time.monotonic,
        count: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        self.kube = kube
        self.host = host
        self._clock = clock
        self._count = count
        self._queue: asyncio.Queue[tuple[Involved, str, str, str]] = asyncio.Queue(QUEUE_SIZE)
        self._events: collections.OrderedDict[tuple[str, ...], _Written] = collections.OrderedDict()
        self._similar: collections.OrderedDict[tuple[str, ...], list[float]] = (
            collections.OrderedDict()
        )
        self._buckets: collections.OrderedDict[str, _Bucket] = collections.OrderedDict()
        self.written = self.dropped = self.failed = 0

    def _outcome(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        self._count(outcome)

    def note(
        self, involved: Involved, *, event_type: str, payload: dict[str, Any], priority: str
    ) -> None:
        """Queue the notification ``event_type`` as an Event on ``involved`` (never blocks)."""
        item = (involved, type_of(event_type, priority, payload), reason_of(event_type))
        try:
            self._queue.put_nowait((*item, message_of(payload)))
        except asyncio.QueueFull:
            self._outcome("dropped")

    async def run(self) -> None:
        while True:
            involved, type_, reason, message = await self._queue.get()
            try:
                await asyncio.wait_for(
                    self._record(involved, type_, reason, message), WRITE_TIMEOUT
                )
            except (KubeError, OSError, TimeoutError) as exc:
                self._outcome("failed")
                LOG.debug("event.not_recorded", reason=reason, error=str(exc))
            finally:
                self._queue.task_done()

    async def drain(self, within: float = 2.0) -> None:
        """Wait (briefly) until the queued events are written: for a clean stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), within)

    def _remember(self, cache: collections.OrderedDict[Any, Any], key: Any, value: Any) -> None:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > CACHE_SIZE:
            cache.popitem(last=False)

    def _aggregate(
        self, involved: Involved, type_: str, reason: str, message: str
    ) -> tuple[str, tuple[str, ...]]:
        """client-go's EventAggregator: from the tenth similar event in the window on,
        one aggregate Event (its key has no message) takes them, with the latest message."""
        now = self._clock()
        similar = (involved.uid, type_, reason)
        times = [t for t in self._similar.get(similar, []) if now - t < SIMILAR_WINDOW]
        times.append(now)
        self._remember(self._similar, similar, times[-MAX_SIMILAR:])
        if len(times) >= MAX_SIMILAR:
            combined = f"(combined from similar events): {message}"[:MESSAGE_MAX]
            return combined, (*similar, "")
        return message, (*similar, message)

    async def _record(self, involved: Involved, type_: str, reason: str, message: str) -> None:
        bucket = self._buckets.get(involved.uid) or _Bucket(self._clock())
        self._remember(self._buckets, involved.uid, bucket)
        if not bucket.take(self._clock()):
            self._outcome("dropped")
            return
        message, key = self._aggregate(involved, type_, reason, message)
        now = _stamp()
        seen = self._events.get(key)
        if seen is not None and self._clock() - seen.at >= SIMILAR_WINDOW:
            seen = None  # written more than ten minutes ago: a new Event
        if seen is not None:
            seen.count += 1
            seen.at = self._clock()
            try:
                await self.kube.patch(
                    KINDS["Event"],
                    name=seen.name,
                    namespace=involved.namespace,
                    patch={"count": seen.count, "lastTimestamp": now, "message": message},
                )
                self._outcome("written")
                return
            except KubeError:
                self._events.pop(key, None)  # gone (events expire): write it anew
        name = f"{involved.name}.{uuid.uuid4().hex[:16]}"
        await self.kube.create(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": involved.namespace},
                "involvedObject": involved.ref(),
                "type": type_,
                "reason": reason,
                "message": message,
                "count": 1,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "source": {"component": COMPONENT, "host": self.host},
                "reportingComponent": COMPONENT,
                "reportingInstance": self.host,
            }
        )
        self._remember(self._events, key, _Written(name=name, count=1, at=self._clock()))
        self._outcome("written")
