"""Failed casts wait in the broker's delay queue, not in the replica (real RabbitMQ).

One devserver (the journal test-double handler) serves a topic of its own; an
unmodified oslo RPC client casts to it.  The handler fails every cast of a VNF
whose id starts with ``failing-``, and the first delivery of the instantiate
of one that starts with ``flaky-``; the journal records every failure and completion
in the order they happened.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest

from tests.doubles.intake import (
    FAILING,
    FLAKY,
    WorkerProcess,
    oslo_rpc_client,
    read_journal,
    wait_for,
)

CTX = {"user_id": "alice", "project_id": "tenant-a"}


@pytest.fixture
async def names(amqp_url: str) -> AsyncIterator[dict[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    names = {"topic": f"tkw_retry_{suffix}", "exchange": f"tkw_x_{suffix}", "host": f"r-{suffix}"}
    yield names
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        for queue in (
            names["topic"],
            f"{names['topic']}.retry",
            f"{names['topic']}.{names['host']}",
        ):
            channel = await connection.channel()
            try:
                await channel.queue_delete(queue)
            except aio_pika.exceptions.AMQPError:
                pass
        channel = await connection.channel()
        await channel.exchange_delete(names["exchange"])


async def _worker(transport_url: str, names: dict[str, str], journal: Any, **opts: Any) -> Any:
    proc = WorkerProcess(
        transport_url=transport_url,
        host=names["host"],
        topic=names["topic"],
        exchange=names["exchange"],
        journal=journal,
        **opts,
    )
    return await proc.start()


def _vnf(vnf_id: str) -> dict[str, Any]:
    return {"id": vnf_id, "name": "web", "tenant_id": "tenant-a", "vnfd": "tosca: {}"}


async def test_a_failing_vnfs_backlog_does_not_hold_back_another_vnf(
    transport_url: str, names: dict[str, str], tmp_path: Any
) -> None:
    journal = tmp_path / "journal.jsonl"
    worker = await _worker(
        transport_url, names, journal, prefetch=16, concurrency=16, max_delivery_attempts=6
    )
    try:
        client = oslo_rpc_client(transport_url, topic=names["topic"], exchange=names["exchange"])
        x = f"{FAILING}{uuid.uuid4().hex[:6]}"
        x_ops = [f"{x}-scale-{i}" for i in range(200)]

        def cast_all() -> None:
            for op in x_ops:
                client.scale_vnf(CTX, vnf_id=x, op_id=op, policy="sp", type="out")
            client.instantiate_vnf(CTX, vnf=_vnf("vnf-y"), op_id="y-inst")

        await asyncio.to_thread(cast_all)

        def y_done() -> bool:
            return any(
                r["event"] == "done" and r["op_id"] == "y-inst" for r in read_journal(journal)
            )

        await wait_for(y_done, within=60, what="VNF Y's cast to be journaled")
        events = read_journal(journal)
        y_at = next(i for i, r in enumerate(events) if r["op_id"] == "y-inst")
        first_failures = [
            i for i, r in enumerate(events) if r["event"] == "failed" and r["op_id"] == x_ops[0]
        ]
        # Delivery 1 and at most two retries of X's first cast came before Y.
        assert first_failures and sum(1 for i in first_failures if i < y_at) <= 3
        # X's later casts never ran ahead of its first one (they wait behind it).
        assert all(
            r["op_id"] == x_ops[0] for r in events[: first_failures[-1]] if r["event"] == "failed"
        )
    finally:
        await worker.kill()


async def test_a_vnfs_casts_still_run_in_order_when_the_first_fails_once(
    transport_url: str, names: dict[str, str], tmp_path: Any
) -> None:
    journal = tmp_path / "journal.jsonl"
    worker = await _worker(transport_url, names, journal)
    try:
        client = oslo_rpc_client(transport_url, topic=names["topic"], exchange=names["exchange"])
        vnf_id = f"{FLAKY}{uuid.uuid4().hex[:6]}"
        ops = [f"{vnf_id}-inst", f"{vnf_id}-scale", f"{vnf_id}-term"]

        def cast_all() -> None:
            client.instantiate_vnf(CTX, vnf=_vnf(vnf_id), op_id=ops[0])
            client.scale_vnf(CTX, vnf_id=vnf_id, op_id=ops[1], policy="sp", type="out")
            client.terminate_vnf(CTX, vnf_id=vnf_id, op_id=ops[2])

        await asyncio.to_thread(cast_all)

        def done() -> list[str]:
            return [r["method"] for r in read_journal(journal) if r["event"] == "done"]

        await wait_for(lambda: len(done()) == 3, within=30, what="all three casts to complete")
        assert done() == ["instantiate_vnf", "scale_vnf", "terminate_vnf"]
        failed = [r["method"] for r in read_journal(journal) if r["event"] == "failed"]
        assert failed == ["instantiate_vnf"]  # the scale and terminate waited behind it
        log = await asyncio.to_thread(worker.log.read_text)
        assert "intake.cast_parked" in log
    finally:
        await worker.kill()
