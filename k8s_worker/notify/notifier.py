"""The notification publisher: what an oslo messagingv2 Notifier would send.

Exchange ``[DEFAULT] control_exchange``, routing key ``<topic>.<priority>`` for
each ``[oslo_messaging_notifications] topics``, the 2.0 envelope around
``{message_id, publisher_id, event_type, priority, payload, timestamp}`` plus
the (sanitized) context, and the default queue oslo declares so nothing is lost
before a listener binds (declared non-durable, as oslo falls back to, when the
exchange exists with another durability); the body compressed as
``kombu_compression`` says.  ``[oslo_messaging_notifications] driver`` picks the
outputs as oslo's drivers do: ``messagingv2`` (the worker's default; ``messaging``
is taken as it) publishes, ``log`` writes each notification to the logger
``oslo.messaging.notification.<event_type>`` at its priority, ``noop`` alone
sends nothing.
Unlike oslo, every publish waits for the broker's publisher confirm and is
retried on a new connection when the old one died.

When the broker stays away (every retry of a publish failed), the notifier is
*unavailable*: further publishes fail at once with :class:`NotifierUnavailable`
instead of each waiting through its own retries, a background task reconnects
every ``recover_interval`` seconds, and once it is back the ``on_recovered``
callbacks run (the reconciler then publishes the outboxes that waited).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import aio_pika
import structlog
import tenacity
from aio_pika.abc import AbstractChannel, AbstractConnection
from oslo_config import cfg

from k8s_worker.amqp.connection import ConnectionSettings, connect
from k8s_worker.amqp.options import check_notification_drivers, rabbit_options
from k8s_worker.amqp.topology import RabbitSettings, declare_queue_on, notification_queue
from k8s_worker.wire.context import RequestContext
from k8s_worker.wire.envelope import CONTENT_TYPE, compress, encode
from k8s_worker.wire.redact import redact

LOG = structlog.get_logger(__name__)

PRIORITIES = ("AUDIT", "DEBUG", "INFO", "WARN", "ERROR", "CRITICAL", "SAMPLE")


class NotifierUnavailable(ConnectionError):
    """The broker is away: nothing is published until it is back."""


def utc_timestamp() -> str:
    """Now, as oslo's Notifier writes it (``str`` of a naive UTC datetime)."""
    return str(datetime.datetime.now(datetime.UTC).replace(tzinfo=None))


@dataclasses.dataclass(frozen=True)
class NotifierSettings:
    """What the notifier needs of the configuration, read once at start-up."""

    publisher_id: str
    topics: tuple[str, ...]
    enabled: bool  # published to the broker
    exchange: str
    connection: ConnectionSettings
    rabbit: RabbitSettings
    compression: str | None
    to_log: bool = False

    @classmethod
    def from_conf(
        cls, conf: cfg.ConfigOpts, *, publisher_id: str | None = None
    ) -> NotifierSettings:
        """From ``[oslo_messaging_notifications]`` and the transport options
        (registered by the program); an unknown compression codec is a
        ValueError here, not on every event."""
        notif = conf.oslo_messaging_notifications
        host = conf.k8s_worker.host if "k8s_worker" in conf else "localhost"
        url = notif.transport_url or conf.transport_url
        compression = rabbit_options(conf, url=url).kombu_compression or None
        if compression:
            compress(b"", compression)
        check_notification_drivers(notif.driver)
        drivers = set(notif.driver)
        return cls(
            publisher_id=publisher_id or f"k8s_worker.{host}",
            topics=tuple(notif.topics),
            enabled=bool(drivers & {"messaging", "messagingv2"}),
            to_log="log" in drivers,
            exchange=conf.control_exchange,
            connection=ConnectionSettings.from_conf(conf, url=url),
            rabbit=RabbitSettings.from_conf(conf, url=url),
            compression=compression,
        )


class Notifier:
    """Publishes oslo.messaging notifications to every configured topic, with publisher
    confirms; returns once the broker confirmed, raises ConnectionError while it cannot
    (``on_recovered`` callbacks run when it can again)."""

    def __init__(
        self,
        settings: NotifierSettings,
        *,
        attempts: int = 5,
        recover_interval: float = 2.0,
    ) -> None:
        self.publisher_id = settings.publisher_id
        self.topics = settings.topics
        self.enabled = settings.enabled
        self.to_log = settings.to_log
        self._exchange = settings.exchange
        self._settings = settings.connection
        self._rabbit = settings.rabbit
        self._compression = settings.compression
        self._attempts = attempts
        self._lock = asyncio.Lock()
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._declared: set[str] = set()
        self.recover_interval = recover_interval
        self.on_recovered: list[Callable[[], None]] = []
        self._recovery: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        """False from a publish that failed every retry until a reconnect works."""
        return self._recovery is None or self._recovery.done()

    def _unavailable(self) -> None:
        if self.available:
            LOG.warning("notify.unavailable", retry_every=self.recover_interval)
            self._recovery = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        while True:
            await asyncio.sleep(self.recover_interval)
            try:
                async with self._lock:
                    await self._ensure_channel()
            except Exception as exc:
                LOG.debug("notify.still_unavailable", error=repr(exc))
                continue
            break
        LOG.info("notify.recovered")
        for callback in list(self.on_recovered):
            try:
                callback()
            except Exception as exc:
                LOG.error("notify.recovered_callback_failed", error=repr(exc))

    async def start(self) -> None:
        if self.enabled:
            async with self._lock:
                await self._ensure_channel()

    async def close(self) -> None:
        if self._recovery is not None and not self._recovery.done():
            self._recovery.cancel()
        async with self._lock:
            if self._connection is not None and not self._connection.is_closed:
                await self._connection.close()
            self._connection = self._channel = None

    async def _ensure_channel(self) -> AbstractChannel:
        if self._channel is not None and not self._channel.is_closed:
            return self._channel
        if self._connection is None or self._connection.is_closed:
            self._connection = await connect(self._settings, purpose="notify", max_attempts=3)
            self._declared.clear()
        self._channel = await self._connection.channel(publisher_confirms=True)
        return self._channel

    async def _reset(self) -> None:
        if self._connection is not None:
            try:
                await self._connection.close()
            except Exception:
                pass
        self._connection = self._channel = None

    def build(
        self,
        event_type: str,
        payload: Mapping[str, Any],
        *,
        priority: str,
        ctx: RequestContext | None,
        message_id: str | None = None,
        timestamp: str | None = None,
    ) -> dict[str, Any]:
        """The message dict (inside the envelope) oslo's Notifier._notify builds.

        ``message_id`` and ``timestamp`` are fresh unless given: an event kept in
        a VNF record's outbox brings its own, so publishing it again (after a
        replica died between the publish and the outbox update) repeats the same
        message, which a consumer can recognise by ``message_id``.
        """
        message: dict[str, Any] = {
            "message_id": message_id or str(uuid.uuid4()),
            "publisher_id": self.publisher_id,
            "event_type": event_type,
            "priority": priority,
            "payload": redact(dict(payload)),
            "timestamp": timestamp or utc_timestamp(),
        }
        context = ctx.redacted() if ctx is not None else {}
        message.update({f"_context_{k}": v for k, v in context.items()})
        message["_unique_id"] = uuid.uuid4().hex
        return message

    async def publish(
        self,
        event_type: str,
        payload: Mapping[str, Any],
        *,
        priority: str = "INFO",
        ctx: RequestContext | None = None,
        message_id: str | None = None,
        timestamp: str | None = None,
    ) -> None:
        """Publish one notification to every topic; returns once the broker confirmed."""
        priority = priority.upper()
        if priority not in PRIORITIES:
            raise ValueError(f"unknown notification priority {priority!r}")
        if not self.enabled:
            if self.to_log:
                self._log(event_type, payload, priority=priority, ctx=ctx, message_id=message_id)
            return
        if not self.available:
            raise NotifierUnavailable("the notification broker is unavailable")
        message = self.build(
            event_type,
            payload,
            priority=priority,
            ctx=ctx,
            message_id=message_id,
            timestamp=timestamp,
        )
        body = encode(message)
        retrying = tenacity.AsyncRetrying(
            # Bounded in time too: past it the notifier turns unavailable and the
            # events wait in the outboxes, so nobody waits long on a dead broker.
            stop=tenacity.stop_after_attempt(self._attempts) | tenacity.stop_after_delay(5.0),
            wait=tenacity.wait_exponential(multiplier=0.2, max=5),
            retry=tenacity.retry_if_exception_type(
                (ConnectionError, OSError, aio_pika.exceptions.AMQPError, RuntimeError)
            ),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    try:
                        await self._publish_once(body, priority.lower())
                    except Exception:
                        async with self._lock:
                            await self._reset()
                        raise
        except (ConnectionError, OSError, aio_pika.exceptions.AMQPError, RuntimeError) as exc:
            self._unavailable()
            raise NotifierUnavailable(f"the notification broker is unavailable: {exc!r}") from exc
        LOG.debug("notify.published", event_type=event_type, priority=priority)
        if self.to_log:  # once, when it is out (not on each retry of a waiting outbox)
            self._log(event_type, payload, priority=priority, ctx=ctx, message_id=message_id)

    def _log(
        self,
        event_type: str,
        payload: Mapping[str, Any],
        *,
        priority: str,
        ctx: RequestContext | None,
        message_id: str | None,
    ) -> None:
        """oslo's log driver: the message as JSON on oslo.messaging.notification.<type>."""
        message = self.build(event_type, payload, priority=priority, ctx=ctx, message_id=message_id)
        level = {"WARN": logging.WARNING, "AUDIT": logging.INFO, "SAMPLE": logging.INFO}.get(
            priority, logging.getLevelName(priority)
        )
        logging.getLogger(f"oslo.messaging.notification.{event_type}").log(
            level if isinstance(level, int) else logging.INFO,
            json.dumps(message, default=str),
        )

    async def _publish_once(self, body: bytes, priority: str) -> None:
        async with self._lock:
            channel = await self._ensure_channel()
            assert self._connection is not None
            for topic in self.topics:
                key = f"{topic}.{priority}"
                if key not in self._declared:
                    spec = notification_queue(
                        self._rabbit, exchange=self._exchange, routing_key=key
                    )
                    # On a short-lived channel: a 406 (durability mismatch, then
                    # oslo's non-durable retry) must not close the confirm channel.
                    await declare_queue_on(self._connection, spec)
                    self._declared.add(key)
            exchange = await channel.get_exchange(self._exchange, ensure=False)
        headers: dict[str, Any] = {}
        if self._compression:
            body, headers["compression"] = compress(body, self._compression)
        for topic in self.topics:
            await exchange.publish(
                aio_pika.Message(
                    body,
                    content_type=CONTENT_TYPE,
                    content_encoding="utf-8",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    headers=headers,
                ),
                routing_key=f"{topic}.{priority}",
            )
