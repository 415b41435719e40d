"""Notifications as Kubernetes Events: reasons and types, no secret in a
message, and client-go's correlation (counts, aggregation, rate limit)."""

from __future__ import annotations

import asyncio
from typing import Any

from k8s_worker.notify.kube_events import (
    BURST,
    MAX_SIMILAR,
    EventRecorder,
    Involved,
    message_of,
    reason_of,
    type_of,
)

VNF = Involved(
    kind="Vnf",
    name="v-1",
    namespace="records",
    uid="uid-1",
    api_version="tacker.openstack.org/v1alpha1",
)


class FakeKube:
    """Only the Event writes the recorder makes (pure logic; the bed tests the real API)."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.patched: list[tuple[str, dict[str, Any]]] = []

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.created.append(obj)
        return obj

    async def patch(self, kind: Any, *, name: str, namespace: str, patch: dict[str, Any]) -> Any:
        self.patched.append((name, patch))
        return {}


def test_reasons_and_types_follow_the_event_type_and_priority() -> None:
    assert reason_of("vnf.instantiate.end") == "InstantiateEnd"
    assert reason_of("vnf.status.update") == "StatusUpdate"
    assert reason_of("vnf.drift.repaired") == "DriftRepaired"
    assert type_of("vnf.scale.error", "ERROR", {}) == "Warning"
    assert type_of("vnf.status.update", "INFO", {"status": "DEAD"}) == "Warning"
    assert type_of("vnf.status.update", "INFO", {"status": "ACTIVE"}) == "Normal"


def test_a_message_names_the_telling_fields_and_no_secret() -> None:
    message = message_of(
        {"vnf_id": "v-1", "sequence": 4, "op_id": "op-1", "status": "ACTIVE", "password": "hunter2"}
    )
    assert "op_id=op-1" in message and "status=ACTIVE" in message
    assert "hunter2" not in message and "vnf_id" not in message


async def run_all(recorder: EventRecorder) -> None:
    task = asyncio.create_task(recorder.run())
    await recorder.drain()
    task.cancel()


async def test_the_same_event_again_bumps_the_count_of_one_event() -> None:
    kube = FakeKube()
    recorder = EventRecorder(kube, host="w-1")  # type: ignore[arg-type]
    for _ in range(3):
        recorder.note(VNF, event_type="vnf.respawn", payload={"pod": "p-1"}, priority="INFO")
    await run_all(recorder)
    [event] = kube.created
    assert event["involvedObject"]["uid"] == "uid-1" and event["reason"] == "Respawn"
    assert [p["count"] for _, p in kube.patched] == [2, 3]
    assert {name for name, _ in kube.patched} == {event["metadata"]["name"]}


async def test_similar_events_are_combined_from_the_tenth_and_the_burst_is_limited() -> None:
    kube = FakeKube()
    now = [1000.0]
    recorder = EventRecorder(kube, host="w-1", clock=lambda: now[0])  # type: ignore[arg-type]
    for i in range(BURST + 5):
        recorder.note(VNF, event_type="vnf.respawn", payload={"pod": f"p-{i}"}, priority="INFO")
    await run_all(recorder)
    messages = [e["message"] for e in kube.created]
    assert len(messages) == MAX_SIMILAR  # nine single ones and one aggregate, then its count
    assert all(not m.startswith("(combined") for m in messages[: MAX_SIMILAR - 1])
    assert messages[-1].startswith("(combined from similar events)")
    assert recorder.written == BURST and recorder.dropped == 5
    now[0] += 300.0  # one token back after five minutes
    recorder.note(VNF, event_type="vnf.scale.end", payload={"op_id": "o"}, priority="INFO")
    recorder.note(VNF, event_type="vnf.scale.end", payload={"op_id": "o2"}, priority="INFO")
    await run_all(recorder)
    assert recorder.written == BURST + 1 and recorder.dropped == 6


async def test_the_same_event_after_ten_minutes_is_a_new_event() -> None:
    kube = FakeKube()
    now = [0.0]
    recorder = EventRecorder(kube, host="w-1", clock=lambda: now[0])  # type: ignore[arg-type]
    recorder.note(VNF, event_type="vnf.respawn", payload={"pod": "p-1"}, priority="INFO")
    await run_all(recorder)
    now[0] += 601.0
    recorder.note(VNF, event_type="vnf.respawn", payload={"pod": "p-1"}, priority="INFO")
    await run_all(recorder)
    assert len(kube.created) == 2 and not kube.patched
