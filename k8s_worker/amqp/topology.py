"""The exchanges, queues and bindings an oslo.messaging RPC server declares.

For ``Target(topic, server=host)`` the rabbit driver consumes three queues:
``<topic>`` and ``<topic>.<host>`` on the control exchange (type topic) and a
``<topic>_fanout_<uuid>`` queue on the ``<topic>_fanout`` exchange.  Flags and
arguments follow ``[oslo_messaging_rabbit]`` exactly as
``impl_rabbit.Connection.declare_{topic,fanout}_consumer`` compute them, so an
unmodified oslo client and an oslo server can share the same broker objects.

``declare_queue_on`` also does oslo's fallback to a non-durable declaration
(``impl_rabbit.Consumer._declare_fallback_nondurable``): when another service
created the control exchange first with a different durability, the broker
refuses ours with 406 and the queue is declared non-durable instead.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import aiormq.exceptions
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractQueue
from oslo_config import cfg

from k8s_worker.amqp.options import rabbit_options

LOG = structlog.get_logger(__name__)

#: What oslo looks for in a PreconditionFailed before it falls back (impl_rabbit).
DURABLE_MISMATCH = "PRECONDITION_FAILED - inequivalent arg 'durable'"


@dataclass(frozen=True)
class RabbitSettings:
    """The ``[oslo_messaging_rabbit]`` options that shape declarations."""

    amqp_durable_queues: bool = False
    amqp_auto_delete: bool = False
    ha_queues: bool = False
    quorum_queue: bool = False
    transient_quorum_queue: bool = False
    quorum_delivery_limit: int = 0
    quorum_max_memory_length: int = 0
    quorum_max_memory_bytes: int = 0
    transient_queues_ttl: int = 1800
    stream_fanout: bool = False
    cancel_on_failover: bool = False
    prefetch_count: int = 0

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts, *, url: str | None = None) -> RabbitSettings:
        r = rabbit_options(conf, url=url)
        if r.rabbit_quorum_queue and r.rabbit_ha_queues:
            raise RuntimeError(
                "Configuration Error: rabbit_quorum_queue and rabbit_ha_queues both enabled"
            )
        return cls(
            amqp_durable_queues=r.amqp_durable_queues,
            amqp_auto_delete=r.amqp_auto_delete,
            ha_queues=r.rabbit_ha_queues,
            quorum_queue=r.rabbit_quorum_queue,
            transient_quorum_queue=r.rabbit_transient_quorum_queue,
            quorum_delivery_limit=r.rabbit_quorum_delivery_limit,
            quorum_max_memory_length=r.rabbit_quorum_max_memory_length,
            quorum_max_memory_bytes=r.rabbit_quorum_max_memory_bytes,
            transient_queues_ttl=r.rabbit_transient_queues_ttl,
            stream_fanout=r.rabbit_stream_fanout,
            cancel_on_failover=r.enable_cancel_on_failover,
            prefetch_count=r.rabbit_qos_prefetch_count,
        )

    @property
    def durable(self) -> bool:
        """Quorum queues are always durable (impl_rabbit.Connection.durable)."""
        return self.amqp_durable_queues or self.quorum_queue

    def queue_arguments(self, *, ttl: int, quorum: bool, stream: bool = False) -> dict[str, Any]:
        """impl_rabbit._get_queue_arguments."""
        args: dict[str, Any] = {}
        if self.ha_queues:
            args["x-ha-policy"] = "all"
        if quorum:
            args["x-queue-type"] = "quorum"
            if self.quorum_delivery_limit:
                args["x-delivery-limit"] = self.quorum_delivery_limit
            if self.quorum_max_memory_length:
                args["x-max-in-memory-length"] = self.quorum_max_memory_length
            if self.quorum_max_memory_bytes:
                args["x-max-in-memory-bytes"] = self.quorum_max_memory_bytes
        if ttl > 0:
            args["x-expires"] = ttl * 1000
        if stream:
            args = {"x-queue-type": "stream"}
            if ttl > 0:
                args["x-max-age"] = f"{ttl}s"
        return args


@dataclass(frozen=True)
class ExchangeSpec:
    """An exchange as oslo.messaging declares it (a redeclaration must match, or the broker
    refuses it)."""

    name: str
    type: str
    durable: bool
    auto_delete: bool


@dataclass(frozen=True)
class QueueSpec:
    """A queue, the exchange it is bound to and its consumer arguments."""

    name: str
    exchange: ExchangeSpec
    routing_key: str
    durable: bool
    auto_delete: bool
    arguments: dict[str, Any] = field(default_factory=dict)
    consumer_arguments: dict[str, Any] = field(default_factory=dict)


def rpc_server_queues(
    settings: RabbitSettings,
    *,
    exchange: str,
    topic: str,
    server: str,
    fanout_id: str | None = None,
) -> list[QueueSpec]:
    """The queues of an oslo RPC server for Target(topic, server): topic, topic.server, fanout."""
    consumer_args: dict[str, Any] = (
        {"x-cancel-on-ha-failover": True} if settings.cancel_on_failover else {}
    )
    control = ExchangeSpec(exchange, "topic", settings.durable, settings.amqp_auto_delete)
    topic_args = settings.queue_arguments(ttl=0, quorum=settings.quorum_queue)
    queues = [
        QueueSpec(
            name=key,
            exchange=control,
            routing_key=key,
            durable=settings.durable,
            auto_delete=settings.amqp_auto_delete,
            arguments=topic_args,
            consumer_arguments=consumer_args,
        )
        for key in (topic, f"{topic}.{server}")
    ]
    fanout_durable = settings.transient_quorum_queue or settings.stream_fanout
    if settings.stream_fanout:
        fanout_name = f"{topic}_fanout"
        fanout_consumer_args: dict[str, Any] = {"x-stream-offset": "last"}
    else:
        fanout_name = f"{topic}_fanout_{fanout_id or uuid.uuid4().hex}"
        fanout_consumer_args = consumer_args
    queues.append(
        QueueSpec(
            name=fanout_name,
            exchange=ExchangeSpec(f"{topic}_fanout", "fanout", fanout_durable, True),
            routing_key=topic,
            durable=fanout_durable,
            auto_delete=False,
            arguments=settings.queue_arguments(
                ttl=settings.transient_queues_ttl,
                quorum=settings.transient_quorum_queue,
                stream=settings.stream_fanout,
            ),
            consumer_arguments=fanout_consumer_args,
        )
    )
    return queues


def notification_queue(settings: RabbitSettings, *, exchange: str, routing_key: str) -> QueueSpec:
    """The default queue oslo's notify_send creates so no notification is lost
    before a listener binds (impl_rabbit._publish_and_creates_default_queue)."""
    control = ExchangeSpec(exchange, "topic", settings.durable, settings.amqp_auto_delete)
    return QueueSpec(
        name=routing_key,
        exchange=control,
        routing_key=routing_key,
        durable=control.durable,
        auto_delete=control.auto_delete,
        arguments=settings.queue_arguments(ttl=0, quorum=settings.quorum_queue),
    )


async def declare_exchange(
    channel: AbstractChannel, spec: ExchangeSpec
) -> aio_pika.abc.AbstractExchange:
    return await channel.declare_exchange(
        spec.name, type=spec.type, durable=spec.durable, auto_delete=spec.auto_delete
    )


async def declare_queue(channel: AbstractChannel, spec: QueueSpec) -> AbstractQueue:
    """Declare the exchange, the queue and the binding of ``spec``."""
    exchange = await declare_exchange(channel, spec.exchange)
    queue = await channel.declare_queue(
        spec.name,
        durable=spec.durable,
        auto_delete=spec.auto_delete,
        arguments=spec.arguments or None,
    )
    await queue.bind(exchange, routing_key=spec.routing_key)
    LOG.debug("amqp.declared", queue=spec.name, exchange=spec.exchange.name, key=spec.routing_key)
    return queue


def is_durable_mismatch(exc: BaseException) -> bool:
    """True for the 406 oslo answers with a non-durable declaration (and only that one)."""
    return isinstance(exc, aiormq.exceptions.ChannelPreconditionFailed) and (
        DURABLE_MISMATCH in str(exc)
    )


def nondurable(spec: QueueSpec) -> QueueSpec:
    """``spec`` as oslo's ``_declare_fallback_nondurable`` re-declares it: exchange and
    queue non-durable, the exchange's auto_delete taken from the queue's."""
    exchange = dataclasses.replace(spec.exchange, durable=False, auto_delete=spec.auto_delete)
    return dataclasses.replace(spec, exchange=exchange, durable=False)


async def _declare_on_own_channel(connection: AbstractConnection, spec: QueueSpec) -> None:
    # A 406 closes the channel it happens on: a channel of its own keeps that
    # away from the consume and publish channels.
    async with connection.channel(publisher_confirms=False) as channel:
        await declare_queue(channel, spec)


async def declare_queue_on(connection: AbstractConnection, spec: QueueSpec) -> QueueSpec:
    """Declare ``spec`` on a short-lived channel of ``connection``; returns what was declared.

    On "inequivalent arg 'durable'" (the exchange or queue exists with another
    durability) it is declared again non-durable, as oslo does, so the worker
    still starts next to services configured differently.  Any other 406 (e.g.
    a different x-queue-type) is raised unchanged, and so is the fallback's own.
    """
    try:
        await _declare_on_own_channel(connection, spec)
        return spec
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        fallback = nondurable(spec)
        if not is_durable_mismatch(exc) or fallback == spec:
            raise
        LOG.warning(
            "amqp.declare_fallback_nondurable",
            queue=spec.name,
            exchange=spec.exchange.name,
            error=str(exc),
        )
    await _declare_on_own_channel(connection, fallback)
    return fallback
