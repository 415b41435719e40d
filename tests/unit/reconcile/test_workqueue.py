"""The work queue: one worker per key at a time, nothing missed, delays honoured."""

from __future__ import annotations

import asyncio

from k8s_worker.reconcile.workqueue import WorkQueue


async def test_a_key_is_queued_once_however_often_it_is_added():
    q = WorkQueue()
    for _ in range(5):
        q.add("vnf-a")
    q.add("vnf-b")
    assert len(q) == 2
    assert [await q.get(), await q.get()] == ["vnf-a", "vnf-b"]


async def test_a_key_added_while_processing_comes_back_after_done_not_before():
    q = WorkQueue()
    q.add("vnf-a")
    key = await q.get()
    q.add("vnf-a")  # an event during the reconcile
    assert len(q) == 0, "never handed to a second worker meanwhile"
    q.done(key)
    assert await asyncio.wait_for(q.get(), 1) == "vnf-a"


async def test_add_after_delays_and_the_earlier_timer_wins():
    q = WorkQueue()
    q.add_after("vnf-a", 0.05)
    q.add_after("vnf-a", 10)  # later: ignored
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await asyncio.wait_for(q.get(), 2) == "vnf-a"
    assert loop.time() - start >= 0.04
