"""A worker configured durable next to a control exchange someone created non-durable.

In a mixed deployment the control exchange belongs to whichever service
declared it first; when that service ran with oslo's default (non-durable) and
the worker with ``amqp_durable_queues=true``, the broker answers the worker's
declaration with 406 "inequivalent arg 'durable'".  oslo falls back to a
non-durable declaration there, and so must the worker (intake and notifier),
or it never starts.  Everything here runs against the real test-bed broker.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import uuid
from typing import Any

import aio_pika
import aiormq.exceptions
import pytest
from oslo_config import cfg
from structlog.testing import capture_logs

from k8s_worker.amqp.options import register_oslo_opts
from k8s_worker.amqp.topology import ExchangeSpec, QueueSpec, declare_queue_on
from k8s_worker.notify.notifier import Notifier, NotifierSettings
from tests.doubles.intake import WorkerProcess, oslo_rpc_client, read_journal, wait_for

CTX = {"user_id": "bob", "project_id": "tenant-b"}
FALLBACK = "amqp.declare_fallback_nondurable"


def _names(prefix: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {"topic": f"tkw_{prefix}_{suffix}", "exchange": f"tkw_x_{suffix}"}


def _durable(url: str) -> str:
    """The URL with the [oslo_messaging_rabbit] option in its query, as oslo reads it."""
    return url + "?amqp_durable_queues=true"


async def _precreate(amqp_url: str, exchange: str, *, durable: bool = False) -> None:
    """The control exchange as another service (oslo's defaults) declared it first."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_exchange(exchange, type="topic", durable=durable, auto_delete=False)


async def _is_nondurable_queue(amqp_url: str, queue: str) -> bool:
    """A non-passive non-durable declare succeeds only on a queue that is non-durable."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        try:
            async with connection.channel() as channel:
                await channel.declare_queue(queue, durable=False)
        except aiormq.exceptions.ChannelPreconditionFailed:
            return False
    return True


async def _cleanup(amqp_url: str, *, queues: list[str], exchanges: list[str]) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        for queue in queues:
            channel = await connection.channel()
            await channel.queue_delete(queue)
        for exchange in exchanges:
            channel = await connection.channel()
            await channel.exchange_delete(exchange)


def _log_records(log: pathlib.Path) -> list[dict[str, Any]]:
    records = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
    return records


@pytest.mark.parametrize("client_durable", [False, True], ids=["client-default", "client-durable"])
async def test_a_durable_worker_serves_on_a_nondurable_control_exchange(
    transport_url: str, amqp_url: str, tmp_path: pathlib.Path, client_durable: bool
) -> None:
    # The client is either the service that created the exchange (oslo's
    # defaults) or one configured like the worker (oslo's own publish falls
    # back then); both must reach the worker.
    names = _names("fallback")
    host = f"fw-{names['topic']}"
    journal = tmp_path / "journal.jsonl"
    await _precreate(amqp_url, names["exchange"])
    worker = WorkerProcess(
        transport_url=_durable(transport_url), host=host, journal=journal, **names
    )
    try:
        await worker.start()
        client_url = _durable(transport_url) if client_durable else transport_url
        client = oslo_rpc_client(client_url, **names)
        assert await asyncio.to_thread(client.ping, CTX, server=host) == "pong"
        assert await asyncio.to_thread(client.ping, CTX) == "pong"  # via the topic queue
        await asyncio.to_thread(client.heal_vnf, CTX, vnf_id="v1", op_id="fallback-op")
        done = lambda: [r for r in read_journal(journal) if r["event"] == "done"]  # noqa: E731
        await wait_for(done, within=20, what="the cast to complete")
        await asyncio.to_thread(client.ping, CTX, server=host)  # let any duplicate arrive
        assert [(r["op_id"], r["host"]) for r in done()] == [("fallback-op", host)]

        fallbacks = [r for r in _log_records(worker.log) if r.get("event") == FALLBACK]
        assert {r["queue"] for r in fallbacks} == {names["topic"], f"{names['topic']}.{host}"}
        assert all(r["level"] == "warning" for r in fallbacks)
        assert all("inequivalent arg 'durable'" in r["error"] for r in fallbacks)
        assert all(r["exchange"] == names["exchange"] for r in fallbacks)
        assert await _is_nondurable_queue(amqp_url, names["topic"])
        assert await worker.terminate() == 0
    finally:
        await worker.kill()
        consuming = [r for r in _log_records(worker.log) if r.get("event") == "intake.consuming"]
        queues = (
            consuming[0]["queues"] if consuming else [names["topic"], f"{names['topic']}.{host}"]
        )
        await _cleanup(
            amqp_url,
            queues=[*queues, f"{names['topic']}.retry"],
            exchanges=[names["exchange"], f"{names['topic']}_fanout"],
        )


async def test_the_notifier_publishes_on_a_nondurable_control_exchange(
    transport_url: str, amqp_url: str
) -> None:
    names = _names("nfallback")
    key = f"{names['topic']}.info"
    await _precreate(amqp_url, names["exchange"])
    conf = cfg.ConfigOpts()
    register_oslo_opts(conf)
    conf([], project="k8s_worker", default_config_files=[])
    conf.set_override("transport_url", _durable(transport_url))
    conf.set_override("control_exchange", names["exchange"])
    conf.set_override("topics", [names["topic"]], group="oslo_messaging_notifications")
    notifier = Notifier(
        NotifierSettings.from_conf(conf, publisher_id="k8s_worker.fallback-test"), attempts=1
    )
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(names["exchange"])
        listener = await channel.declare_queue(exclusive=True)
        await listener.bind(exchange, routing_key=key)
        with capture_logs() as logs:
            # One attempt: the fallback must work at once, not through a retry.
            await notifier.publish("vnf.fallback", {"vnf_id": "v1"}, priority="INFO")
        message = await listener.get(timeout=5)
        await message.ack()
        body = json.loads(json.loads(message.body)["oslo.message"])
        assert (body["event_type"], body["payload"]) == ("vnf.fallback", {"vnf_id": "v1"})

        fallbacks = [e for e in logs if e["event"] == FALLBACK]
        assert [(e["queue"], e["log_level"]) for e in fallbacks] == [(key, "warning")]
        assert "inequivalent arg 'durable'" in fallbacks[0]["error"]
        # oslo's default queue, declared non-durable, holds it as well.
        assert await _is_nondurable_queue(amqp_url, key)
        default = await channel.declare_queue(key, passive=True)
        assert default.declaration_result.message_count == 1
    finally:
        await notifier.close()
        await connection.close()
        await _cleanup(amqp_url, queues=[key], exchanges=[names["exchange"]])


def _spec(names: dict[str, str], *, durable: bool, **arguments: Any) -> QueueSpec:
    return QueueSpec(
        name=names["topic"],
        exchange=ExchangeSpec(names["exchange"], "topic", durable, False),
        routing_key=names["topic"],
        durable=durable,
        auto_delete=False,
        arguments=arguments,
    )


async def test_declare_queue_on_returns_the_nondurable_spec_and_leaves_the_connection_usable(
    amqp_url: str,
) -> None:
    names = _names("decl")
    await _precreate(amqp_url, names["exchange"])
    connection = await aio_pika.connect(amqp_url)
    try:
        with capture_logs() as logs:
            declared = await declare_queue_on(connection, _spec(names, durable=True))
        assert (declared.durable, declared.exchange.durable) == (False, False)
        assert declared.name == names["topic"]
        assert [e["event"] for e in logs if e["log_level"] == "warning"] == [FALLBACK]
        # Declared and bound: a publish on the exchange lands in the queue.
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(names["exchange"], ensure=False)
        await exchange.publish(aio_pika.Message(b"x"), routing_key=names["topic"])
        queue = await channel.declare_queue(names["topic"], passive=True)
        assert queue.declaration_result.message_count == 1
        # Matching flags: declared as asked, nothing logged.
        with capture_logs() as logs:
            assert await declare_queue_on(connection, declared) == declared
        assert not [e for e in logs if e["log_level"] != "debug"]
    finally:
        await connection.close()
        await _cleanup(amqp_url, queues=[names["topic"]], exchanges=[names["exchange"]])


async def test_other_precondition_failures_are_raised_unchanged(amqp_url: str) -> None:
    names = _names("decl406")
    connection = await aio_pika.connect(amqp_url)
    try:
        # The queue exists as a quorum queue: another x-queue-type is not a durability
        # matter, so no fallback.
        await declare_queue_on(connection, _spec(names, durable=True, **{"x-queue-type": "quorum"}))
        with (
            capture_logs() as logs,
            pytest.raises(aiormq.exceptions.ChannelPreconditionFailed) as info,
        ):
            await declare_queue_on(connection, _spec(names, durable=True))
        assert "inequivalent arg 'x-queue-type'" in str(info.value)
        assert not [e for e in logs if e["log_level"] != "debug"]
        # The exchange exists durable and the worker asks non-durable: the fallback
        # (non-durable) is what failed already, so the 406 is raised as it came.
        with (
            capture_logs() as logs,
            pytest.raises(aiormq.exceptions.ChannelPreconditionFailed) as info,
        ):
            await declare_queue_on(connection, _spec(names, durable=False))
        assert "inequivalent arg 'durable'" in str(info.value)
        assert not [e for e in logs if e["log_level"] != "debug"]
        assert not connection.is_closed
    finally:
        await connection.close()
        await _cleanup(amqp_url, queues=[names["topic"]], exchanges=[names["exchange"]])
