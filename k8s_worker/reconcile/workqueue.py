"""A work queue in controller-runtime's sense.

A key is queued at most once, is never handed to two workers at the same time
(so each VNF is reconciled serially while different VNFs run in parallel), and a
key added while it is being processed is processed again afterwards, so no
change is missed.  ``add_after`` delays a key (backoff, deadlines).
"""

from __future__ import annotations

import asyncio
import time

from k8s_worker import stages


class WorkQueue:
    """Keys to process: each queued at most once, never handed to two workers at once, and
    processed again when added while in progress (see the module docstring)."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._processing: set[str] = set()
        self._dirty: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        #: key -> monotonic time it was first queued since it was last taken
        self._since: dict[str, float] = {}
        #: key -> when the key being processed had been queued
        self._taken: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, key: str) -> None:
        self._since.setdefault(key, time.monotonic())
        if key in self._processing:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: str, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds (an earlier pending timer wins)."""
        loop = asyncio.get_running_loop()
        timer = self._timers.get(key)
        when = loop.time() + delay
        if timer is not None and not timer.cancelled() and timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> str:
        key = await self._queue.get()
        self._queued.discard(key)
        self._processing.add(key)
        now = time.monotonic()
        since = self._taken[key] = self._since.pop(key, now)
        stages.observe("queue_wait", now - since)
        return key

    def queued_at(self, key: str) -> float | None:
        """When the key being processed had been queued (monotonic)."""
        return self._taken.get(key)

    def done(self, key: str) -> None:
        self._processing.discard(key)
        self._taken.pop(key, None)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def forget(self, key: str) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
