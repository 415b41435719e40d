"""Retries that hold nothing: a failed cast waits in a delay queue, not in a lane.

A cast whose handler failed (and may succeed later) is published again to the
topic's delay queue ``<topic>.retry`` with a per-message TTL, then the
original delivery is acknowledged.  When the TTL runs out the broker
dead-letters the copy back to ``<topic>`` on the control exchange, and any
replica takes it from there.  While it waits it holds no pool slot and no
prefetch window, so a failing VNF cannot stall the intake for the others.

Order per VNF: once one of a VNF's casts is parked, every later cast for that
VNF that reaches this replica is parked behind it (without counting an
attempt), and only the head of the VNF's parked line may run; the others,
coming back before it, go round again.  RabbitMQ expires per-message TTLs
from the head of a queue only, so the delay queue is first in, first out:
what was parked in order comes back in order.  A line whose head does not
come back here (another replica took it) is forgotten after ``grace``
seconds (by default the longest backoff plus 10 s: a copy waits behind every
longer TTL ahead of it in the delay queue, of any VNF).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel
from aiormq.abc import DeliveredMessage

from k8s_worker.amqp.topology import RabbitSettings

#: The header that carries a parked cast's failed deliveries so far.
ATTEMPTS_HEADER = "x-tkw-attempts"


def retry_queue_name(topic: str) -> str:
    return f"{topic}.retry"


def parked_attempts(message: DeliveredMessage) -> int:
    """Failed deliveries counted before this copy was parked (0 for a fresh cast)."""
    value = (message.header.properties.headers or {}).get(ATTEMPTS_HEADER)
    return value if isinstance(value, int) and value > 0 else 0


@dataclass
class _Line:
    keys: collections.deque[str] = field(default_factory=collections.deque)
    delay: float = 0.0
    deadline: float = 0.0


class ParkedOrder:
    """Which of a VNF's casts may run while some of them are parked (pure).

    ``park(head=True)`` records a failed cast (appended if new) and (re)arms
    the line's deadline; ``park(head=False)`` records a cast parked behind.
    ``must_wait`` is true for every key of a live line but its first, and for
    any new key while a line exists; ``done`` removes a key that ran to the
    end.  An expired line (its head never came back here) is dropped.
    """

    def __init__(self, *, grace: float = 40.0, clock: Callable[[], float] = time.monotonic):
        self._grace = grace
        self._clock = clock
        self._lines: dict[str, _Line] = {}

    def _line(self, vnf_id: str) -> _Line | None:
        line = self._lines.get(vnf_id)
        if line is not None and self._clock() > line.deadline:
            del self._lines[vnf_id]
            return None
        return line

    def must_wait(self, vnf_id: str, key: str) -> bool:
        line = self._line(vnf_id)
        return line is not None and bool(line.keys) and line.keys[0] != key

    def delay_of(self, vnf_id: str) -> float:
        line = self._line(vnf_id)
        return line.delay if line is not None else 0.0

    def park(self, vnf_id: str, key: str, *, delay: float, head: bool) -> None:
        if len(self._lines) > 1024:  # lines whose head went to another replica
            now = self._clock()
            for vnf in [v for v, line in self._lines.items() if now > line.deadline]:
                del self._lines[vnf]
        line = self._line(vnf_id)
        if line is None:
            line = self._lines[vnf_id] = _Line()
        if key not in line.keys:
            line.keys.append(key)
        if head:
            line.delay = delay
            line.deadline = self._clock() + delay + self._grace

    def done(self, vnf_id: str, key: str) -> None:
        line = self._lines.get(vnf_id)
        if line is None or key not in line.keys:
            return
        was_head = line.keys[0] == key
        line.keys.remove(key)
        if not line.keys:
            del self._lines[vnf_id]
        elif was_head:
            # The next one is on its way back (at most one delay behind).
            line.deadline = self._clock() + line.delay + self._grace

    def __len__(self) -> int:
        return sum(1 for vnf in list(self._lines) if self._line(vnf) is not None)


class RetryParking:
    """Publishes a delivered message again to the delay queue, with a TTL.

    ``declare`` (on each connection) creates ``<topic>.retry``, dead-lettering
    to ``<topic>`` on the control exchange; ``park`` publishes the message's
    body and properties unchanged but for the attempts header and the TTL, on
    a channel with publisher confirms, and raises when the broker did not take
    it (the caller then keeps the original delivery).
    """

    def __init__(
        self,
        channel: Callable[[], AbstractChannel | None],
        *,
        settings: RabbitSettings,
        exchange: str,
        topic: str,
    ) -> None:
        self._channel = channel
        self._settings = settings
        self._exchange = exchange
        self._topic = topic
        self.queue = retry_queue_name(topic)
        #: Whether this connection declared the delay queue as it should be.
        self.declared = False

    def queue_arguments(self) -> dict[str, Any]:
        args = self._settings.queue_arguments(ttl=0, quorum=self._settings.quorum_queue)
        args.pop("x-delivery-limit", None)
        args["x-dead-letter-exchange"] = self._exchange
        args["x-dead-letter-routing-key"] = self._topic
        return args

    async def declare(self, channel: AbstractChannel) -> None:
        self.declared = False
        await channel.declare_queue(
            self.queue,
            durable=self._settings.durable,
            auto_delete=False,
            arguments=self.queue_arguments(),
        )
        self.declared = True

    async def park(self, message: DeliveredMessage, *, attempts: int, delay: float) -> None:
        if not self.declared:
            # A queue of that name with other arguments might never send it back.
            raise ConnectionError(f"the delay queue {self.queue} is not declared")
        channel = self._channel()
        if channel is None or channel.is_closed:
            raise ConnectionError("no channel to park the cast on")
        props = message.header.properties
        headers = dict(props.headers or {})
        headers[ATTEMPTS_HEADER] = attempts
        copy = aio_pika.Message(
            message.body,
            headers=headers,
            content_type=props.content_type,
            content_encoding=props.content_encoding,
            delivery_mode=props.delivery_mode,
            priority=props.priority,
            correlation_id=props.correlation_id,
            message_id=props.message_id,
            expiration=max(0.001, delay),
        )
        await channel.default_exchange.publish(copy, routing_key=self.queue, mandatory=True)
