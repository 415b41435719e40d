"""A bounded worker pool that keeps each VNF's requests in arrival order.

Jobs with the same key run one at a time in submission order; jobs with
different keys (or no key) run in parallel, at most ``concurrency`` at once.

A key's jobs share one task (its lane), created when the first job arrives
and ended when the lane is empty; a job's exception is logged and does not
stop the lane.  The per-job path is one semaphore acquire and one await.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog

LOG = structlog.get_logger(__name__)

Job = Callable[[], Awaitable[None]]


class OrderedPool:
    """Runs jobs at most ``concurrency`` at a time; jobs of one lane (a VNF) run one after
    another, in the order submitted, while different lanes run in parallel."""

    def __init__(self, *, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self._slots = asyncio.Semaphore(concurrency)
        self._lanes: dict[str, collections.deque[Job]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def pending(self) -> int:
        """Jobs submitted and not finished (running or waiting)."""
        return len(self._tasks) + sum(max(len(q) - 1, 0) for q in self._lanes.values())

    def submit(self, key: str | None, job: Job) -> None:
        if key is None:
            self._spawn(self._run_one(job))
            return
        lane = self._lanes.get(key)
        if lane is not None:
            lane.append(job)
            return
        self._lanes[key] = collections.deque([job])
        self._spawn(self._run_lane(key))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self._idle.set()

    async def _run_one(self, job: Job) -> None:
        async with self._slots:
            try:
                await job()
            except Exception:
                LOG.exception("intake.pool_job_crashed")

    async def _run_lane(self, key: str) -> None:
        lane = self._lanes[key]
        slots = self._slots
        try:
            while lane:
                await slots.acquire()
                try:
                    await lane[0]()
                except Exception:
                    LOG.exception("intake.pool_job_crashed")
                finally:
                    slots.release()
                lane.popleft()
        finally:
            self._lanes.pop(key, None)

    async def drain(self, *, grace: float) -> bool:
        """Wait until every job is done; False if ``grace`` seconds ran out first."""
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            return False
        return True

    async def cancel(self) -> None:
        """Cancel whatever still runs (its messages stay unacknowledged)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._lanes.clear()
