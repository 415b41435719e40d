"""Alarm triggers whose actions are heal actions, or several actions."""

from __future__ import annotations

from k8s_worker.policy.engine import PolicyEngine, add_alarm
from k8s_worker.tosca import translate
from tests.unit.policy.test_engine import VNF_ID, Clock, decisions, record
from tests.vnfds import one_vdu


def alarm_policy(actions: str) -> str:
    return f"""\
    - vdu_watch:
        type: tosca.policies.tacker.Alarming
        triggers:
          vdu1_down:
            metric: up
            condition: {{threshold: 1, comparison_operator: lt}}
            metadata: VDU1
            action: {actions}
"""


def setup(actions: str):
    policies = translate(
        one_vdu(max_instances=4, default_instances=2, cooldown=0, policies=alarm_policy(actions)),
        vnf_id=VNF_ID,
    ).policies
    rec = record()
    rec.desired_replicas["VDU1"] = 2
    return PolicyEngine(clock=Clock(now=1000)), policies, rec


def test_a_firing_alarm_with_a_heal_action_restarts_its_vdu():
    engine, policies, rec = setup("[vdu_autoheal]")
    add_alarm(rec, policy="vdu_watch", trigger="vdu1_down", state="firing", details=None, now=1000)
    engine.evaluate(rec, policies, pods=[], busy=False)
    op = rec.current()
    assert op is not None and op.operation == "heal" and op.automatic
    assert op.args["vdus"] == ["VDU1"] and op.args["restart"] is True
    assert decisions(rec) == [("act", op.op_id)]


def test_a_resolved_alarm_with_a_heal_action_does_nothing():
    engine, policies, rec = setup("[respawn]")
    add_alarm(
        rec, policy="vdu_watch", trigger="vdu1_down", state="resolved", details=None, now=1000
    )
    engine.evaluate(rec, policies, pods=[], busy=False)
    assert rec.current() is None
    assert [d for d, _ in decisions(rec)] == ["resolved"]


def test_every_action_of_an_alarm_is_taken_one_operation_at_a_time():
    engine, policies, rec = setup("[SP1, vdu_autoheal]")
    add_alarm(rec, policy="vdu_watch", trigger="vdu1_down", state="firing", details=None, now=1000)
    engine.evaluate(rec, policies, pods=[], busy=False)
    first = rec.current()
    assert first is not None and first.operation == "scale"
    # The scale runs: the alarm's other action waits for it, it is not lost.
    engine.evaluate(rec, policies, pods=[], busy=True)
    assert rec.policy_state["alarms"], "the heal action still waits"
    first.state = type(first.state).COMPLETED
    rec.save_operation(first)
    engine.evaluate(rec, policies, pods=[], busy=False)
    second = rec.current()
    assert second is not None and second.operation == "heal" and second.args["restart"] is True
    assert rec.policy_state["alarms"] == []
