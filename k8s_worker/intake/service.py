"""The intake service: keep consuming the worker's RPC queues until told to stop.

It (re)connects with backoff, declares the oslo RPC server topology (falling
back to non-durable queues as oslo does when the control exchange exists with
another durability), consumes the topic, topic.host and fanout queues and hands
messages to the consumer.
A lost connection (or consume channel) is followed by a reconnect; unacked
messages of the dead channel return to the broker and are redelivered.  When
``stop`` is set it cancels its consumers, lets in-flight requests finish for
``[intake] drain_timeout`` seconds, cancels the rest (unacked, so handed back)
and closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from typing import Any

import aiormq.abc
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection
from oslo_config import cfg

from k8s_worker.amqp.connection import ConnectionSettings, connect
from k8s_worker.amqp.options import rabbit_options
from k8s_worker.amqp.topology import RabbitSettings, declare_queue_on, rpc_server_queues
from k8s_worker.intake.consumer import Consumer
from k8s_worker.intake.dispatcher import Dispatcher
from k8s_worker.intake.handler import Handler
from k8s_worker.intake.parking import RetryParking
from k8s_worker.intake.pool import OrderedPool
from k8s_worker.intake.replies import ReplySender
from k8s_worker.notify.notifier import Notifier

LOG = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True)
class IntakeSettings:
    """What the intake needs of the configuration, read once at start-up."""

    topic: str
    host: str
    exchange: str
    connection: ConnectionSettings
    rabbit: RabbitSettings
    concurrency: int
    prefetch: int
    drain_timeout: float
    missing_queue_timeout: float
    max_delivery_attempts: int
    dedup_cache_size: int

    @classmethod
    def from_conf(
        cls, conf: cfg.ConfigOpts, *, topic: str | None = None, host: str | None = None
    ) -> IntakeSettings:
        """From ``[k8s_worker]``, ``[intake]`` and the transport options (all
        registered by the program); ``topic`` and ``host`` override the file's."""
        rabbit = RabbitSettings.from_conf(conf)
        concurrency = conf.k8s_worker.concurrency
        return cls(
            topic=topic or conf.k8s_worker.topic,
            host=host or conf.k8s_worker.host,
            exchange=conf.control_exchange,
            connection=ConnectionSettings.from_conf(conf),
            rabbit=rabbit,
            concurrency=concurrency,
            prefetch=rabbit.prefetch_count or conf.intake.prefetch_count or 2 * concurrency,
            drain_timeout=conf.intake.drain_timeout,
            missing_queue_timeout=rabbit_options(conf).kombu_missing_consumer_retry_timeout,
            max_delivery_attempts=conf.intake.max_delivery_attempts,
            dedup_cache_size=conf.intake.dedup_cache_size,
        )


class IntakeService:
    """The intake as a whole: connects to the broker (again after a loss), declares the
    topic queues, consumes with the Consumer until stopped, then drains what it holds."""

    def __init__(
        self, settings: IntakeSettings, handler: Handler, notifier: Notifier | None
    ) -> None:
        self.topic = settings.topic
        self.host = settings.host
        self.exchange = settings.exchange
        self._connection_settings = settings.connection
        self._rabbit = settings.rabbit
        self.prefetch = settings.prefetch
        self._drain_timeout = settings.drain_timeout
        self._pool = OrderedPool(concurrency=settings.concurrency)
        self._reply_channel: AbstractChannel | None = None
        self._replies = ReplySender(
            lambda: self._reply_channel,
            missing_queue_timeout=settings.missing_queue_timeout,
        )
        self._parking = RetryParking(
            lambda: self._reply_channel,
            settings=self._rabbit,
            exchange=self.exchange,
            topic=self.topic,
        )
        self._consumer = Consumer(
            dispatcher=Dispatcher(handler),
            pool=self._pool,
            replies=self._replies,
            notifier=notifier,
            max_delivery_attempts=settings.max_delivery_attempts,
            dedup_cache_size=settings.dedup_cache_size,
            parking=self._parking,
        )
        self._fanout_id = uuid.uuid4().hex
        #: Set while the service consumes (cleared while reconnecting).
        self.ready = asyncio.Event()
        self.queues = [
            q.name
            for q in rpc_server_queues(
                self._rabbit,
                exchange=self.exchange,
                topic=self.topic,
                server=self.host,
                fanout_id=self._fanout_id,
            )
        ]

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, then drain and return."""
        while not stop.is_set():
            connection = await self._connect_unless_stopped(stop)
            if connection is None:
                break
            try:
                lost = asyncio.Event()
                connection.close_callbacks.add(lambda *_, _lost=lost: _lost.set())
                tags = await self._start_consuming(connection, lost)
                self.ready.set()
                LOG.info("intake.consuming", topic=self.topic, host=self.host, queues=self.queues)
                await _first(stop.wait(), lost.wait())
                self.ready.clear()
                if stop.is_set():
                    await self._drain(connection, tags)
                    return
                LOG.warning("intake.connection_lost", topic=self.topic, host=self.host)
            except Exception as exc:
                self.ready.clear()
                LOG.warning("intake.consume_failed", error=repr(exc))
                await _sleep_unless(stop, self._connection_settings.retry_interval)
            finally:
                with contextlib.suppress(Exception):
                    await connection.close()
        await self._pool.drain(grace=self._drain_timeout)

    async def _connect_unless_stopped(self, stop: asyncio.Event) -> AbstractConnection | None:
        task = asyncio.create_task(connect(self._connection_settings, purpose="intake"))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        return None

    async def _start_consuming(
        self, connection: AbstractConnection, lost: asyncio.Event
    ) -> list[tuple[aiormq.abc.AbstractChannel, str]]:
        channel = await connection.channel(publisher_confirms=False)
        channel.close_callbacks.add(lambda *_: lost.set())
        await channel.set_qos(prefetch_count=self.prefetch)
        self._reply_channel = await connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        await self._declare_retry_queue(connection)
        underlay = await channel.get_underlay_channel()
        tags: list[tuple[aiormq.abc.AbstractChannel, str]] = []
        for spec in rpc_server_queues(
            self._rabbit,
            exchange=self.exchange,
            topic=self.topic,
            server=self.host,
            fanout_id=self._fanout_id,
        ):
            # Declared on a channel of its own: the 406 of a durability mismatch
            # (and its non-durable retry) must not close the consume channel.
            declared = await declare_queue_on(connection, spec)
            # Consumed on aiormq's channel: see the consumer module for why.
            ok = await underlay.basic_consume(
                declared.name,
                self._consumer.on_message,
                arguments=declared.consumer_arguments or None,
            )
            assert ok.consumer_tag is not None
            tags.append((underlay, ok.consumer_tag))
        return tags

    async def _declare_retry_queue(self, connection: AbstractConnection) -> None:
        """The delay queue of parked casts, on a channel of its own: a broker that
        refuses it (a queue of that name with other arguments) closes only that
        channel, and failed casts then wait and are requeued as before."""
        try:
            channel = await connection.channel(publisher_confirms=False)
            try:
                await self._parking.declare(channel)
            finally:
                with contextlib.suppress(Exception):
                    await channel.close()
        except Exception as exc:
            LOG.warning(
                "intake.retry_queue_unavailable", queue=self._parking.queue, error=repr(exc)
            )

    async def _drain(
        self, connection: AbstractConnection, tags: list[tuple[aiormq.abc.AbstractChannel, str]]
    ) -> None:
        for underlay, tag in tags:
            with contextlib.suppress(Exception):
                await underlay.basic_cancel(tag)
        LOG.info("intake.draining", in_flight=self._pool.pending, grace=self._drain_timeout)
        if not await self._pool.drain(grace=self._drain_timeout):
            LOG.warning("intake.drain_timeout", handed_back=self._pool.pending)
            await self._pool.cancel()
        await connection.close()
        LOG.info("intake.stopped")


async def run_intake(
    conf: cfg.ConfigOpts,
    handler: Handler,
    notifier: Notifier | None,
    *,
    stop: asyncio.Event,
    topic: str | None = None,
    host: str | None = None,
) -> None:
    """Run an IntakeService until ``stop`` is set."""
    settings = IntakeSettings.from_conf(conf, topic=topic, host=host)
    await IntakeService(settings, handler, notifier).run(stop)


async def _first(*aws: Any) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
