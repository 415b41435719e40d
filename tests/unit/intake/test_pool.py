"""The ordered pool: same key in order, other keys in parallel, bounded."""

from __future__ import annotations

import asyncio

from k8s_worker.intake.pool import OrderedPool


async def test_same_key_runs_in_arrival_order_and_keys_overlap() -> None:
    pool = OrderedPool(concurrency=4)
    log: list[str] = []
    gate = asyncio.Event()

    def job(name: str, *, wait: bool = False):
        async def run() -> None:
            log.append(f"start {name}")
            if wait:
                await gate.wait()
            log.append(f"end {name}")

        return run

    pool.submit("a", job("a1", wait=True))
    pool.submit("a", job("a2"))
    pool.submit("b", job("b1"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert "end b1" in log and "start a2" not in log  # b overtook the blocked a1, a2 waits
    gate.set()
    assert await pool.drain(grace=5)
    assert log.index("end a1") < log.index("start a2")


async def test_concurrency_is_bounded() -> None:
    pool = OrderedPool(concurrency=2)
    running = peak = 0

    async def job() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    for i in range(10):
        pool.submit(f"k{i}", job)
    assert await pool.drain(grace=5)
    assert peak == 2


async def test_a_crashing_job_does_not_stop_its_lane() -> None:
    pool = OrderedPool(concurrency=1)
    ran: list[int] = []

    async def boom() -> None:
        raise RuntimeError("x")

    async def ok() -> None:
        ran.append(1)

    pool.submit("k", boom)
    pool.submit("k", ok)
    assert await pool.drain(grace=5)
    assert ran == [1]
