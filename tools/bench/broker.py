"""Broker-side preparation of a benchmark run: declare, pre-load, check, clean up.

The consumer under test must never wait for a producer: a run measures the
drain rate of a queue that already holds every message.  One raw aio-pika
publisher with publisher confirms pipelines the bodies (windows of 1000
unconfirmed publishes), then the queue depth is read back until the broker
reports all of them ready, and only then is the consumer started.  After the
consumer is gone the depth is read again: a message that was not really
acknowledged returns to the queue, so a non-zero depth invalidates the run.
"""

from __future__ import annotations

import asyncio

import aio_pika

from k8s_worker.amqp.topology import QueueSpec, declare_queue

_WINDOW = 1000


async def declare(url: str, spec: QueueSpec) -> None:
    """Declare the queue (and its exchange and binding) exactly as an oslo RPC server would."""
    connection = await aio_pika.connect(url)
    async with connection:
        await declare_queue(await connection.channel(), spec)


async def fill(url: str, queue: str, bodies: list[bytes]) -> None:
    """Publish ``bodies`` straight to ``queue`` and wait until all of them are ready."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = channel.default_exchange
        for start in range(0, len(bodies), _WINDOW):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            body, content_type="application/json", content_encoding="utf-8"
                        ),
                        routing_key=queue,
                    )
                    for body in bodies[start : start + _WINDOW]
                )
            )
        for _ in range(200):
            if await depth(url, queue, channel=channel) >= len(bodies):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{queue}: the broker never reported {len(bodies)} ready messages")


async def depth(
    url: str, queue: str, *, channel: aio_pika.abc.AbstractChannel | None = None
) -> int:
    """Messages ready in ``queue`` (a passive declare; unacked ones are not counted)."""
    if channel is not None:
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0
    connection = await aio_pika.connect(url)
    async with connection:
        return await depth(url, queue, channel=await connection.channel())


async def delete(url: str, queues: list[str]) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        for name in queues:
            channel = await connection.channel()
            await channel.queue_delete(name)
