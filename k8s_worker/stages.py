"""Where a replica's time goes: the latency of each stage of its pipeline.

The modules on the path from a watch event to a confirmed notification (the
work queue, the record store, the outbox, the Kubernetes client) report here
how long each stage took; :mod:`k8s_worker.metrics` turns the reports into
histograms on ``/metrics`` (one sink per process, set when the metrics are
built).  No report carries a VNF: the stages are labelled by name only, and
API requests by verb and resource, so the series stay few at any fleet size.
With no sink (the unit tests, the tools) a report costs a function call.

The stages, in the order a respawn or an operation's end goes through them:

- ``queue_wait``: a VNF queued (by a watch event, a cast's record write, a
  timer) -> a reconcile worker takes it;
- ``record_read``: reading the VNF's record;
- ``record_write``: each write of a record (status, spec or journal);
- ``publish``: one notification handed to the broker -> its confirm;
- ``pass``: one whole reconcile pass;
- ``queued_to_published``: the VNF queued -> a notification of that pass
  confirmed (the worker's share of "Kubernetes said so -> the caller knows").
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar

STAGES = (
    "queue_wait",
    "record_read",
    "record_write",
    "publish",
    "pass",
    "queued_to_published",
)

StageSink = Callable[[str, float], None]
#: (verb, resource, seconds, status code or 0 when no answer came)
ApiSink = Callable[[str, str, float, int], None]

_stage_sink: StageSink | None = None
_api_sink: ApiSink | None = None

#: Monotonic time at which the VNF of the running pass was queued (None
#: outside a pass): ``queued_to_published`` is measured from it.
QUEUED_AT: ContextVar[float | None] = ContextVar("QUEUED_AT", default=None)


def set_sinks(*, stage: StageSink | None, api: ApiSink | None) -> None:
    """Where reports go from now on (None: nowhere)."""
    global _stage_sink, _api_sink
    _stage_sink, _api_sink = stage, api


def observe(stage: str, seconds: float) -> None:
    """Report that ``stage`` took ``seconds`` once."""
    if _stage_sink is not None:
        _stage_sink(stage, seconds)


@contextlib.contextmanager
def timed(stage: str) -> Iterator[None]:
    """Report the time the ``with`` block took as ``stage`` (also when it raised)."""
    if _stage_sink is None:
        yield
        return
    start = time.monotonic()
    try:
        yield
    finally:
        _stage_sink(stage, time.monotonic() - start)


def published() -> None:
    """A notification of the running pass was confirmed."""
    queued = QUEUED_AT.get()
    if queued is not None and _stage_sink is not None:
        _stage_sink("queued_to_published", time.monotonic() - queued)


def api_request(method: str, path: str, seconds: float, status: int) -> None:
    """Report one API request (one attempt) by verb and resource."""
    if _api_sink is not None:
        _api_sink(method, resource_of(path), seconds, status)


def resource_of(path: str) -> str:
    """The resource (and subresource) a request path names:
    ``/apis/g/v1/namespaces/n/vnfs/x/status`` -> ``vnfs/status``."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if not parts:
        return ""
    rest = parts[2:] if parts[0] == "api" else parts[3:] if parts[0] == "apis" else parts
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    if not rest:
        return "namespaces" if parts[-2:-1] == ["namespaces"] else ""
    return f"{rest[0]}/{rest[2]}" if len(rest) >= 3 else rest[0]
