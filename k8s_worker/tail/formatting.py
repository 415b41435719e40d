"""Rendering events as terminal lines or JSON lines.

The terminal form is one aligned line per event: time, priority, event type,
short VNF id, sequence and a summary of the payload, coloured by priority and
by kind of event.  Text from the wire is stripped of control characters so a
payload cannot drive the operator's terminal.  The JSON form is one object per
line with the full (redacted) payload and context, for scripts and ``jq``.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from k8s_worker.tail.event import Event, Malformed

TIME_WIDTH = 12
PRIORITY_WIDTH = 8
EVENT_WIDTH = 22
VNF_WIDTH = 8
SEQUENCE_WIDTH = 6
VALUE_LIMIT = 60
COMMON_FIELDS = frozenset({"vnf_id", "tenant_id", "sequence", "op_id", "vim_id"})

_RESET = "\x1b[0m"
_PRIORITY_COLOURS = {
    "DEBUG": "2",
    "INFO": "32",
    "SAMPLE": "36",
    "AUDIT": "36",
    "WARN": "33",
    "ERROR": "31",
    "CRITICAL": "1;31",
}
_VNF_COLOURS = ("34", "35", "36", "94", "95", "96")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class Formatter(Protocol):
    """Renders events (and malformed messages) as lines of text, one form per output
    option."""

    def event(self, event: Event) -> str: ...

    def malformed(self, bad: Malformed) -> str: ...


def clean(text: str) -> str:
    """``text`` with control characters (escape sequences, newlines) made visible."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _short(value: Any, *, limit: int = VALUE_LIMIT) -> str:
    if isinstance(value, Mapping | list | tuple):
        text = json.dumps(value, default=str, separators=(",", ":"))
    else:
        text = str(value)
    text = clean(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pairs(payload: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    return [f"{k}={_short(payload[k])}" for k in keys if payload.get(k) not in (None, "", [], {})]


def summary(event: Event) -> str:
    """A short description of the payload, by kind of event."""
    payload = event.payload
    if not isinstance(payload, Mapping):
        return "" if payload is None else _short(payload, limit=2 * VALUE_LIMIT)
    get = payload.get
    kind = event.event_type
    if kind in ("vnf.status.update", "vim.status.update"):
        text = f"{_short(get('old_status') or '?')} -> {_short(get('status') or '?')}"
        if kind == "vim.status.update":
            text = f"vim {_short(get('vim_id') or '?')}: {text}"
        return text + (f" ({_short(get('reason'))})" if get("reason") else "")
    if kind == "vnf.respawn":
        text = f"{_short(get('vdu') or '?')}: {_short(get('old_pod') or '?')}"
        text += f" -> {_short(get('new_pod') or '?')}"
        extra = _pairs(payload, ["restart_count"])
        text += "".join(f" {p}" for p in extra)
        return text + (f" ({_short(get('reason'))})" if get("reason") else "")
    if kind == "vnf.policy.triggered":
        return " ".join(_pairs(payload, ["policy", "trigger", "action", "decision", "op_id"]))
    if kind.endswith(".error"):
        error = get("error")
        if isinstance(error, Mapping):
            what = f"{_short(error.get('type') or 'Error')}: {_short(error.get('message') or '')}"
        else:
            what = _short(error if error is not None else "?")
        return " ".join([f"error={what}", *_pairs(payload, ["op_id"])])
    rest = [k for k in payload if k not in COMMON_FIELDS]
    return " ".join(_pairs(payload, ["op_id", *rest]))


def local_time(timestamp: str) -> str:
    """``HH:MM:SS.mmm`` in local time of an oslo timestamp (naive UTC)."""
    try:
        when = datetime.datetime.fromisoformat(timestamp)
    except ValueError:
        return clean(timestamp)[:TIME_WIDTH] or "-"
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.astimezone().strftime("%H:%M:%S.%f")[:-3]


class TerminalFormatter:
    """Aligned, optionally coloured one-line records."""

    def __init__(self, *, color: bool) -> None:
        self.color = color

    def _paint(self, text: str, code: str | None) -> str:
        return f"\x1b[{code}m{text}{_RESET}" if self.color and code else text

    @staticmethod
    def _event_colour(event_type: str) -> str | None:
        if event_type.endswith(".error"):
            return "1;31"
        if event_type.endswith(".end"):
            return "32"
        if event_type.endswith(".start"):
            return "36"
        if event_type == "vnf.respawn":
            return "33"
        if event_type == "vnf.policy.triggered":
            return "35"
        if event_type == "vnf.status.update":
            return "1"
        return None

    def _row(
        self,
        *,
        time: str,
        priority: str,
        event_type: str,
        vnf: str,
        sequence: str,
        text: str,
        colours: tuple[str | None, ...],
    ) -> str:
        cells = (
            time.ljust(TIME_WIDTH),
            priority.ljust(PRIORITY_WIDTH),
            event_type.ljust(EVENT_WIDTH),
            vnf.ljust(VNF_WIDTH),
            sequence.rjust(SEQUENCE_WIDTH),
        )
        painted = [self._paint(c, code) for c, code in zip(cells, colours, strict=True)]
        line = " ".join(painted)
        return f"{line}  {text}".rstrip()

    def header(self) -> str:
        return self._row(
            time="TIME",
            priority="PRIORITY",
            event_type="EVENT",
            vnf="VNF",
            sequence="SEQ",
            text="SUMMARY",
            colours=("1",) * 5,
        )

    def event(self, event: Event) -> str:
        vnf = clean(event.vnf_id or "-")[:VNF_WIDTH]
        vnf_colour = (
            _VNF_COLOURS[sum(event.vnf_id.encode()) % len(_VNF_COLOURS)] if event.vnf_id else None
        )
        sequence = f"#{event.sequence}" if event.sequence is not None else "-"
        return self._row(
            time=local_time(event.timestamp),
            priority=clean(event.priority) or "-",
            event_type=clean(event.event_type),
            vnf=vnf,
            sequence=sequence,
            text=summary(event),
            colours=(
                "2",
                _PRIORITY_COLOURS.get(event.priority),
                self._event_colour(event.event_type),
                vnf_colour,
                "2",
            ),
        )

    def malformed(self, bad: Malformed) -> str:
        now = datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]
        text = f"{clean(bad.reason)} (key {clean(bad.routing_key)}, {bad.size} bytes)"
        return self._row(
            time=now,
            priority="ERROR",
            event_type="(malformed message)",
            vnf="-",
            sequence="-",
            text=self._paint(text, "31"),
            colours=("2", "31", "7;31", None, "2"),
        )


class JsonLinesFormatter:
    """One JSON object per line; ``error`` marks a malformed message."""

    @staticmethod
    def record(event: Event) -> dict[str, Any]:
        return {
            "timestamp": event.timestamp,
            "priority": event.priority,
            "event_type": event.event_type,
            "vnf_id": event.vnf_id,
            "tenant_id": event.tenant_id,
            "sequence": event.sequence,
            "op_id": event.op_id,
            "publisher_id": event.publisher_id,
            "message_id": event.message_id,
            "routing_key": event.routing_key,
            "payload": event.payload,
            "context": dict(event.context),
        }

    def event(self, event: Event) -> str:
        return json.dumps(self.record(event), default=str)

    def malformed(self, bad: Malformed) -> str:
        return json.dumps(
            {
                "error": bad.reason,
                "routing_key": bad.routing_key,
                "size": bad.size,
                "message_id": bad.message_id,
            }
        )
