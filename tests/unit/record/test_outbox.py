"""The outbox: numbered events that keep their identity until published."""

from __future__ import annotations

from k8s_worker.record import VnfRecord


def record(vnf_id: str = "v-1", uid: str | None = "uid-1") -> VnfRecord:
    rec = VnfRecord.new(
        namespace="r",
        vnf_id=vnf_id,
        name="x",
        tenant_id="t",
        vnf_namespace="ns",
        vnfd="tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0\n",
        params={},
        labels={},
    )
    if uid is not None:
        rec.obj["metadata"]["uid"] = uid
    return rec


def test_events_are_numbered_in_order_and_carry_when_they_happened():
    rec = record()
    first = rec.emit("vnf.instantiate.start", {"op_id": "o"})
    second = rec.emit("vnf.instantiate.end", {"op_id": "o"})
    assert [e["sequence"] for e in rec.outbox()] == [1, 2]
    assert first["payload"] == {"vnf_id": "v-1", "tenant_id": "t", "sequence": 1, "op_id": "o"}
    assert first["timestamp"] <= second["timestamp"]


def test_an_entry_has_the_same_message_id_every_time_it_is_published():
    rec = record()
    entry = rec.emit("vnf.status.update", {"status": "ACTIVE"})
    reread = VnfRecord(rec.copy().obj)  # as the next owner reads it
    assert rec.message_id(entry) == reread.message_id(reread.outbox()[0])


def test_message_ids_differ_by_sequence_and_by_record():
    rec = record()
    one, two = rec.emit("a", {}), rec.emit("b", {})
    assert rec.message_id(one) != rec.message_id(two)
    # The same VNF id instantiated again after a terminate is a new record (new uid).
    reborn = record(uid="uid-2")
    assert reborn.message_id(reborn.emit("a", {})) != rec.message_id(one)


def test_dropping_published_entries_keeps_later_ones():
    rec = record()
    for name in ("a", "b", "c"):
        rec.emit(name, {})
    rec.drop_published(2)
    assert [e["eventType"] for e in rec.outbox()] == ["c"]
