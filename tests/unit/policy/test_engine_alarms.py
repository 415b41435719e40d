"""Observed triggers held back by a cooldown or a bound, stale queued alarms, the
pending-alarm cap, and heal policies that gave up once."""

from __future__ import annotations

from k8s_worker.policy import engine as engine_module
from k8s_worker.policy.engine import PolicyEngine, add_alarm
from k8s_worker.tosca import translate
from tests.unit.policy.test_engine import (
    VNF_ID,
    Clock,
    T,
    decisions,
    failed_pod,
    ready_pod,
    record,
)
from tests.vnfds import one_vdu

TRIGGER = """\
    - unready_watch:
        type: tosca.policies.tacker.Alarming
        triggers:
          too_many_unready:
            event_type: {type: tosca.events.resource.utilization, implementation: worker}
            metric: unready_replicas
            condition: {threshold: 0, granularity: 10, evaluations: 3, comparison_operator: gt}
            metadata: VDU1
            action: [SP1-out]
"""
UNREADY = [ready_pod("a", True), ready_pod("b", False)]
READY = [ready_pod("a", True), ready_pod("b", True)]


def triggered(rec) -> list[str]:
    return [d for d, _ in decisions(rec)]


def test_an_observed_trigger_in_cooldown_acts_once_the_cooldown_is_over():
    policies = translate(
        one_vdu(max_instances=4, default_instances=2, cooldown=60, policies=TRIGGER),
        vnf_id=VNF_ID,
    ).policies
    clock = Clock(now=1000)
    engine = PolicyEngine(clock=clock)
    rec = record()
    rec.desired_replicas["VDU1"] = 2
    rec.policy_state["lastScale"] = {"SP1": 1010.0}  # e.g. a manual scale: cooldown to 1070
    engine.evaluate(rec, policies, pods=UNREADY, busy=False)
    clock.now = 1030  # the trigger fires, inside the cooldown
    retry = engine.evaluate(rec, policies, pods=UNREADY, busy=False)
    assert rec.current() is None and triggered(rec) == ["cooldown"]
    assert retry == 40  # look again when the cooldown ends
    # Later passes inside the cooldown notify nothing new.
    for now in (1040, 1050, 1069):
        clock.now = now
        engine.evaluate(rec, policies, pods=UNREADY, busy=False)
    assert triggered(rec) == ["cooldown"]
    # The condition still holds after the cooldown: the engine acts.
    clock.now = 1070
    engine.evaluate(rec, policies, pods=UNREADY, busy=False)
    op = rec.current()
    assert op is not None and op.args == {"policy": "SP1", "type": "out", "steps": 1}
    assert triggered(rec) == ["cooldown", "act"]
    assert rec.policy_state["alarms"] == []


def test_an_observed_trigger_in_cooldown_is_dropped_when_the_condition_clears():
    policies = translate(
        one_vdu(max_instances=4, default_instances=2, cooldown=60, policies=TRIGGER),
        vnf_id=VNF_ID,
    ).policies
    clock = Clock(now=1000)
    engine = PolicyEngine(clock=clock)
    rec = record()
    rec.desired_replicas["VDU1"] = 2
    rec.policy_state["lastScale"] = {"SP1": 1010.0}
    engine.evaluate(rec, policies, pods=UNREADY, busy=False)
    clock.now = 1030
    engine.evaluate(rec, policies, pods=UNREADY, busy=False)
    clock.now = 1040
    engine.evaluate(rec, policies, pods=READY, busy=False)
    clock.now = 1100
    engine.evaluate(rec, policies, pods=READY, busy=False)
    assert rec.current() is None
    assert triggered(rec) == ["cooldown", "resolved"]


def test_an_observed_trigger_at_a_bound_acts_once_there_is_room():
    policies = translate(
        one_vdu(max_instances=4, default_instances=2, cooldown=0, policies=TRIGGER),
        vnf_id=VNF_ID,
    ).policies
    clock = Clock(now=1000)
    engine = PolicyEngine(clock=clock)
    rec = record()
    rec.desired_replicas["VDU1"] = 4
    engine.evaluate(rec, policies, pods=UNREADY, busy=False)
    clock.now = 1030
    engine.evaluate(rec, policies, pods=UNREADY, busy=False)
    clock.now = 1040
    engine.evaluate(rec, policies, pods=UNREADY, busy=False)
    assert rec.current() is None and triggered(rec) == ["bound_reached"]
    rec.desired_replicas["VDU1"] = 3  # scaled in by hand
    clock.now = 1050
    engine.evaluate(rec, policies, pods=UNREADY, busy=False)
    assert rec.current() is not None and triggered(rec) == ["bound_reached", "act"]


def test_a_trigger_that_fired_and_resolved_while_busy_does_not_scale():
    policies = translate(
        one_vdu(max_instances=4, default_instances=2, cooldown=0, policies=TRIGGER),
        vnf_id=VNF_ID,
    ).policies
    clock = Clock(now=1000)
    engine = PolicyEngine(clock=clock)
    rec = record()
    rec.desired_replicas["VDU1"] = 2
    engine.evaluate(rec, policies, pods=UNREADY, busy=True)
    clock.now = 1030
    engine.evaluate(rec, policies, pods=UNREADY, busy=True)  # fires: queued
    clock.now = 1040
    engine.evaluate(rec, policies, pods=READY, busy=True)  # resolves: queued
    assert [a["state"] for a in rec.policy_state["alarms"]] == ["resolved"]
    clock.now = 1050
    engine.evaluate(rec, policies, pods=READY, busy=False)
    assert rec.current() is None
    assert triggered(rec)[-1] == "resolved" and "act" not in triggered(rec)


def test_queuing_a_state_drops_the_pending_opposite_state_of_the_same_trigger():
    rec = record()
    add_alarm(rec, policy="SP1", trigger="t", state="resolved", details={}, now=0)
    add_alarm(rec, policy="SP1", trigger="other", state="resolved", details={}, now=0)
    add_alarm(rec, policy="SP1", trigger="t", state="firing", details={}, now=1)
    assert [(a["trigger"], a["state"]) for a in rec.policy_state["alarms"]] == [
        ("other", "resolved"),
        ("t", "firing"),
    ]


def test_the_pending_alarms_are_capped_keeping_the_latest():
    cap = engine_module.MAX_PENDING_ALARMS
    rec = record()
    for i in range(cap + 10):
        add_alarm(rec, policy="SP1", trigger=f"t{i}", state="firing", details={}, now=i)
    alarms = rec.policy_state["alarms"]
    assert len(alarms) == cap
    assert alarms[0]["trigger"] == "t10" and alarms[-1]["trigger"] == f"t{cap + 9}"


def test_a_heal_policy_that_gave_up_heals_again_once_the_condition_cleared():
    clock = Clock()
    engine = PolicyEngine(clock=clock)
    rec = record()
    for name, step in (("p1", 0), ("p2", 11), ("p3", 60)):
        clock.now += step
        engine.evaluate(rec, T.policies, pods=[failed_pod(name)], busy=False)
        rec.st["operations"] = []
    assert rec.status == "ERROR"
    # An operation brought the VNF back; the pods are fine now.
    rec.st["status"] = "ACTIVE"
    clock.now += 30
    engine.evaluate(rec, T.policies, pods=[], busy=False)
    memory = rec.policy_state["heal"]
    assert not any(m.get("exhausted") or m.get("attempts") for m in memory.values())
    # A new failure a day later is healed again.
    clock.now += 24 * 3600
    engine.evaluate(rec, T.policies, pods=[failed_pod("p9")], busy=False)
    op = rec.current()
    assert op is not None and op.args["pods"] == ["p9"] and rec.status == "ACTIVE"
