"""Scaling from CPU: the measure (the HPA's), the rule, and the engine's
once-only reports, on a fake clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from k8s_worker.kube.quantity import cpu_millis
from k8s_worker.policy.decisions import ACT, BOUND, COOLDOWN, LOGGED, decide_cpu
from k8s_worker.policy.engine import PolicyEngine
from k8s_worker.policy.utilization import Unmeasured, Utilization, measure
from k8s_worker.record import VnfRecord
from k8s_worker.tosca import (
    LABEL_VDU,
    ScalingPolicy,
    autoscaling_problems,
    translate,
    with_autoscaling,
)
from tests.unit.policy.test_engine import VNF_ID, Clock
from tests.vnfds import one_vdu

SP = ScalingPolicy(
    name="SP1",
    targets=("VDU1",),
    min_instances=1,
    max_instances=10,
    default_instances=1,
    increment=1,
    cooldown_seconds=30,
    target_cpu_utilization_percentage=50,
    scale_in_stabilization_seconds=60,
)


def pod(name: str, *, cpu: str | None = "100m", ready: bool = True, vdu: str = "VDU1") -> dict:
    resources = {"requests": {"cpu": cpu}} if cpu else {}
    return {
        "metadata": {"name": name, "labels": {LABEL_VDU: vdu}},
        "spec": {"containers": [{"name": "c", "resources": resources}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


@pytest.mark.parametrize(
    ("quantity", "millis"),
    [("250m", 250.0), ("0.5", 500.0), (2, 2000.0), ("900024602n", 900.024602), ("bad", None)],
)
def test_cpu_quantities(quantity, millis):
    assert cpu_millis(quantity) == (pytest.approx(millis) if millis is not None else None)


def test_utilization_is_usage_over_requests_of_ready_pods():
    pods = [pod("a"), pod("b"), pod("c", ready=False), pod("d", vdu="VDU2")]
    got = measure(vdus=["VDU1"], pods=pods, usage={"a": 90, "b": 70, "c": 500}, target=50)
    assert got == Utilization(percent=80.0, pods=2, reported=2)


def test_pods_without_metrics_count_against_the_direction():
    pods = [pod("a"), pod("b")]
    # Scale-out side: the unreported pod counts at no usage.
    out = measure(vdus=["VDU1"], pods=pods, usage={"a": 150}, target=50)
    assert isinstance(out, Utilization) and out.percent == 75.0
    # Scale-in side: at the target.
    low = measure(vdus=["VDU1"], pods=pods, usage={"a": 10}, target=50)
    assert isinstance(low, Utilization) and low.percent == 30.0


def test_unreported_pods_never_turn_the_direction():
    # 90% on one pod of two: counted at no usage the other would make it 45%
    # (a scale-in); it stays at the target instead: no change.
    got = measure(vdus=["VDU1"], pods=[pod("a"), pod("b")], usage={"a": 89.9}, target=50)
    assert isinstance(got, Utilization) and got.percent == 50.0
    assert decide(got.percent, since=0.0) is None


def test_no_change_of_replicas_is_no_decision():
    # ceil(2 * 0.8) = 2: neither a step nor a bound.
    assert decide(40.0, replicas=2, since=0.0, cpu_tolerance=0.1) is None


def test_a_vdu_without_cpu_requests_cannot_be_measured():
    got = measure(vdus=["VDU1"], pods=[pod("a", cpu=None)], usage={"a": 5}, target=50)
    assert got == Unmeasured("VDU VDU1 has containers without cpu requests", lasting=True)
    assert measure(vdus=["VDU1"], pods=[], usage={}, target=50) == Unmeasured(
        "no Ready pods of VDU1"
    )
    assert measure(vdus=["VDU1"], pods=[pod("a")], usage={}, target=50) == Unmeasured(
        "the metrics API reports none of the VDUs' pods yet"
    )


def decide(utilization, *, replicas=2, last=None, now=1000.0, since=None, samples=(), **kw):
    policy = replace(SP, **kw) if kw else SP
    return decide_cpu(
        policy,
        utilization=utilization,
        samples=list(samples),
        measured_since=since,
        replicas={"VDU1": replicas},
        last_scaled_at=last,
        now=now,
    )


def test_hpa_rule_scales_out_toward_desired_by_one_step():
    d = decide(90.0, replicas=2)  # ceil(2 * 90/50) = 4
    assert d is not None and d.decision == ACT
    assert d.args == {"policy": "SP1", "type": "out", "steps": 1, "toward": {"VDU1": 4}}
    assert d.payload()["measured"] == 90.0 and d.payload()["target"] == 50
    assert d.payload()["trigger"] == "cpu_utilization"


def test_within_tolerance_nothing_is_decided():
    assert decide(54.0) is None and decide(46.0, since=0.0) is None
    assert decide(54.0, cpu_tolerance=0.0) is not None
    assert decide(56.0) is not None


def test_cooldown_and_bounds():
    cool = decide(90.0, last=990.0)
    assert cool is not None and cool.decision == COOLDOWN and cool.retry_in == pytest.approx(20)
    bound = decide(90.0, replicas=10)
    assert bound is not None and bound.decision == BOUND


def test_scale_in_waits_for_the_stabilization_window_and_its_highest_sample():
    assert decide(10.0, since=990.0) is None  # measured for 10s of 60
    d = decide(10.0, replicas=4, since=900.0, samples=[(950.0, 0.2)])
    assert d is not None and d.decision == ACT and d.args["toward"] == {"VDU1": 1}
    # A high sample inside the window keeps it.
    assert decide(10.0, replicas=4, since=900.0, samples=[(980.0, 1.6)]) is None
    # Only down to what the window's highest sample asks: ceil(4 * 0.5) = 2.
    d = decide(10.0, replicas=4, since=900.0, samples=[(980.0, 0.5)])
    assert d is not None and d.args["toward"] == {"VDU1": 2}


def test_an_aspect_stays_within_its_levels():
    aspect = dict(max_scale_level=2, step_deltas=(("VDU1", (1, 1)),))
    policy = replace(SP, **aspect)
    at_top = decide_cpu(
        policy,
        utilization=90.0,
        samples=[],
        measured_since=None,
        replicas={"VDU1": 3},
        last_scaled_at=None,
        now=1000.0,
        level=2,
    )
    assert at_top is not None and at_top.decision == BOUND


def test_autoscaling_settings_are_checked_and_applied():
    assert autoscaling_problems({"SP1": {"cooldown": 5, "scale_in_stabilization": 5}}) == []
    problems = autoscaling_problems({"SP1": {"cooldown": -1, "speed": 1}, "SP2": 3})
    assert len(problems) == 3 and any("speed: unknown" in p for p in problems)
    assert autoscaling_problems([]) != []
    policies = translate(one_vdu(max_instances=4), vnf_id=VNF_ID).policies
    applied = with_autoscaling(
        policies, {"SP1": {"target_cpu_utilization_percentage": 60, "cooldown": 3}}
    )
    sp = applied.scaling_policy("SP1")
    assert (sp.target_cpu_utilization_percentage, sp.cooldown_seconds) == (60, 3)
    with pytest.raises(ValueError, match="names SP9"):
        with_autoscaling(policies, {"SP9": {"cooldown": 1}})


def record() -> VnfRecord:
    rec = VnfRecord.new(
        namespace="r",
        vnf_id=VNF_ID,
        name="x",
        tenant_id="t",
        vnf_namespace="ns",
        vnfd="",
        params={},
        labels={},
    )
    rec.st["namespace"] = "ns"
    rec.st["status"] = "ACTIVE"
    rec.desired_replicas["VDU1"] = 1
    return rec


def cpu_decisions(rec: VnfRecord) -> list[str]:
    return [
        e["payload"]["decision"]
        for e in rec.outbox()
        if e["eventType"] == "vnf.policy.triggered" and e["payload"]["trigger"] == "cpu_utilization"
    ]


def test_engine_acts_once_per_cooldown_and_reports_missing_metrics_once():
    policies = with_autoscaling(
        translate(one_vdu(max_instances=4), vnf_id=VNF_ID).policies,
        {"SP1": {"target_cpu_utilization_percentage": 50, "cooldown": 10}},
    )
    clock = Clock()
    engine = PolicyEngine(clock=clock)
    rec = record()
    pods = [pod("a")]
    engine.evaluate(rec, policies, pods=pods, busy=False, cpu_usage={"a": 90.0})
    assert cpu_decisions(rec) == [ACT]
    assert rec.current() is not None and rec.current().args["toward"] == {"VDU1": 2}
    rec.current().state = "COMPLETED"  # type: ignore[assignment]
    rec.desired_replicas["VDU1"] = 2
    for _ in range(3):  # cooling down: no report
        clock.now += 2
        engine.evaluate(rec, policies, pods=pods, busy=False, cpu_usage={"a": 90.0})
    assert cpu_decisions(rec) == [ACT]
    for reason in ("no metrics API", "no metrics API (again)"):
        clock.now += 2
        engine.evaluate(rec, policies, pods=pods, busy=False, cpu_usage=reason)
    assert cpu_decisions(rec) == [ACT, LOGGED]
    # Not measured this pass (None): nothing decided, nothing forgotten.
    engine.evaluate(rec, policies, pods=pods, busy=False, cpu_usage=None)
    assert cpu_decisions(rec) == [ACT, LOGGED]


def test_an_unreachable_vim_is_reported_once_and_scales_nothing():
    policies = with_autoscaling(
        translate(one_vdu(max_instances=4), vnf_id=VNF_ID).policies,
        {"SP1": {"target_cpu_utilization_percentage": 50}},
    )
    engine = PolicyEngine(clock=Clock())
    rec = record()
    for _ in range(3):
        engine.metrics_missing(rec, policies, reason="VIM vim2 is unreachable")
    assert cpu_decisions(rec) == [LOGGED] and rec.current() is None
