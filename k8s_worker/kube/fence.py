"""Fenced writes: a replica writes to Kubernetes for a VNF only while it surely
owns it, judged before every attempt of every write.

The reconciler sets :data:`WRITE_FENCE` (a context variable, so it holds for
one VNF's pass and nowhere else: the intake and the membership renewals are
other tasks) to a function returning the monotonic time until which this
replica may act, or None when it may not.  ``Kube.request`` checks it before
each attempt of a write, and bounds the attempt's timeout and the retries by
that deadline, so a replica that lost its lease (paused, cut off) cannot delete
pods or scale back to an old count after the others took the VNF over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar

from k8s_worker.kube.errors import KubeError

#: Returns the monotonic deadline of this replica's right to write, or None.
WRITE_FENCE: ContextVar[Callable[[], float | None] | None] = ContextVar("WRITE_FENCE", default=None)


class Fenced(KubeError):
    """This replica may no longer write for the VNF (ownership or lease lost)."""


def remaining(monotonic: Callable[[], float] = time.monotonic) -> float | None:
    """Seconds this task may still write (None: no fence here); Fenced at 0."""
    fence = WRITE_FENCE.get()
    if fence is None:
        return None
    deadline = fence()
    left = None if deadline is None else deadline - monotonic()
    if left is None or left <= 0:
        raise Fenced("this replica no longer owns the VNF (or its lease ran out): write refused")
    return left
