"""Terminal lines (aligned, coloured, safe) and JSON lines."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from k8s_worker.tail.event import Event, Malformed
from k8s_worker.tail.formatting import (
    JsonLinesFormatter,
    TerminalFormatter,
    clean,
    summary,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")
VNF = "3f2a9c1e-7d41-4b7e-9d1c-2a5b8e6f0c11"


def _event(event_type: str, priority: str = "INFO", **payload: Any) -> Event:
    return Event(
        event_type=event_type,
        priority=priority,
        timestamp="2024-05-01 12:00:00.123456",
        routing_key=f"notifications.{priority.lower()}",
        publisher_id="k8s_worker.w1",
        message_id="m-1",
        payload={"vnf_id": VNF, "tenant_id": "t-a", **payload},
    )


EVENTS = [
    _event("vnf.instantiate.start", sequence=1, op_id="op-1"),
    _event("vnf.status.update", sequence=12, old_status="PENDING_CREATE", status="ACTIVE"),
    _event("vnf.instantiate.error", "ERROR", sequence=123, error={"type": "X", "message": "y"}),
    _event("vnf.policy.triggered", sequence=1234, policy="SP1", action="scale_out"),
]


def test_terminal_columns_line_up_under_the_header() -> None:
    fmt = TerminalFormatter(color=False)
    header = fmt.header()
    starts = [header.index(name) for name in ("PRIORITY", "EVENT", "VNF", "SUMMARY")]
    seq_end = header.index("SEQ") + len("SEQ")
    for event in EVENTS:
        line = fmt.event(event)
        for offset in starts:  # left-aligned columns begin at the header's offset
            assert line[offset - 1] == " " and line[offset] != " ", (offset, line)
        # the sequence is right-aligned: it ends where SEQ ends
        assert line[seq_end - 1].isdigit() and line[seq_end] == " ", line
        assert line[:seq_end].rsplit(" ", 1)[1] == f"#{event.sequence}"


def test_terminal_line_fields() -> None:
    line = TerminalFormatter(color=False).event(EVENTS[1])
    fields = line.split(None, 5)
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", fields[0])
    assert fields[1:5] == ["INFO", "vnf.status.update", "3f2a9c1e", "#12"]
    assert fields[5] == "PENDING_CREATE -> ACTIVE"


def test_without_colour_there_are_no_escape_sequences() -> None:
    for event in EVENTS:
        assert "\x1b" not in TerminalFormatter(color=False).event(event)


def test_colour_by_priority_and_event_keeps_the_layout() -> None:
    plain = TerminalFormatter(color=False)
    coloured = TerminalFormatter(color=True)
    for event in EVENTS:
        line = coloured.event(event)
        assert ANSI.sub("", line) == plain.event(event)
    error_line = coloured.event(EVENTS[2])
    assert "\x1b[31mERROR" in error_line  # red priority
    assert "\x1b[1;31mvnf.instantiate.error" in error_line  # bold red failure


def test_wire_text_cannot_drive_the_terminal() -> None:
    event = _event("vnf.status.update", status="ACTIVE\x1b[2J", reason="line1\nline2")
    line = TerminalFormatter(color=False).event(event)
    assert "\x1b" not in line and "\n" not in line
    assert "ACTIVE\\x1b[2J" in line and "line1\\x0aline2" in line
    assert clean("ok\x07") == "ok\\x07"


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            _event("vnf.status.update", old_status="ACTIVE", status="DEGRADED", reason="1/3 down"),
            "ACTIVE -> DEGRADED (1/3 down)",
        ),
        (
            _event("vnf.respawn", vdu="web", old_pod="web-a", new_pod="web-b", restart_count=2),
            "web: web-a -> web-b restart_count=2",
        ),
        (
            _event(
                "vnf.policy.triggered", policy="SP1", trigger="cpu", action="out", decision="act"
            ),
            "policy=SP1 trigger=cpu action=out decision=act",
        ),
        (
            _event("vnf.heal.error", op_id="op-3", error={"type": "Timeout", "message": "no pods"}),
            "error=Timeout: no pods op_id=op-3",
        ),
        (
            _event("vnf.scale.start", sequence=4, op_id="op-4", policy="SP1", type="out"),
            "op_id=op-4 policy=SP1 type=out",
        ),
        (_event("vnf.custom", vdus=["a", "b"]), 'vdus=["a","b"]'),
    ],
)
def test_summaries_by_event_type(event: Event, expected: str) -> None:
    assert summary(event) == expected


def test_long_values_are_cut() -> None:
    text = summary(_event("vnf.custom", note="x" * 500))
    assert len(text) < 100 and text.endswith("…")


def test_missing_vnf_and_sequence_show_a_dash() -> None:
    event = Event(event_type="vnf.x", priority="INFO", timestamp="", routing_key="n.info")
    fields = TerminalFormatter(color=False).event(event).split()
    assert fields[1:5] == ["INFO", "vnf.x", "-", "-"]


def test_a_malformed_message_is_an_error_line() -> None:
    bad = Malformed("body is not JSON: Expecting value at 0", routing_key="n.info", size=8)
    line = TerminalFormatter(color=False).malformed(bad)
    assert line.split()[1:3] == ["ERROR", "(malformed"]
    assert "body is not JSON" in line and "n.info" in line
    record = json.loads(JsonLinesFormatter().malformed(bad))
    assert record == {
        "error": "body is not JSON: Expecting value at 0",
        "routing_key": "n.info",
        "size": 8,
        "message_id": None,
    }


def test_json_lines_carry_the_whole_event() -> None:
    line = JsonLinesFormatter().event(EVENTS[0])
    assert "\n" not in line
    record = json.loads(line)
    assert record["event_type"] == "vnf.instantiate.start"
    assert record["vnf_id"] == VNF and record["tenant_id"] == "t-a"
    assert record["sequence"] == 1 and record["op_id"] == "op-1"
    assert record["priority"] == "INFO" and record["publisher_id"] == "k8s_worker.w1"
    assert record["timestamp"] == "2024-05-01 12:00:00.123456"
    assert record["payload"]["op_id"] == "op-1"
