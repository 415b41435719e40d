"""Intake throughput: N oslo casts consumed by three contenders on one broker.

(a) raw: an aio-pika consume loop that decodes the oslo envelope and acks;
(b) ours: the IntakeService (decode, validate, dispatch, ordered pool, ack
    after a no-op handler);
(c) oslo: oslo.messaging's own RPC server (threading executor) with a no-op
    endpoint.
Each contender's queue is filled first (publishing is not timed); the rate is
measured from the first to the last message handled.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from typing import Any

import aio_pika
import structlog
from oslo_config import cfg

from k8s_worker import conf as worker_conf
from k8s_worker.amqp.options import register_oslo_opts
from k8s_worker.amqp.topology import RabbitSettings, declare_queue, rpc_server_queues
from k8s_worker.intake.envelope import decode, encode
from k8s_worker.intake.service import IntakeService
from k8s_worker.intake.testing import NoopHandler

CTX = {"user_id": "bench", "project_id": "bench", "request_id": "req-bench", "auth_token": "x"}


def cast_body(i: int) -> bytes:
    """What oslo's RPCClient.cast('heal_vnf', ...) puts on the wire."""
    msg: dict[str, Any] = {
        "method": "heal_vnf",
        "args": {"vnf_id": f"vnf-{i % 100}", "op_id": f"op-{i}"},
        "version": "1.0",
        "_unique_id": uuid.uuid4().hex,
    }
    msg.update({f"_context_{k}": v for k, v in CTX.items()})
    return encode(msg)


async def fill(url: str, *, exchange: str, routing_key: str, count: int) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        target = (
            channel.default_exchange
            if not exchange
            else await channel.get_exchange(exchange, ensure=False)
        )
        batch = 500
        for start in range(0, count, batch):
            await asyncio.gather(
                *(
                    target.publish(
                        aio_pika.Message(cast_body(i), content_type="application/json"),
                        routing_key=routing_key,
                    )
                    for i in range(start, min(start + batch, count))
                )
            )


def _conf(url: str) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    register_oslo_opts(conf)
    worker_conf.register_opts(conf)
    conf([], project="bench", default_config_files=[])
    conf.set_override("transport_url", "rabbit://" + url.split("://", 1)[1])
    return conf


async def bench_raw(url: str, *, count: int, prefetch: int) -> float:
    queue_name = f"bench_raw_{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.declare_queue(queue_name)
        await fill(url, exchange="", routing_key=queue_name, count=count)
        loop = asyncio.get_running_loop()
        seen = 0
        first = last = 0.0
        done = asyncio.Event()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal seen, first, last
            decode(message.body)
            await message.ack()
            seen += 1
            if seen == 1:
                first = loop.time()
            if seen == count:
                last = loop.time()
                done.set()

        await queue.consume(on_message)
        await done.wait()
        await queue.delete(if_unused=False, if_empty=False)
    return (count - 1) / (last - first)


async def bench_ours(url: str, *, count: int, prefetch: int) -> float:
    conf = _conf(url)
    topic, host = f"bench_ours_{uuid.uuid4().hex[:8]}", "bench"
    conf.set_override("prefetch_count", prefetch, group="intake")
    handler = NoopHandler()
    handler.target = count
    service = IntakeService(conf, handler, None, topic=topic, host=host)
    specs = rpc_server_queues(
        RabbitSettings.from_conf(conf), exchange=conf.control_exchange, topic=topic, server=host
    )
    connection = await aio_pika.connect(url)
    async with connection:
        await declare_queue(await connection.channel(), specs[0])
    await fill(url, exchange=conf.control_exchange, routing_key=topic, count=count)
    stop = asyncio.Event()
    runner = asyncio.create_task(service.run(stop))
    await handler.reached.wait()
    stop.set()
    await runner
    await _delete(url, [topic, f"{topic}.{host}"])
    assert handler.first is not None and handler.last is not None
    return (count - 1) / (handler.last - handler.first)


class _OsloEndpoint:
    def __init__(self, count: int) -> None:
        self.count = count
        self.seen = 0
        self.first = self.last = 0.0
        self.done = threading.Event()
        self._lock = threading.Lock()

    def heal_vnf(self, ctxt: dict[str, Any], **kwargs: Any) -> None:
        with self._lock:
            self.seen += 1
            if self.seen == 1:
                self.first = time.monotonic()
            if self.seen == self.count:
                self.last = time.monotonic()
                self.done.set()


async def bench_oslo(url: str, *, count: int) -> float:
    import oslo_messaging

    transport_url = "rabbit://" + url.split("://", 1)[1]
    cfg.CONF([], project="bench", default_config_files=[])
    topic, host = f"bench_oslo_{uuid.uuid4().hex[:8]}", "bench"
    conf = _conf(url)
    specs = rpc_server_queues(
        RabbitSettings.from_conf(conf), exchange=conf.control_exchange, topic=topic, server=host
    )
    connection = await aio_pika.connect(url)
    async with connection:
        await declare_queue(await connection.channel(), specs[0])
    await fill(url, exchange=conf.control_exchange, routing_key=topic, count=count)
    transport = oslo_messaging.get_rpc_transport(cfg.CONF, url=transport_url)
    endpoint = _OsloEndpoint(count)
    server = oslo_messaging.get_rpc_server(
        transport,
        oslo_messaging.Target(topic=topic, server=host),
        [endpoint],
        executor="threading",
    )
    await asyncio.to_thread(server.start)
    await asyncio.to_thread(endpoint.done.wait)
    await asyncio.to_thread(server.stop)
    await asyncio.to_thread(server.wait)
    transport.cleanup()
    await _delete(url, [topic, f"{topic}.{host}"])
    return (count - 1) / (endpoint.last - endpoint.first)


async def _delete(url: str, queues: list[str]) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        for name in queues:
            channel = await connection.channel()
            await channel.queue_delete(name)


async def run(*, url: str, count: int, prefetch: int) -> dict[str, float]:
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    raw = await bench_raw(url, count=count, prefetch=prefetch)
    ours = await bench_ours(url, count=count, prefetch=prefetch)
    oslo = await bench_oslo(url, count=count)
    print(f"intake throughput, {count} casts each, prefetch {prefetch} (raw, ours)")
    print(f"  (a) raw aio-pika decode+ack : {raw:10.0f} msgs/s")
    print(f"  (b) ours (no-op handler)    : {ours:10.0f} msgs/s")
    print(f"  (c) oslo.messaging server   : {oslo:10.0f} msgs/s")
    print(f"  ours/raw  = {ours / raw:5.2f}  (target >= 0.8)")
    print(f"  ours/oslo = {ours / oslo:5.2f}  (target >= 2.0)")
    return {"raw": raw, "ours": ours, "oslo": oslo}
