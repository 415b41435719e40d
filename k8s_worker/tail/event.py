"""One notification as the tail tool sees it, decoded from an AMQP body.

A body that is not an oslo notification becomes a ``Malformed`` record saying
why, so the tool prints an error line instead of crashing.  Payload and
context pass through ``redact`` before anything can print them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from k8s_worker.wire.context import CONTEXT_PREFIX
from k8s_worker.wire.envelope import EnvelopeError, decode
from k8s_worker.wire.redact import redact

#: oslo's notification priorities, by severity (SAMPLE is metering data: INFO rank).
SEVERITY: dict[str, int] = {
    "DEBUG": 10,
    "INFO": 20,
    "SAMPLE": 20,
    "AUDIT": 25,
    "WARN": 30,
    "ERROR": 40,
    "CRITICAL": 50,
}
_ALIASES = {"WARNING": "WARN"}


def normalize_priority(name: str) -> str:
    """``warning``/``Warn`` -> ``WARN``; unknown names are returned upper-cased."""
    upper = name.strip().upper()
    return _ALIASES.get(upper, upper)


@dataclass(frozen=True)
class Event:
    """A decoded notification (payload and context already redacted)."""

    event_type: str
    priority: str
    timestamp: str
    routing_key: str
    publisher_id: str | None = None
    message_id: str | None = None
    payload: Any = None
    context: Mapping[str, Any] = field(default_factory=dict)

    def _field(self, key: str) -> Any:
        return self.payload.get(key) if isinstance(self.payload, Mapping) else None

    @property
    def vnf_id(self) -> str | None:
        value = self._field("vnf_id")
        return None if value is None else str(value)

    @property
    def vim_id(self) -> str | None:
        """The VIM of a ``vim.*`` event or of a VNF on a registered VIM (None: the
        default VIM)."""
        value = self._field("vim_id")
        return None if value is None else str(value)

    @property
    def tenant_id(self) -> str | None:
        value = self._field("tenant_id")
        if value is None:
            value = self.context.get("project_id") or self.context.get("tenant")
        return None if value is None else str(value)

    @property
    def sequence(self) -> int | None:
        value = self._field("sequence")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def op_id(self) -> str | None:
        value = self._field("op_id")
        return None if value is None else str(value)


@dataclass(frozen=True)
class Malformed:
    """A message on the notification keys that is not a readable notification."""

    reason: str
    routing_key: str
    size: int
    message_id: str | None = None


def _priority_from_key(routing_key: str) -> str:
    return normalize_priority(routing_key.rpartition(".")[2]) if "." in routing_key else ""


def parse(
    body: bytes,
    *,
    routing_key: str,
    content_encoding: str | None = None,
    compression: str | None = None,
    message_id: str | None = None,
) -> Event | Malformed:
    """The notification in ``body`` (an oslo 2.0 envelope or a bare 1.0 dict)."""

    def bad(reason: str) -> Malformed:
        return Malformed(reason, routing_key=routing_key, size=len(body), message_id=message_id)

    try:
        message = decode(body, content_encoding=content_encoding, compression=compression)
    except EnvelopeError as exc:
        return bad(str(exc))
    event_type = message.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        return bad("no event_type: not a notification")
    priority = message.get("priority")
    if not isinstance(priority, str) or not priority:
        priority = _priority_from_key(routing_key)
    context = {
        k[len(CONTEXT_PREFIX) :]: v for k, v in message.items() if k.startswith(CONTEXT_PREFIX)
    }
    publisher = message.get("publisher_id")
    msg_id = message.get("message_id")
    return Event(
        event_type=event_type,
        priority=normalize_priority(priority),
        timestamp=str(message.get("timestamp") or ""),
        routing_key=routing_key,
        publisher_id=None if publisher is None else str(publisher),
        message_id=str(msg_id) if msg_id is not None else message_id,
        payload=redact(message.get("payload")),
        context=redact(context),
    )
