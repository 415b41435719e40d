"""The broker side of the tail tool: its own queue, bound to the notification keys.

By default the queue is exclusive and auto-deleted (the tool starts from
now and leaves nothing behind).  With a name it is durable and kept, so what
arrived while the tool was not running is replayed when it starts again.  The
exchange is declared with the flags oslo.messaging would use; when it exists
with other flags the tool uses it as it is.  A message is acknowledged after it
was printed; messages the filter hides are acknowledged too.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractQueue

from k8s_worker.amqp.connection import ConnectionSettings, connect
from k8s_worker.amqp.topology import ExchangeSpec, RabbitSettings, declare_exchange
from k8s_worker.tail.event import Event, Malformed, parse
from k8s_worker.tail.filters import EventFilter
from k8s_worker.tail.repeats import RecentMessages
from k8s_worker.wire.envelope import header_text

LOG = structlog.get_logger(__name__)
T = TypeVar("T")

Sink = Callable[[Event | Malformed], None]


class TailEnd(enum.Enum):
    """Why a tail ended."""

    COUNT_REACHED = "count reached"
    STOPPED = "stopped"
    TIMED_OUT = "timed out"
    CONNECTION_LOST = "connection lost"


@dataclass(frozen=True)
class TailOptions:
    """What ``k8s-worker-tail`` listens to, and when it stops."""

    exchange: str
    topics: tuple[str, ...]
    queue: str | None = None
    count: int | None = None
    timeout: float | None = None
    prefetch: int = 64
    connect_attempts: int = 3


_BROKER_ERRORS = (aio_pika.exceptions.AMQPError, ConnectionError)


class _Stopped(Exception):
    pass


def ephemeral_queue_name() -> str:
    """A name operators recognise in ``rabbitmqctl list_queues``."""
    return f"k8s-worker-tail.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"


class Tail:
    """Consume notifications until stopped, timed out or ``count`` events were shown."""

    def __init__(
        self,
        *,
        settings: ConnectionSettings,
        rabbit: RabbitSettings,
        options: TailOptions,
        event_filter: EventFilter,
        sink: Sink,
    ) -> None:
        self._settings = settings
        self._rabbit = rabbit
        self._options = options
        self._filter = event_filter
        self._sink = sink
        self.shown = 0
        self.recent = RecentMessages()  # events published twice are shown once
        #: why the broker closed the connection, when it did
        self.close_reason: BaseException | None = None
        self.queue_name = options.queue or ephemeral_queue_name()

    async def run(self, stop: asyncio.Event) -> TailEnd:
        try:
            connection = await self._or_stop(
                connect(
                    self._settings, purpose="tail", max_attempts=self._options.connect_attempts
                ),
                stop,
            )
        except _Stopped:
            return TailEnd.STOPPED
        lost = asyncio.Event()

        def on_close(_: object, exc: BaseException | None = None) -> None:
            self.close_reason = self.close_reason or exc
            lost.set()

        connection.close_callbacks.add(on_close)
        try:
            queue = await self._or_stop(self._declare(connection), stop)
            return await self._consume_until(queue, stop=stop, lost=lost)
        except _Stopped:
            return TailEnd.STOPPED
        finally:
            if not connection.is_closed:
                await connection.close()

    @staticmethod
    async def _or_stop(aw: Awaitable[T], stop: asyncio.Event) -> T:
        task = asyncio.ensure_future(aw)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise _Stopped

    async def _declare(self, connection: AbstractConnection) -> AbstractQueue:
        opts = self._options
        channel = await connection.channel()
        rabbit = self._rabbit
        spec = ExchangeSpec(opts.exchange, "topic", rabbit.durable, rabbit.amqp_auto_delete)
        try:
            await declare_exchange(channel, spec)
        except aio_pika.exceptions.ChannelPreconditionFailed:
            LOG.info("tail.exchange_flags_differ", exchange=opts.exchange)
            channel = await connection.channel()
            await channel.get_exchange(opts.exchange, ensure=True)
        queue, channel = await self._declare_queue(connection, channel)
        await channel.set_qos(prefetch_count=opts.prefetch)
        keys: list[str] = []
        for topic in opts.topics:
            # A kept queue records every priority; the filter is only a view of it.
            keys += [f"{topic}.*"] if opts.queue else self._filter.routing_keys(topic)
        for key in keys:
            await queue.bind(opts.exchange, routing_key=key)
        held = queue.declaration_result.message_count if opts.queue else 0
        LOG.info(
            "tail.listening",
            queue=queue.name,
            exchange=opts.exchange,
            keys=keys,
            kept=bool(opts.queue),
            held=held,
        )
        return queue

    async def _declare_queue(
        self, connection: AbstractConnection, channel: AbstractChannel
    ) -> tuple[AbstractQueue, AbstractChannel]:
        if not self._options.queue:
            queue = await channel.declare_queue(
                self.queue_name, exclusive=True, auto_delete=True, durable=False
            )
            return queue, channel
        arguments = self._rabbit.queue_arguments(ttl=0, quorum=self._rabbit.quorum_queue)
        try:
            queue = await channel.declare_queue(
                self.queue_name, durable=True, auto_delete=False, arguments=arguments or None
            )
        except aio_pika.exceptions.ChannelPreconditionFailed:
            LOG.info("tail.queue_flags_differ", queue=self.queue_name)
            channel = await connection.channel()
            queue = await channel.declare_queue(self.queue_name, passive=True)
        return queue, channel

    async def _consume_until(
        self, queue: AbstractQueue, *, stop: asyncio.Event, lost: asyncio.Event
    ) -> TailEnd:
        consuming = asyncio.create_task(self._consume(queue))
        stopping = asyncio.create_task(stop.wait())
        losing = asyncio.create_task(lost.wait())
        waiters: set[asyncio.Future[Any]] = {consuming, stopping, losing}
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=self._options.timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in waiters:
                task.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        if consuming in done:
            error = consuming.exception()
            if isinstance(error, BrokenPipeError) or (
                error is not None and not isinstance(error, _BROKER_ERRORS)
            ):
                raise error  # the sink broke (reader went away) or a bug: not ours to hide
            if self._reached():
                return TailEnd.COUNT_REACHED
            return self._lost(error)
        if stopping in done:
            return TailEnd.STOPPED
        if losing in done:
            return self._lost(None)
        return TailEnd.TIMED_OUT

    def _lost(self, error: BaseException | None) -> TailEnd:
        reason = self.close_reason or error
        LOG.error("tail.connection_lost", error=str(reason) if reason else "consumer cancelled")
        return TailEnd.CONNECTION_LOST

    def _reached(self) -> bool:
        return self._options.count is not None and self.shown >= self._options.count

    async def _consume(self, queue: AbstractQueue) -> None:
        async with queue.iterator() as messages:
            async for message in messages:
                item = parse(
                    message.body,
                    routing_key=message.routing_key or "",
                    content_encoding=message.content_encoding,
                    compression=header_text(message.headers, "compression"),
                    message_id=message.message_id,
                )
                if isinstance(item, Malformed):
                    LOG.warning("tail.malformed", reason=item.reason, key=item.routing_key)
                    self._sink(item)
                elif self.recent.repeat(item.message_id):
                    LOG.debug("tail.repeat_skipped", message_id=item.message_id)
                elif self._filter.matches(item):
                    self._sink(item)
                    self.shown += 1
                await message.ack()
                if self._reached():
                    return
