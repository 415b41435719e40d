"""Several worker processes on one topic: sharing, SIGKILL, broker restart.

Replicas are devserver subprocesses sharing a JSON-lines journal (the stand-in
for the VNF record), so "completed exactly once" is checked across processes.
The broker-restart test uses a private RabbitMQ node (its own port and data
directory) so the shared test-bed broker is never restarted under others.
"""

from __future__ import annotations

import asyncio
import collections
import pathlib
import uuid
from typing import Any

import aio_pika

from tests.doubles.intake import WorkerProcess, oslo_rpc_client, read_journal, wait_for
from tests.functional.private_rabbit import PRIVATE_PORT, PrivateRabbit

CTX = {"user_id": "bob", "project_id": "tenant-b"}


def _names(prefix: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {"topic": f"tkw_{prefix}_{suffix}", "exchange": f"tkw_x_{suffix}"}


def _done(journal: pathlib.Path) -> list[dict[str, Any]]:
    return [r for r in read_journal(journal) if r["event"] == "done"]


async def _cleanup(amqp_url: str, names: dict[str, str], hosts: list[str]) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        for queue in [
            names["topic"],
            f"{names['topic']}.retry",
            *(f"{names['topic']}.{h}" for h in hosts),
        ]:
            channel = await connection.channel()
            await channel.queue_delete(queue)
        channel = await connection.channel()
        await channel.exchange_delete(names["exchange"])


async def test_two_workers_both_consume(
    transport_url: str, amqp_url: str, tmp_path: pathlib.Path
) -> None:
    names = _names("pair")
    journal = tmp_path / "journal.jsonl"
    workers = [
        WorkerProcess(
            transport_url=transport_url,
            host=f"w{i}-{names['topic']}",
            journal=journal,
            delay=0.05,
            **names,
        )
        for i in (1, 2)
    ]
    try:
        await asyncio.gather(*(w.start() for w in workers))
        client = oslo_rpc_client(transport_url, **names)
        for w in workers:
            assert await asyncio.to_thread(client.ping, CTX, server=w.host) == "pong"
        ops = [f"pair-{i}" for i in range(40)]
        for i, op in enumerate(ops):
            await asyncio.to_thread(client.heal_vnf, CTX, vnf_id=f"v{i}", op_id=op)
        await wait_for(lambda: len(_done(journal)) >= len(ops), within=30, what="all casts done")
        done = _done(journal)
        assert sorted(r["op_id"] for r in done) == sorted(ops)
        assert {r["host"] for r in done} == {w.host for w in workers}
    finally:
        for w in workers:
            await w.kill()
        await _cleanup(amqp_url, names, [w.host for w in workers])


async def test_a_cast_whose_worker_is_killed_is_completed_once_by_another(
    transport_url: str, amqp_url: str, tmp_path: pathlib.Path
) -> None:
    names = _names("kill")
    journal = tmp_path / "journal.jsonl"
    doomed = WorkerProcess(
        transport_url=transport_url, host="doomed", journal=journal, delay=30, **names
    )
    survivor = WorkerProcess(transport_url=transport_url, host="survivor", journal=journal, **names)
    try:
        await doomed.start()
        client = oslo_rpc_client(transport_url, **names)
        vnf = {"id": "vk", "name": "web", "tenant_id": "tenant-b", "vnfd": "tosca: {}"}
        await asyncio.to_thread(client.instantiate_vnf, CTX, vnf=vnf, op_id="kill-op")
        await wait_for(
            lambda: any(
                r["event"] == "start" and r["host"] == "doomed" for r in read_journal(journal)
            ),
            within=20,
            what="the doomed worker to start the operation",
        )
        await doomed.kill()  # SIGKILL mid-operation: nothing acked
        await survivor.start()
        await wait_for(lambda: _done(journal), within=30, what="the survivor to complete it")
        await asyncio.to_thread(client.ping, CTX, server="survivor")  # let any duplicate arrive
        done = _done(journal)
        assert [(r["op_id"], r["host"]) for r in done] == [("kill-op", "survivor")]
    finally:
        await doomed.kill()
        await survivor.kill()
        await _cleanup(amqp_url, names, ["doomed", "survivor"])


async def test_no_cast_is_lost_across_a_broker_restart(
    private_rabbit: PrivateRabbit, private_broker: str, tmp_path: pathlib.Path
) -> None:
    names = _names("restart")
    # Durable queues asked for in the URL's query (oslo's rabbit driver reads
    # [oslo_messaging_rabbit] options there): the same URL for both peers.
    url = private_broker + "?amqp_durable_queues=true"
    journal = tmp_path / "journal.jsonl"
    worker = WorkerProcess(
        transport_url=url,
        host="rw",
        journal=journal,
        delay=0.1,
        concurrency=2,
        **names,
    )
    client = oslo_rpc_client(url, **names)
    try:
        await worker.start()
        ops = [f"restart-{i}" for i in range(40)]
        for i, op in enumerate(ops[:20]):
            await asyncio.to_thread(client.heal_vnf, CTX, vnf_id=f"v{i}", op_id=op)
        await wait_for(lambda: len(_done(journal)) >= 3, within=20, what="the first casts")
        # Mid-stream: some done, some in flight, some queued.
        await asyncio.to_thread(private_rabbit.ctl, "stop_app")
        await asyncio.to_thread(private_rabbit.ctl, "start_app")
        for i, op in enumerate(ops[20:], start=20):
            await asyncio.to_thread(client.heal_vnf, CTX, vnf_id=f"v{i}", op_id=op)
        await wait_for(
            lambda: {r["op_id"] for r in _done(journal)} >= set(ops), within=60, what="every cast"
        )
        counts = collections.Counter(r["op_id"] for r in _done(journal))
        assert set(counts) == set(ops)
        assert max(counts.values()) == 1
        assert await worker.terminate() == 0
    finally:
        await worker.kill()
        # Closed now: left open, it keeps reconnecting to the node once the node stops.
        await asyncio.to_thread(client.transport.cleanup)
        connection = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1:{PRIVATE_PORT}/")
        async with connection:
            for queue in (names["topic"], f"{names['topic']}.rw", f"{names['topic']}.retry"):
                channel = await connection.channel()
                await channel.queue_delete(queue)
