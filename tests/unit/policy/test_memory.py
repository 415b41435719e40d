"""The policy memory is a typed view over the record's status.policy: what
it does not know, a newer version's keys, stays as it was."""

from __future__ import annotations

from k8s_worker.policy.memory import RESPAWNS_KEPT, PolicyMemory


def test_unknown_keys_round_trip_untouched() -> None:
    raw = {"fromANewerVersion": {"x": [1, 2]}, "lastScale": {"SP1": 5.0}}
    memory = PolicyMemory(raw)
    memory.stamp_cooldown("SP2", at=7.0, host="r1")
    memory.note_respawn(now=10.0, keep_seconds=60)
    assert memory.next_operation_number() == 1
    assert raw["fromANewerVersion"] == {"x": [1, 2]}
    assert memory.last_scale("SP1") == (5.0, None)
    assert memory.last_scale("SP2") == (7.0, "r1")
    assert memory.respawns() == [10.0]


def test_respawn_times_are_bounded_by_age_and_count() -> None:
    memory = PolicyMemory({})
    memory.note_respawn(now=0.0, keep_seconds=60)
    memory.note_respawn(now=100.0, keep_seconds=60)
    assert memory.respawns() == [100.0], "older than the window: forgotten"
    for i in range(RESPAWNS_KEPT + 10):
        memory.note_respawn(now=200.0 + i * 0.01, keep_seconds=600)
    assert len(memory.respawns()) == RESPAWNS_KEPT


def test_a_null_where_alarms_belong_reads_as_none_pending() -> None:
    memory = PolicyMemory({"alarms": None})
    assert memory.alarms == []
