"""The intake against a real RabbitMQ and an unmodified oslo.messaging peer.

One worker process (the devserver, with the journal test-double handler)
serves a topic of its own; oslo's RPCClient casts and calls it and oslo's
notification listener receives its error notifications.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import oslo_messaging
import pytest
from oslo_config import cfg
from oslo_messaging.rpc.dispatcher import NoSuchMethod, UnsupportedVersion

from k8s_worker.wire.envelope import encode
from rpc.exceptions import InvalidArguments, VnfNotFound
from tests.doubles.intake import (
    EXPLODE,
    WorkerProcess,
    oslo_rpc_client,
    read_journal,
    wait_for,
)

CTX = {"user_id": "alice", "project_id": "tenant-a", "auth_token": "s3cr3t-token"}


class _Errors:
    """An oslo notification endpoint collecting ERROR notifications."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def error(
        self, ctxt: dict, publisher_id: str, event_type: str, payload: dict, metadata: dict
    ) -> None:
        with self._lock:
            self.received.append(
                {
                    "ctxt": ctxt,
                    "publisher_id": publisher_id,
                    "event_type": event_type,
                    "payload": payload,
                }
            )


@pytest.fixture(scope="module")
def names() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "topic": f"tkw_rpc_{suffix}",
        "exchange": f"tkw_x_{suffix}",
        "notify": f"tkw_n_{suffix}",
        "host": f"w-{suffix}",
    }


@pytest.fixture(scope="module")
async def worker(
    transport_url: str, names: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkerProcess]:
    journal = tmp_path_factory.mktemp("intake") / "journal.jsonl"
    proc = WorkerProcess(
        transport_url=transport_url,
        host=names["host"],
        topic=names["topic"],
        exchange=names["exchange"],
        notify_topic=names["notify"],
        journal=journal,
    )
    proc.journal = journal  # type: ignore[attr-defined]
    await proc.start()
    yield proc
    assert await proc.terminate() == 0
    await _delete_queues(transport_url, names)


async def _delete_queues(transport_url: str, names: dict[str, str]) -> None:
    connection = await aio_pika.connect("amqp://" + transport_url.removeprefix("rabbit://"))
    async with connection:
        for queue in (
            names["topic"],
            f"{names['topic']}.retry",
            f"{names['topic']}.{names['host']}",
            f"{names['notify']}.error",
        ):
            channel = await connection.channel()
            try:
                await channel.queue_delete(queue)
            except aio_pika.exceptions.AMQPError:
                pass
        channel = await connection.channel()
        await channel.exchange_delete(names["exchange"])


@pytest.fixture(scope="module")
def client(transport_url: str, names: dict[str, str]) -> Any:
    return oslo_rpc_client(transport_url, topic=names["topic"], exchange=names["exchange"])


@pytest.fixture(scope="module")
def errors(transport_url: str, names: dict[str, str], worker: WorkerProcess) -> Any:
    oslo_rpc_client(transport_url, topic=names["topic"], exchange=names["exchange"])  # parses CONF
    transport = oslo_messaging.get_notification_transport(cfg.CONF, url=transport_url)
    endpoint = _Errors()
    listener = oslo_messaging.get_notification_listener(
        transport,
        [oslo_messaging.Target(topic=names["notify"], exchange=names["exchange"])],
        [endpoint],
        executor="threading",
    )
    listener.start()
    yield endpoint
    listener.stop()
    listener.wait()


def _vnf(vnf_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": vnf_id, "name": "web", "tenant_id": "tenant-a", "vnfd": "tosca: {}", **extra}


def _done(worker: WorkerProcess) -> list[dict[str, Any]]:
    return [r for r in read_journal(worker.journal) if r["event"] == "done"]  # type: ignore[attr-defined]


async def test_casts_of_every_method_complete_in_arrival_order(
    client: Any, worker: WorkerProcess
) -> None:
    vnf_id = f"vnf-{uuid.uuid4().hex[:6]}"
    ops = [f"{vnf_id}-op{i}" for i in range(5)]
    await asyncio.to_thread(client.instantiate_vnf, CTX, vnf=_vnf(vnf_id), op_id=ops[0])
    await asyncio.to_thread(
        client.scale_vnf, CTX, vnf_id=vnf_id, op_id=ops[1], policy="sp", type="out"
    )
    await asyncio.to_thread(client.heal_vnf, CTX, vnf_id=vnf_id, op_id=ops[2], vdus=["vdu1"])
    await asyncio.to_thread(client.update_vnf, CTX, vnf_id=vnf_id, op_id=ops[3], config={"a": 1})
    await asyncio.to_thread(
        client.alarm, CTX, vnf_id=vnf_id, policy="sp", trigger="cpu", state="firing"
    )
    await asyncio.to_thread(client.terminate_vnf, CTX, vnf_id=vnf_id, op_id=ops[4])

    def finished() -> bool:
        return any(r["op_id"] == ops[4] for r in _done(worker))

    await wait_for(finished, within=20, what="terminate_vnf to complete")
    mine = [
        r["method"]
        for r in _done(worker)
        if (r["op_id"] or "").startswith(vnf_id) or r["op_id"] is None
    ]
    assert mine == [
        "instantiate_vnf",
        "scale_vnf",
        "heal_vnf",
        "update_vnf",
        "alarm",
        "terminate_vnf",
    ]


async def test_calls_return_the_handlers_result(client: Any, worker: WorkerProcess) -> None:
    vnf_id = f"vnf-{uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(client.instantiate_vnf, CTX, vnf=_vnf(vnf_id), op_id=f"{vnf_id}-i")
    got = await asyncio.to_thread(client.get_vnf, CTX, vnf_id=vnf_id)  # same VNF: after the cast
    assert got["id"] == vnf_id and got["status"] == "ACTIVE" and got["served_by"] == worker.host
    listed = await asyncio.to_thread(client.list_vnfs, CTX, tenant_id="tenant-a")
    assert vnf_id in {v["id"] for v in listed}
    assert await asyncio.to_thread(client.list_vnfs, CTX, tenant_id="nobody") == []


async def test_oslo_rpc_server_ping(client: Any, worker: WorkerProcess) -> None:
    assert await asyncio.to_thread(client.ping, CTX) == "pong"
    assert await asyncio.to_thread(client.ping, CTX, server=worker.host) == "pong"


async def test_call_monitor_keeps_a_long_call_alive(client: Any, worker: WorkerProcess) -> None:
    # The call outlives its monitor timeout twice over: only heartbeats keep it
    # alive (4 s, not less, leaves room for a stall on a loaded machine).
    slow = client.prepare(timeout=30, call_monitor_timeout=4)
    got = await asyncio.to_thread(slow.call, CTX, "get_vnf", vnf_id="slow-9")
    assert got["id"] == "slow-9"


async def test_failing_calls_raise_the_right_class(client: Any, worker: WorkerProcess) -> None:
    with pytest.raises(VnfNotFound) as info:
        await asyncio.to_thread(client.get_vnf, CTX, vnf_id="no-such-vnf")
    assert info.value.kwargs == {"vnf_id": "no-such-vnf"}
    raw = client.prepare(timeout=15)
    with pytest.raises(InvalidArguments, match=r"get_vnf: vnf_id: must be a string"):
        await asyncio.to_thread(raw.call, CTX, "get_vnf", vnf_id=42)
    with pytest.raises(NoSuchMethod):
        await asyncio.to_thread(raw.call, CTX, "reboot_everything")
    with pytest.raises(UnsupportedVersion):
        await asyncio.to_thread(
            client.prepare(timeout=15, version="2.0", version_cap=None).call,
            CTX,
            "get_vnf",
            vnf_id="x",
        )
    with pytest.raises(UnsupportedVersion):
        await asyncio.to_thread(
            client.prepare(timeout=15, version="1.9", version_cap=None).call,
            CTX,
            "get_vnf",
            vnf_id="x",
        )


async def test_a_duplicate_op_id_is_executed_once(client: Any, worker: WorkerProcess) -> None:
    vnf_id = f"vnf-{uuid.uuid4().hex[:6]}"
    op = f"{vnf_id}-dup"
    for _ in range(3):
        await asyncio.to_thread(
            client.scale_vnf, CTX, vnf_id=vnf_id, op_id=op, policy="p", type="in"
        )
    await asyncio.to_thread(client.terminate_vnf, CTX, vnf_id=vnf_id, op_id=f"{vnf_id}-end")
    await wait_for(
        lambda: any(r["op_id"] == f"{vnf_id}-end" for r in _done(worker)),
        within=20,
        what="terminate",
    )
    assert [r["op_id"] for r in _done(worker)].count(op) == 1


@pytest.mark.parametrize("codec", ["gzip", "bzip2", "lzma"])
async def test_casts_and_calls_compressed_by_the_peer_are_read(
    client: Any, worker: WorkerProcess, transport_url: str, names: dict[str, str], codec: str
) -> None:
    """A conductor with ``[oslo_messaging_rabbit] kombu_compression`` set."""
    cfg.CONF.set_override("kombu_compression", codec, group="oslo_messaging_rabbit")
    try:
        zipped = oslo_rpc_client(transport_url, topic=names["topic"], exchange=names["exchange"])
        vnf_id = f"vnf-{codec}-{uuid.uuid4().hex[:6]}"
        await asyncio.to_thread(
            zipped.instantiate_vnf, CTX, vnf=_vnf(vnf_id, config={"k": "v" * 2000}), op_id=vnf_id
        )
        got = await asyncio.to_thread(zipped.get_vnf, CTX, vnf_id=vnf_id)
    finally:
        cfg.CONF.clear_override("kombu_compression", group="oslo_messaging_rabbit")
    assert got["id"] == vnf_id and got["status"] == "ACTIVE"
    assert [r["op_id"] for r in _done(worker)].count(vnf_id) == 1


async def test_bad_casts_are_reported_once_and_never_loop(
    client: Any, worker: WorkerProcess, errors: _Errors, amqp_url: str, names: dict[str, str]
) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(names["exchange"])
        bodies = [
            b"this is not json",
            b'{"oslo.version": "2.0", "oslo.message": "{broken"}',
            b"[1, 2, 3]",
            encode({"method": "frobnicate_vnf", "args": {"vnf_id": "v"}, "_unique_id": "u1"}),
            encode(
                {
                    "method": "scale_vnf",
                    "args": {"vnf_id": "v-bad", "op_id": "o", "policy": "p", "type": "sideways"},
                    "_context_auth_token": "s3cr3t-token",
                    "_unique_id": "u2",
                }
            ),
            encode(
                {
                    "method": "instantiate_vnf",
                    "args": {"vnf": _vnf("v-boom", name=EXPLODE), "op_id": "boom"},
                    "_unique_id": "u3",
                }
            ),
            # Fields of the wrong JSON type (they once jammed a prefetch slot for good).
            encode(
                {"method": "heal_vnf", "args": {"vnf_id": "v-h", "op_id": "h"}, "_unique_id": ["x"]}
            ),
            encode(
                {"method": "alarm", "args": {"vnf_id": "v-a"}, "namespace": {}, "_unique_id": "u5"}
            ),
        ]
        for body in bodies:
            await exchange.publish(
                aio_pika.Message(body, content_type="application/json"), routing_key=names["topic"]
            )

    def reported() -> set[str]:
        return {e["event_type"] for e in errors.received}

    await wait_for(
        lambda: {"vnf.scale.error", "vnf.instantiate.error"} <= reported(), within=30, what="errors"
    )
    await wait_for(lambda: len(errors.received) >= 8, within=10, what="all eight reports")
    by_type: dict[str, list[dict[str, Any]]] = {}
    for e in errors.received:
        by_type.setdefault(e["event_type"], []).append(e)
    assert len(by_type["vnf.request.error"]) == 4  # 3 undecodable + 1 unknown method
    heal = by_type["vnf.heal.error"][0]["payload"]
    assert (
        heal["error"]["type"] == "MalformedRequest"
        and "'_unique_id' is a list" in (heal["error"]["message"])
    )
    alarm = by_type["vnf.alarm.error"][0]["payload"]
    assert "'namespace' is a dict" in alarm["error"]["message"]
    scale = by_type["vnf.scale.error"][0]
    assert scale["publisher_id"] == f"k8s_worker.{worker.host}"
    assert scale["payload"]["vnf_id"] == "v-bad" and scale["payload"]["op_id"] == "o"
    assert scale["payload"]["error"]["type"] == "InvalidArguments"
    assert "scale_vnf: type: must be one of" in scale["payload"]["error"]["message"]
    boom = by_type["vnf.instantiate.error"][0]["payload"]
    assert boom["error"] == {"type": "RuntimeError", "message": "instantiate exploded on purpose"}
    assert "s3cr3t" not in json.dumps(errors.received)
    # Still serving, nothing left in the queue, nothing redelivered again.
    assert await asyncio.to_thread(client.ping, CTX) == "pong"
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(names["topic"], passive=True)
        assert queue.declaration_result.message_count == 0
    assert len(errors.received) == 8
    log = await asyncio.to_thread(pathlib.Path(worker.log).read_text)
    assert "s3cr3t" not in log


async def test_replies_to_a_caller_that_is_gone_are_dropped_after_the_first(
    transport_url: str, amqp_url: str, tmp_path: pathlib.Path
) -> None:
    """As oslo's ObsoleteReplyQueuesCache: one abandoned reply marks the queue gone."""
    suffix = uuid.uuid4().hex[:8]
    names = {"topic": f"tkw_gone_{suffix}", "exchange": f"tkw_x_{suffix}", "host": f"g-{suffix}"}
    worker = WorkerProcess(
        # The rabbit option through the URL's query, as oslo allows.
        transport_url=transport_url + "?kombu_missing_consumer_retry_timeout=2",
        journal=tmp_path / "journal.jsonl",
        **names,
    )
    await worker.start()
    try:
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.get_exchange(names["exchange"])
            for n in (1, 2):  # the same VNF: the second waits for the first
                body = encode(
                    {
                        "method": "get_vnf",
                        "args": {"vnf_id": "v-gone"},
                        "_msg_id": f"m{n}",
                        "_reply_q": f"reply_gone_{suffix}",
                        "_unique_id": f"g{n}",
                    }
                )
                await exchange.publish(aio_pika.Message(body), routing_key=names["topic"])

        def log() -> str:
            return pathlib.Path(worker.log).read_text()

        await wait_for(
            lambda: "intake.reply_dropped_obsolete_queue" in log(), within=20, what="the drop"
        )
        records = [json.loads(line) for line in log().splitlines() if line.startswith("{")]
        abandoned = [r["msg_id"] for r in records if r["event"] == "intake.reply_abandoned"]
        dropped = [
            r["msg_id"] for r in records if r["event"] == "intake.reply_dropped_obsolete_queue"
        ]
        assert (abandoned, dropped) == (["m1"], ["m2"])
    finally:
        await worker.kill()
        await _delete_queues(transport_url, {**names, "notify": "unused"})


async def test_sigterm_drains_in_flight_casts_and_exits_zero(
    transport_url: str, tmp_path: pathlib.Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    names = {
        "topic": f"tkw_drain_{suffix}",
        "exchange": f"tkw_x_{suffix}",
        "notify": "n",
        "host": f"d-{suffix}",
    }
    journal = tmp_path / "journal.jsonl"
    proc = await WorkerProcess(
        transport_url=transport_url,
        host=names["host"],
        topic=names["topic"],
        exchange=names["exchange"],
        journal=journal,
        delay=1.0,
    ).start()
    try:
        client = oslo_rpc_client(transport_url, topic=names["topic"], exchange=names["exchange"])
        for i in range(3):
            await asyncio.to_thread(client.heal_vnf, CTX, vnf_id=f"v{i}", op_id=f"drain-{i}")
        await wait_for(
            lambda: sum(r["event"] == "start" for r in read_journal(journal)) == 3,
            within=20,
            what="starts",
        )
        assert await proc.terminate() == 0
        done = {r["op_id"] for r in read_journal(journal) if r["event"] == "done"}
        assert done == {"drain-0", "drain-1", "drain-2"}
    finally:
        await proc.kill()
        await _delete_queues(transport_url, names)
