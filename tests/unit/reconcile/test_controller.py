"""The generic controller: a handler's outcome decides the next look, and
one classifier decides what follows each failure."""

from __future__ import annotations

import asyncio
import contextlib

from k8s_worker.reconcile.controller import Backoff, Controller, Forget, RetryAfter, Verdict
from k8s_worker.reconcile.workqueue import WorkQueue


class Flaky(Exception):
    pass


class Lost(Exception):
    pass


def classify(key: str, exc: Exception) -> Verdict:
    if isinstance(exc, Lost):
        return Forget()
    if isinstance(exc, LookupError):
        return RetryAfter(0.01)
    return Backoff()


async def run_until(controller: Controller, done: asyncio.Event, within: float = 5.0) -> None:
    task = asyncio.create_task(controller.run())
    try:
        await asyncio.wait_for(done.wait(), within)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_failures_back_off_and_a_success_resets_them() -> None:
    queue = WorkQueue()
    calls: list[str] = []
    done = asyncio.Event()

    async def handler(key: str) -> float | None:
        calls.append(key)
        if len(calls) < 3:
            raise Flaky("not yet")
        done.set()
        return None

    controller = Controller(
        queue=queue, handler=handler, classify=classify, workers=2, backoff_max=0.01
    )
    queue.add("a")
    await run_until(controller, done)
    assert calls == ["a", "a", "a"]
    assert controller._failures == {}, "the success reset the key's backoff"


async def test_a_forgotten_key_is_not_retried_and_a_lost_race_is_retried_at_once() -> None:
    queue = WorkQueue()
    seen: dict[str, int] = {"gone": 0, "raced": 0}
    done = asyncio.Event()

    async def handler(key: str) -> float | None:
        seen[key] += 1
        if key == "gone":
            raise Lost()
        if seen[key] == 1:
            raise KeyError("raced")
        done.set()
        return None

    controller = Controller(queue=queue, handler=handler, classify=classify, workers=2)
    queue.add("gone")
    queue.add("raced")
    await run_until(controller, done)
    await asyncio.sleep(0.05)
    assert seen == {"gone": 1, "raced": 2}


async def test_the_handler_names_the_next_look_and_a_key_never_runs_twice_at_once() -> None:
    queue = WorkQueue()
    running: set[str] = set()
    overlaps = 0
    count = 0
    done = asyncio.Event()

    async def handler(key: str) -> float | None:
        nonlocal overlaps, count
        if key in running:
            overlaps += 1
        running.add(key)
        await asyncio.sleep(0.01)
        queue.add(key)  # an event while it is being handled
        running.discard(key)
        count += 1
        if count == 5:
            done.set()
        return 0.01

    controller = Controller(queue=queue, handler=handler, classify=classify, workers=4)
    queue.add("k")
    await run_until(controller, done)
    assert overlaps == 0 and count >= 5


def test_backoff_is_jittered_so_replicas_do_not_retry_in_lockstep() -> None:
    async def handler(key: str) -> None:
        return None

    def make() -> Controller:
        return Controller(queue=WorkQueue(), handler=handler, classify=lambda e: Forget())

    a, b = make(), make()
    first = [a.backoff("vnf"), a.backoff("vnf"), a.backoff("vnf")]
    # 0.5 s, 1 s, 2 s, each within ±20 %
    for delay, base in zip(first, (0.5, 1.0, 2.0), strict=True):
        assert 0.8 * base <= delay <= 1.2 * base
    # two replicas failing at once: their delays differ
    assert len({round(a.backoff("x"), 9), round(b.backoff("x"), 9)}) == 2
