"""The engine on a real translation and record, with a fake clock."""

from __future__ import annotations

from k8s_worker.policy.engine import PolicyEngine, add_alarm
from k8s_worker.record import VnfRecord
from k8s_worker.tosca import LABEL_VDU, translate
from tests.vnfds import heal_policy, one_vdu

VNFD = one_vdu(max_instances=2, cooldown=60, policies=heal_policy(backoff=5))
VNF_ID = "6f1c3a2e-0000-4000-8000-000000000001"


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record() -> VnfRecord:
    rec = VnfRecord.new(
        namespace="r",
        vnf_id=VNF_ID,
        name="x",
        tenant_id="t",
        vnf_namespace="ns",
        vnfd=VNFD,
        params={},
        labels={},
    )
    rec.st["namespace"] = "ns"
    rec.st["status"] = "ACTIVE"
    rec.desired_replicas["VDU1"] = 1
    return rec


def decisions(rec: VnfRecord) -> list[tuple[str, str]]:
    return [
        (e["payload"]["decision"], e["payload"].get("op_id", ""))
        for e in rec.outbox()
        if e["eventType"] == "vnf.policy.triggered"
    ]


def failed_pod(name: str) -> dict:
    return {
        "metadata": {"name": name, "labels": {LABEL_VDU: "VDU1"}},
        "status": {"phase": "Failed"},
    }


T = translate(VNFD, vnf_id=VNF_ID)


def test_a_burst_of_alarms_scales_once_then_cooldown():
    clock = Clock()
    engine = PolicyEngine(clock=clock)
    rec = record()
    for _ in range(20):
        add_alarm(rec, policy="SP1", trigger="cpu_high", state="firing", details={}, now=0)
    assert len(rec.policy_state["alarms"]) == 1 and rec.policy_state["alarms"][0]["count"] == 20
    engine.evaluate(rec, T.policies, pods=[], busy=False)
    assert decisions(rec) == [("act", f"auto-{VNF_ID[:8]}-1")]
    scale = rec.current()
    assert scale.operation == "scale" and scale.automatic and scale.args["type"] == "out"
    # While the scale runs, a new alarm waits (reported once as deferred).
    add_alarm(rec, policy="SP1", trigger="cpu_high", state="firing", details={}, now=0)
    engine.evaluate(rec, T.policies, pods=[], busy=True)
    engine.evaluate(rec, T.policies, pods=[], busy=True)
    assert [d for d, _ in decisions(rec)] == ["act", "deferred"]
    # After it, inside the cooldown: not acted on; the alarm is not lost, it is decided.
    rec.desired_replicas["VDU1"] = 2
    clock.now += 30
    engine.evaluate(rec, T.policies, pods=[], busy=False)
    assert [d for d, _ in decisions(rec)] == ["act", "deferred", "cooldown"]
    assert rec.policy_state["alarms"] == []


def test_cooldown_survives_in_the_record():
    clock = Clock()
    rec = record()
    add_alarm(rec, policy="SP1", trigger="t", state="firing", details={}, now=0)
    PolicyEngine(clock=clock).evaluate(rec, T.policies, pods=[], busy=False)
    # A new engine (a restarted replica) reads the same record.
    copy = VnfRecord(rec.copy().obj)
    copy.desired_replicas["VDU1"] = 1
    clock.now += 10
    add_alarm(copy, policy="SP1", trigger="t", state="firing", details={}, now=0)
    PolicyEngine(clock=clock).evaluate(copy, T.policies, pods=[], busy=False)
    assert [d for d, _ in decisions(copy)][-1] == "cooldown"


def test_unknown_policy_is_rejected_with_the_known_ones():
    rec = record()
    add_alarm(rec, policy="nope", trigger="t", state="firing", details={}, now=0)
    PolicyEngine(clock=Clock()).evaluate(rec, T.policies, pods=[], busy=False)
    event = rec.outbox()[-1]
    assert event["priority"] == "ERROR"
    assert event["payload"]["decision"] == "rejected" and "SP1" in event["payload"]["reason"]


def test_failed_pods_are_respawned_until_the_attempt_limit_then_error():
    clock = Clock()
    engine = PolicyEngine(clock=clock)
    rec = record()
    engine.evaluate(rec, T.policies, pods=[failed_pod("p1")], busy=False)
    assert rec.current().args["pods"] == ["p1"]
    rec.st["operations"] = []  # the heal ran
    clock.now += 1
    retry = engine.evaluate(rec, T.policies, pods=[failed_pod("p2")], busy=False)
    assert retry is not None and retry > 0 and rec.current() is None  # backoff
    clock.now += 10
    engine.evaluate(rec, T.policies, pods=[failed_pod("p2")], busy=False)
    assert rec.current().args["pods"] == ["p2"]
    rec.st["operations"] = []
    clock.now += 60
    engine.evaluate(rec, T.policies, pods=[failed_pod("p3")], busy=False)
    assert rec.current() is None
    assert rec.status == "ERROR"
    last = [e for e in rec.outbox() if e["eventType"] == "vnf.policy.triggered"][-1]
    assert last["payload"]["decision"] == "attempts_exhausted" and last["priority"] == "ERROR"
    # It does not loop: the next look decides nothing new.
    before = len(rec.outbox())
    engine.evaluate(rec, T.policies, pods=[failed_pod("p3")], busy=False)
    assert len(rec.outbox()) == before


VNFD_TRIGGER = one_vdu(
    max_instances=4,
    default_instances=2,
    cooldown=0,
    policies="""\
    - unready_watch:
        type: tosca.policies.tacker.Alarming
        triggers:
          too_many_unready:
            event_type: {type: tosca.events.resource.utilization, implementation: worker}
            metric: unready_replicas
            condition: {threshold: 0, granularity: 10, evaluations: 3, comparison_operator: gt}
            metadata: VDU1
            action: [SP1-out]
""",
)


def ready_pod(name: str, ready: bool) -> dict:
    return {
        "metadata": {"name": name, "labels": {LABEL_VDU: "VDU1"}},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": str(ready)}]},
    }


def test_sustained_unready_replicas_fire_the_trigger_once_after_its_period():
    translation = translate(VNFD_TRIGGER, vnf_id=VNF_ID)
    clock = Clock()
    engine = PolicyEngine(clock=clock)
    rec = record()
    rec.desired_replicas["VDU1"] = 2
    pods = [ready_pod("a", True), ready_pod("b", False)]
    retry = engine.evaluate(rec, translation.policies, pods=pods, busy=False)
    assert rec.current() is None and retry == 30  # 3 evaluations x 10 s
    clock.now += 29
    engine.evaluate(rec, translation.policies, pods=pods, busy=False)
    assert rec.current() is None
    clock.now += 1
    engine.evaluate(rec, translation.policies, pods=pods, busy=False)
    op = rec.current()
    assert (
        op is not None and op.automatic and op.args == {"policy": "SP1", "type": "out", "steps": 1}
    )
    triggered = [e["payload"] for e in rec.outbox() if e["eventType"] == "vnf.policy.triggered"]
    assert [(t["trigger"], t["decision"]) for t in triggered] == [("too_many_unready", "act")]
    # Still unready but already firing: no second scale.
    rec.st["operations"] = []
    clock.now += 60
    engine.evaluate(rec, translation.policies, pods=pods, busy=False)
    assert rec.current() is None
    # Recovery resolves it: a decision is reported, nothing is scaled.
    engine.evaluate(
        rec, translation.policies, pods=[ready_pod("a", True), ready_pod("b", True)], busy=False
    )
    last = [e["payload"] for e in rec.outbox() if e["eventType"] == "vnf.policy.triggered"][-1]
    assert last["decision"] == "resolved" and rec.current() is None


def test_pods_on_a_not_ready_node_are_respawned_only_after_the_grace():
    vnfd = one_vdu(
        max_instances=2,
        cooldown=60,
        policies=heal_policy(
            backoff=5, trigger="node_not_ready", extra="node_not_ready_seconds: 30"
        ),
    )
    translation = translate(vnfd, vnf_id=VNF_ID)
    clock = Clock(now=1000)
    engine = PolicyEngine(clock=clock)
    rec = record()
    pods = [
        {
            "metadata": {"name": "p-on-bad", "labels": {LABEL_VDU: "VDU1"}},
            "spec": {"nodeName": "bad"},
            "status": {"phase": "Running"},
        },
        {
            "metadata": {"name": "p-on-good", "labels": {LABEL_VDU: "VDU1"}},
            "spec": {"nodeName": "good"},
            "status": {"phase": "Running"},
        },
    ]

    def nodes(name: str) -> tuple[bool, float | None]:
        return (False, 990.0) if name == "bad" else (True, 0.0)

    retry = engine.evaluate(rec, translation.policies, pods=pods, busy=False, node_status=nodes)
    assert rec.current() is None  # NotReady for 10 s only
    # A dead node sends no more events: the engine asks to look again when the grace ends.
    assert retry == 20
    clock.now = 1021
    engine.evaluate(rec, translation.policies, pods=pods, busy=False, node_status=nodes)
    op = rec.current()
    assert op is not None and op.args["pods"] == ["p-on-bad"]
    assert "node_not_ready" in op.args["cause"]
    # Without node readiness (no RBAC to watch nodes) nothing is decided.
    rec2 = record()
    engine.evaluate(rec2, translation.policies, pods=pods, busy=False, node_status=None)
    assert rec2.current() is None and rec2.outbox() == []
