"""How long an operation has run, for its timeout, without trusting another
replica's clock further than ``[cluster] clock_tolerance``."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from k8s_worker.record import Operation


def age_seconds(stamp: str | None) -> float:
    """Seconds since the ISO 8601 ``stamp`` (0 without one), by this clock."""
    return _age_seconds(stamp)


def _age_seconds(stamp: str | None) -> float:
    if not stamp:
        return 0.0
    then = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (dt.datetime.now(dt.UTC) - then).total_seconds()


class OperationClock:
    """Ages of operations: one started here is timed on this replica's
    monotonic clock; one started by another replica by its wall-clock stamp's
    age less ``clock_tolerance`` (the other clock may be behind this one by
    that much), and never less than this replica has watched it (a stamp from
    the future counts from when this replica first saw the operation)."""

    #: Operations remembered at most (the others moved to other replicas).
    LIMIT = 10_000

    def __init__(
        self, *, clock_tolerance: float = 0.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.clock_tolerance = clock_tolerance
        self.monotonic = monotonic
        #: (op_id, started_at) -> (monotonic time first seen, whether started here):
        #: a retry or rollback starts the operation again (a new started_at), and
        #: is timed afresh on every replica.
        self._seen: dict[tuple[str, str], tuple[float, bool]] = {}

    @staticmethod
    def _key(op: Operation) -> tuple[str, str]:
        return op.op_id, op.started_at or ""

    def started_here(self, op: Operation) -> None:
        self._seen[self._key(op)] = (self.monotonic(), True)

    def forget(self, op: Operation) -> None:
        for key in [k for k in self._seen if k[0] == op.op_id]:
            del self._seen[key]

    def age(self, op: Operation) -> float:
        """Seconds the operation has run (since its last start), for its timeout."""
        if len(self._seen) > self.LIMIT:
            self._seen.clear()
        first, here = self._seen.setdefault(self._key(op), (self.monotonic(), False))
        watched = self.monotonic() - first
        if here:
            return watched
        return max(watched, _age_seconds(op.started_at) - self.clock_tolerance)
