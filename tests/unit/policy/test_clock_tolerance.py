"""Cooldowns and operation timeouts stamped by a replica whose clock differs."""

from __future__ import annotations

import datetime as dt

from k8s_worker.policy.engine import PolicyEngine, stamp_cooldown
from k8s_worker.reconcile.timing import OperationClock
from k8s_worker.record.model import Operation
from tests.unit.policy.test_engine import Clock, record


def test_a_cooldown_of_this_replica_counts_from_its_stamp() -> None:
    engine = PolicyEngine(clock=Clock(), host="b", clock_tolerance=30)
    rec = record()
    stamp_cooldown(rec, "SP1", at=900.0, host="b")
    assert engine.cooldown_stamp(rec, "SP1", now=1000.0) == 900.0


def test_a_cooldown_stamped_by_a_lagging_clock_is_held_up_to_the_tolerance_longer() -> None:
    engine = PolicyEngine(clock=Clock(), host="b", clock_tolerance=30)
    rec = record()
    # Replica a's clock is 15 s behind: its stamp of 5 s ago reads 20 s ago here.
    stamp_cooldown(rec, "SP1", at=980.0, host="a")
    assert engine.cooldown_stamp(rec, "SP1", now=1000.0) == 1000.0  # not shortened
    assert engine.cooldown_stamp(rec, "SP1", now=1020.0) == 1010.0
    assert rec.policy_state["lastScaleBy"]["SP1"] == "a"  # nothing rewritten


def test_a_cooldown_stamped_far_in_the_future_restarts_on_this_clock() -> None:
    engine = PolicyEngine(clock=Clock(), host="b", clock_tolerance=30)
    rec = record()
    stamp_cooldown(rec, "SP1", at=1000.0 + 3600, host="a")  # a's clock an hour ahead
    assert engine.cooldown_stamp(rec, "SP1", now=1000.0) == 1000.0
    assert rec.policy_state["lastScale"]["SP1"] == 1000.0
    assert rec.policy_state["lastScaleBy"]["SP1"] == "b"
    # It then ends on time (60 s later), not an hour later.
    assert engine.cooldown_stamp(rec, "SP1", now=1061.0) == 1000.0


def _clock(tolerance: float) -> OperationClock:
    return OperationClock(clock_tolerance=tolerance)


def _op(started_seconds_ago: float) -> Operation:
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=started_seconds_ago)
    op = Operation.new(op_id="op-1", operation="scale", args={})
    op.started_at = started.isoformat().replace("+00:00", "Z")
    return op


def test_an_operation_started_by_a_clock_ahead_does_not_time_out_early() -> None:
    # Started by another replica; its stamp reads 80 s old on this clock (which
    # may be up to 30 s ahead of the other's): its age counts as 50 s.
    age = _clock(30).age(_op(80))
    assert 49 < age < 51
    # Long before (a dead replica's operation): its stamp's age less the tolerance.
    assert 569 < _clock(30).age(_op(600)) < 571


def test_an_operation_stamped_in_the_future_counts_from_when_it_was_first_seen() -> None:
    clock = _clock(30)
    op = _op(-3600)  # stamped by a clock an hour ahead
    assert 0 <= clock.age(op) < 1


def test_a_retried_operation_is_timed_from_its_new_start_on_every_replica() -> None:
    clock = _clock(0)
    first = _op(500)  # watched here during its first attempt
    assert clock.age(first) > 499
    retried = _op(1)  # the same op_id, started again by another replica
    assert 0.5 < clock.age(retried) < 2, "not the first attempt's age"
