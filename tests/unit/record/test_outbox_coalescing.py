"""Past the outbox cap, status updates and respawns merge into the one before
them; operation events never do; sequences stay gapless."""

from __future__ import annotations

import pytest

from k8s_worker.record import VnfRecord


@pytest.fixture
def rec(monkeypatch: pytest.MonkeyPatch) -> VnfRecord:
    monkeypatch.setattr(VnfRecord, "outbox_cap", 3)
    return VnfRecord.new(
        namespace="ns",
        vnf_id="v1",
        name="n",
        tenant_id="t",
        vnf_namespace=None,
        vnfd="x",
        params={},
        labels={},
    )


def test_merging_starts_at_the_cap_and_keeps_sequences_gapless(rec: VnfRecord) -> None:
    rec.emit("vnf.instantiate.start", {"op_id": "o"})
    rec.emit("vnf.status.update", {"old_status": "A", "status": "B"})
    rec.emit("vnf.status.update", {"old_status": "B", "status": "C"})  # 3 pending: under cap
    rec.emit("vnf.status.update", {"old_status": "C", "status": "D"})  # merged
    rec.emit("vnf.status.update", {"old_status": "D", "status": "E"})  # merged
    events = rec.outbox()
    assert [e["sequence"] for e in events] == [1, 2, 3]
    last = events[-1]["payload"]
    assert (last["old_status"], last["status"], last["coalesced"]) == ("B", "E", 3)
    assert last["sequence"] == 3 and last["vnf_id"] == "v1"


def test_respawns_merge_and_operation_events_are_never_merged(rec: VnfRecord) -> None:
    for i in range(3):
        rec.emit("vnf.scale.start", {"op_id": f"s{i}"})
    rec.emit("vnf.respawn", {"vdu": "VDU1", "old_pod": "p1", "new_pod": "p2"})
    rec.emit("vnf.respawn", {"vdu": "VDU1", "old_pod": "p2", "new_pod": "p3"})
    rec.emit("vnf.scale.end", {"op_id": "s0"})
    rec.emit("vnf.scale.end", {"op_id": "s1"})
    events = rec.outbox()
    assert [e["eventType"] for e in events] == [
        "vnf.scale.start",
        "vnf.scale.start",
        "vnf.scale.start",
        "vnf.respawn",
        "vnf.scale.end",
        "vnf.scale.end",
    ]
    assert [e["sequence"] for e in events] == [1, 2, 3, 4, 5, 6]
    respawn = events[3]["payload"]
    assert (respawn["new_pod"], respawn["coalesced"]) == ("p3", 2)
