"""The policy engine: decisions turned into journaled automatic operations.

It runs inside a VNF's reconcile pass, on the record and the pods as they are,
and changes only the record: it journals an automatic operation (which the
reconciler then carries out like any RPC-driven one, so it is idempotent and
notified), emits vnf.policy.triggered for every decision, and keeps what it
must remember (pending alarms, last scale per policy, heal attempts, trigger
states) in the record's ``status.policy``, so a restart or another replica
picks up exactly where it stopped: a cooldown survives a restart.

Alarms (from the ``alarm`` RPC, or fired by observed triggers) wait in the
record while another operation runs; a burst of the same alarm collapses into
one, a newer state of a trigger replaces its pending older one (only the latest
state is acted on), and at most MAX_PENDING_ALARMS wait (the oldest are dropped).
An alarm fired by an observed trigger that meets a cooldown or a bound stays
queued while its trigger keeps firing, so the engine acts once it may; the same
decision on it is notified once, not on every pass.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import structlog

from k8s_worker.lifecycle.observe import is_terminating, pod_failed, pod_ready
from k8s_worker.policy.decisions import (
    ACT,
    BACKOFF,
    BOUND,
    COOLDOWN,
    DEFERRED,
    EXHAUSTED,
    LOGGED,
    REJECTED,
    RESOLVED,
    Decision,
    TriggerState,
    decide_alarm_heal,
    decide_cpu,
    decide_heal,
    decide_scale,
    evaluate_threshold,
    missing_metrics,
    parameter,
    step_trigger,
)
from k8s_worker.policy.memory import PolicyMemory
from k8s_worker.policy.utilization import Unmeasured, measure
from k8s_worker.record import Operation, OperationKind, VnfRecord, VnfStatus
from k8s_worker.tosca import LABEL_VDU, AlarmTrigger, HealPolicy, Policies

LOG = structlog.get_logger(__name__)
Obj = dict[str, Any]
OBSERVED_METRICS = ("unready_replicas", "restarts")
#: What the metrics API said this pass: pod name -> cpu millicores, or why it
#: could not be read (None: not read this pass, the metrics interval has not passed).
CpuUsage = dict[str, float] | str | None
#: node name -> (Ready, since when (epoch seconds) it has been in that state)
NodeStatus = Callable[[str], tuple[bool, float | None]]
RESPAWN_MEMORY_SECONDS = 3600.0
MAX_PENDING_ALARMS = 50


def _ts(stamp: str | None) -> float | None:
    if not stamp:
        return None
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def add_alarm(
    rec: VnfRecord,
    *,
    policy: str,
    trigger: str,
    state: str,
    details: dict[str, Any] | None,
    now: float,
    observed: bool = False,
) -> None:
    """Queue an alarm in the record; repeats of a pending alarm collapse into it,
    and a pending alarm of the same trigger in another state is dropped (it is stale)."""
    alarms = PolicyMemory.of(rec).alarms
    alarms[:] = [
        a for a in alarms if (a["policy"], a["trigger"]) != (policy, trigger) or a["state"] == state
    ]
    for alarm in alarms:
        if (alarm["policy"], alarm["trigger"], alarm["state"]) == (policy, trigger, state):
            alarm["count"] = int(alarm.get("count", 1)) + 1
            return
    alarm = {
        "policy": policy,
        "trigger": trigger,
        "state": state,
        "count": 1,
        "details": details or {},
        "at": now,
    }
    if observed:
        alarm["observed"] = True
    alarms.append(alarm)
    del alarms[:-MAX_PENDING_ALARMS]


def add_alert(
    rec: VnfRecord,
    *,
    key: str,
    policy: str,
    trigger: str,
    state: str,
    details: dict[str, Any] | None,
    now: float,
) -> bool:
    """Queue an Alertmanager alert as an alarm, unless the same alert (``key``:
    fingerprint, start and status) was taken before; whether it was queued."""
    if PolicyMemory.of(rec).seen_alert(key):
        return False
    add_alarm(rec, policy=policy, trigger=trigger, state=state, details=details, now=now)
    return True


def note_respawn(rec: VnfRecord, *, now: float) -> None:
    """Remember a respawn's time (for restart-storm triggers)."""
    PolicyMemory.of(rec).note_respawn(now=now, keep_seconds=RESPAWN_MEMORY_SECONDS)


def stamp_cooldown(rec: VnfRecord, policy: str, *, at: float, host: str) -> None:
    """Start ``policy``'s cooldown at ``at`` (wall clock of replica ``host``)."""
    PolicyMemory.of(rec).stamp_cooldown(policy, at=at, host=host)


class PolicyEngine:
    """Decides a VNF's scale and heal actions from its record, pods and alarms.

    Writes its memory (cooldown stamps, trigger states, heal attempts) into the
    record's policy state.  Cooldown stamps name the replica (``host``) that
    wrote them; one written by another replica is honoured with
    ``clock_tolerance`` (see ``cooldown_stamp``).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        host: str = "",
        clock_tolerance: float = 0.0,
    ) -> None:
        self.clock = clock
        self.host = host
        self.clock_tolerance = clock_tolerance

    @staticmethod
    def fingerprint(rec: VnfRecord) -> tuple[str, int]:
        """What the engine can change: its memory, and the outbox (every
        journaled operation and status change comes with a notification).
        Cheaper than serializing the whole status (journal, pod memory) twice
        per pass."""
        return json.dumps(rec.policy_state, sort_keys=True), len(rec.outbox())

    # -- what operations leave in the policy memory -------------------------------
    def operation_done(self, rec: VnfRecord, op: Operation) -> None:
        """A manual scale starts its policy's cooldown too (automatic ones
        started it when they were decided), so alarms don't undo it at once; a
        manual heal clears the heal policies that had given up."""
        if op.automatic:
            return
        if op.kind == OperationKind.SCALE and (op.detail or {}).get("policy"):
            stamp_cooldown(rec, op.progress["policy"], at=self.clock(), host=self.host)
        if op.kind == OperationKind.HEAL:
            PolicyMemory.of(rec).forget_heals()

    def respawned(self, rec: VnfRecord) -> None:
        """Remember a respawn of one of the VNF's pods (restart-storm triggers)."""
        note_respawn(rec, now=self.clock())

    def cooldown_stamp(self, rec: VnfRecord, policy: str, *, now: float) -> float | None:
        """When ``policy``'s cooldown started, as this replica should count it.

        Another replica's clock may lag this one's by up to ``clock_tolerance``:
        its stamp counts that much later (never later than now).  A stamp
        further ahead than that is from a clock too far ahead to trust: the
        cooldown restarts now, stamped by this replica."""
        last, by = PolicyMemory.of(rec).last_scale(policy)
        if last is None:
            return None
        if by == self.host:
            return last
        if last > now + self.clock_tolerance:
            stamp_cooldown(rec, policy, at=now, host=self.host)
            return now
        return min(float(last) + self.clock_tolerance, now)

    def evaluate(
        self,
        rec: VnfRecord,
        policies: Policies,
        *,
        pods: list[Obj],
        busy: bool,
        node_status: NodeStatus | None = None,
        cpu_usage: CpuUsage = None,
    ) -> float | None:
        """Decide for the VNF now; changes ``rec`` in place.  Returns seconds until a
        time-based condition (trigger period, heal backoff) needs another look."""
        now = self.clock()
        retry: list[float] = []
        retry.extend(self._observe_triggers(rec, policies, pods=pods, now=now))
        busy = self._alarms(rec, policies, busy=busy, now=now, retry=retry)
        settled = rec.status not in (VnfStatus.ERROR, VnfStatus.PENDING_DELETE)
        if cpu_usage is not None and not busy and settled:
            busy = self._cpu(rec, policies, pods=pods, usage=cpu_usage, now=now, retry=retry)
        if not busy and settled:
            retry.extend(self._heals(rec, policies, pods=pods, now=now, node_status=node_status))
        PolicyMemory.of(rec).tidy()
        return min(retry) if retry else None

    def metrics_missing(self, rec: VnfRecord, policies: Policies, *, reason: str) -> None:
        """The VNF's VIM cannot be reached: its CPU policies decide nothing
        (reported once, as when the metrics API is away); nothing else is
        judged from what this replica last saw there."""
        self._cpu(rec, policies, pods=[], usage=reason, now=self.clock(), retry=[])

    # -- alarms --------------------------------------------------------------------
    def _resolve(
        self, policies: Policies, alarm: dict[str, Any]
    ) -> list[tuple[str, str, tuple[str, ...]]] | str:
        """What an alarm stands for: ("scale", policy, (direction,)) and ("heal",
        action, VDUs) entries, in the trigger's order, or a reason why nothing."""
        name, trigger, state = alarm["policy"], alarm["trigger"], alarm["state"]
        triggers = [
            t for t in policies.alarms if (t.policy == name and t.name == trigger) or t.name == name
        ]
        if not triggers:
            triggers = [t for t in policies.alarms if t.name == trigger]
        if triggers:
            if state != "firing":
                return []
            every_vdu = tuple(sorted({v for p in policies.scaling for v in p.targets}))
            out: list[tuple[str, str, tuple[str, ...]]] = []
            for t in triggers:
                for a in t.actions:
                    if a.kind == "scale" and a.policy:
                        out.append(("scale", a.policy, (a.direction or "out",)))
                    elif a.kind == "heal" and a.action:
                        out.append(("heal", a.action, tuple(t.targets) or every_vdu))
            return out
        try:
            policies.scaling_policy(name)
        except KeyError:
            known = sorted({p.name for p in policies.scaling} | {t.policy for t in policies.alarms})
            return f"no scaling or alarm policy {name!r} (the VNFD has: {', '.join(known)})"
        direction = (alarm.get("details") or {}).get("direction")
        if direction in ("out", "in"):
            # An alert that says which way (Tacker's auto_scale_type): it acts
            # while firing; resolved, it only clears.
            return [("scale", name, (direction,))] if state == "firing" else []
        return [("scale", name, ("out" if state == "firing" else "in",))]

    def _alarms(
        self, rec: VnfRecord, policies: Policies, *, busy: bool, now: float, retry: list[float]
    ) -> bool:
        alarms: list[dict[str, Any]] = PolicyMemory.of(rec).alarms
        keep: list[dict[str, Any]] = []
        for alarm in alarms:
            if busy:
                if not alarm.get("deferred"):
                    alarm["deferred"] = True
                    self._emit(
                        rec,
                        Decision(
                            alarm["policy"],
                            alarm["trigger"],
                            f"alarm {alarm['state']}",
                            DEFERRED,
                            "another operation is running; the alarm waits",
                        ),
                    )
                keep.append(alarm)
                continue
            resolved = self._resolve(policies, alarm)
            if isinstance(resolved, str):
                self._emit(
                    rec,
                    Decision(
                        alarm["policy"],
                        alarm["trigger"],
                        f"alarm {alarm['state']}",
                        REJECTED,
                        resolved,
                    ),
                    priority="ERROR",
                )
                continue
            if not resolved:
                self._emit(
                    rec,
                    Decision(
                        alarm["policy"],
                        alarm["trigger"],
                        f"alarm {alarm['state']}",
                        RESOLVED,
                        "alarm resolved; its actions fire on alarms only",
                    ),
                )
                continue
            # An observed trigger's alarm held back by a cooldown or a bound waits
            # while the trigger keeps firing; each such decision is notified once.
            reported = set(alarm.get("reported") or [])
            done = list(alarm.get("done") or [])  # actions of this alarm already taken
            waiting: list[str] = []
            for kind, name, detail in resolved:
                if f"{kind}:{name}" in done:
                    continue
                if kind == "heal":
                    decision = decide_alarm_heal(
                        policy=alarm["policy"], trigger=alarm["trigger"], action=name, vdus=detail
                    )
                    done.append(f"{kind}:{name}")
                    self._emit(rec, decision)
                    if decision.decision == ACT:
                        busy = True
                        break
                    continue
                policy_name, direction = name, detail[0]
                try:
                    policy = policies.scaling_policy(policy_name)
                except KeyError:
                    continue
                last = self.cooldown_stamp(rec, policy_name, now=now)
                decision = decide_scale(
                    policy,
                    trigger=alarm["trigger"],
                    direction=direction,
                    replicas=rec.desired_replicas,
                    last_scaled_at=last,
                    now=now,
                )
                if alarm.get("count", 1) > 1:
                    decision = _with_reason(
                        decision, f"{decision.reason} ({alarm['count']} alarms collapsed)"
                    )
                if decision.decision == ACT:
                    stamp_cooldown(rec, policy_name, at=now, host=self.host)
                    done.append(f"{kind}:{name}")
                    busy = True
                elif alarm.get("observed") and decision.decision in (COOLDOWN, BOUND):
                    signature = f"{policy_name}:{decision.decision}"
                    waiting.append(signature)
                    if decision.retry_in is not None:
                        retry.append(max(0.5, decision.retry_in))
                    if signature in reported:
                        continue
                self._emit(rec, decision)
                if decision.decision != ACT and not alarm.get("observed"):
                    done.append(f"{kind}:{name}")  # decided once; not again with the rest
                if busy:
                    break
            if waiting and not busy:
                alarm["reported"] = waiting
                keep.append(alarm)
            elif busy and any(f"{k}:{n}" not in done for k, n, _ in resolved):
                # An alarm with several actions: the rest wait for this operation.
                alarm["done"] = done
                keep.append(alarm)
        PolicyMemory.of(rec).alarms = keep
        return busy

    # -- CPU policies ------------------------------------------------------------------
    def _cpu(
        self,
        rec: VnfRecord,
        policies: Policies,
        *,
        pods: list[Obj],
        usage: dict[str, float] | str,
        now: float,
        retry: list[float],
    ) -> bool:
        """Decide each CPU policy from this pass's metrics; whether an
        operation was journaled.  A decision not to act is notified once per
        kind (bound reached, metrics missing), a cooldown not at all."""
        memory = PolicyMemory.of(rec)
        for policy in policies.cpu_scaling:
            target = policy.target_cpu_utilization_percentage or 0
            name = policy.name
            measured = (
                Unmeasured(usage, lasting=True)
                if isinstance(usage, str)
                else measure(vdus=policy.targets, pods=pods, usage=usage, target=float(target))
            )
            if isinstance(measured, Unmeasured):
                # Pods not Ready or not reported yet pass by themselves: not
                # reported.  No metrics API, no cpu requests: reported once.
                memory.forget_cpu_samples(name)
                kind = "unavailable" if isinstance(usage, str) else measured.reason
                signature = f"logged:{kind}"
                if measured.lasting and memory.cpu_reported(name) != signature:
                    memory.note_cpu_reported(name, signature)
                    self._emit(rec, missing_metrics(policy, measured.reason), priority="WARN")
                continue
            decision = decide_cpu(
                policy,
                utilization=measured.percent,
                samples=memory.cpu_samples(name),
                measured_since=memory.cpu_since(name),
                replicas=rec.desired_replicas,
                last_scaled_at=self.cooldown_stamp(rec, name, now=now),
                now=now,
                level=int(rec.scale_levels.get(name, 0)),
            )
            memory.note_cpu_sample(
                name,
                at=now,
                ratio=measured.percent / target,
                keep_seconds=policy.scale_in_stabilization_seconds,
            )
            if decision is None:
                memory.note_cpu_reported(name, None)
                continue
            if decision.decision == COOLDOWN:
                retry.append(max(0.5, decision.retry_in or 1.0))
                continue
            if decision.decision == ACT:
                stamp_cooldown(rec, name, at=now, host=self.host)
                memory.note_cpu_reported(name, None)
                self._emit(rec, decision)
                return True  # one automatic operation at a time
            signature = f"{decision.decision}:{decision.action}"
            if memory.cpu_reported(name) != signature:
                memory.note_cpu_reported(name, signature)
                self._emit(rec, decision)
        return False

    # -- observed triggers -----------------------------------------------------------
    def _metric(
        self, rec: VnfRecord, trigger: AlarmTrigger, pods: list[Obj], now: float
    ) -> float | None:
        metric = str(trigger.metric or "")
        if metric == "unready_replicas":
            ready: dict[str, int] = {}
            for pod in pods:
                if pod_ready(pod):
                    vdu = (pod["metadata"].get("labels") or {}).get(LABEL_VDU, "")
                    ready[vdu] = ready.get(vdu, 0) + 1
            return float(
                sum(
                    max(0, int(rec.desired_replicas.get(v, 0)) - ready.get(v, 0))
                    for v in trigger.targets
                )
            )
        if metric == "restarts":
            window = float(trigger.granularity_seconds or 60)
            respawns = PolicyMemory.of(rec).respawns()
            return float(sum(1 for t in respawns if now - t <= window))
        return None

    def _observe_triggers(
        self, rec: VnfRecord, policies: Policies, *, pods: list[Obj], now: float
    ) -> list[float]:
        retry = []
        states = PolicyMemory.of(rec).triggers
        for trigger in policies.alarms:
            if trigger.metric not in OBSERVED_METRICS or trigger.threshold is None:
                continue
            value = self._metric(rec, trigger, pods, now)
            if value is None:
                continue
            key = f"{trigger.policy}/{trigger.name}"
            saved = states.get(key) or {}
            state = TriggerState(since=saved.get("since"), firing=bool(saved.get("firing")))
            period = float(trigger.granularity_seconds or 60) * int(trigger.evaluations or 1)
            holds = evaluate_threshold(
                value=value,
                threshold=float(trigger.threshold),
                comparison=trigger.comparison_operator or "gt",
            )
            new_state, change = step_trigger(state, holds=holds, period_seconds=period, now=now)
            states[key] = {"since": new_state.since, "firing": new_state.firing}
            if change is not None:
                add_alarm(
                    rec,
                    policy=trigger.policy,
                    trigger=trigger.name,
                    state=change,
                    details={"metric": trigger.metric, "value": value},
                    now=now,
                    observed=True,
                )
            elif holds and not new_state.firing and new_state.since is not None:
                retry.append(max(0.5, period - (now - new_state.since)))
        return retry

    # -- heal policies ------------------------------------------------------------------
    def _condition_pods(
        self,
        policy: HealPolicy,
        vdu: str,
        pods: list[Obj],
        now: float,
        node_status: NodeStatus | None = None,
        due: list[float] | None = None,
    ) -> list[str]:
        """The pods in the policy's condition now; ``due`` gets the seconds until
        pods that are on their way (not ready, but not for long enough yet) will
        be: nothing else may happen to wake the VNF up then (a stuck pod sends
        no more events)."""
        due = due if due is not None else []
        params = dict(policy.parameters)
        mine = [
            p
            for p in pods
            if (p["metadata"].get("labels") or {}).get(LABEL_VDU) == vdu and not is_terminating(p)
        ]
        trigger = policy.trigger
        if trigger in ("failure", "failed", "pod_failed"):
            return sorted(p["metadata"]["name"] for p in mine if pod_failed(p))
        if trigger in ("not_ready", "notready"):
            limit = parameter(params, "not_ready_seconds", 60, least=0)
            out = []
            for p in mine:
                if pod_ready(p) or pod_failed(p):
                    continue
                since = _ts(p["metadata"].get("creationTimestamp"))
                for c in (p.get("status") or {}).get("conditions") or []:
                    if c.get("type") == "Ready":
                        since = _ts(c.get("lastTransitionTime")) or since
                if since is not None and now - since >= limit:
                    out.append(p["metadata"]["name"])
                elif since is not None:
                    due.append(limit - (now - since))
            return sorted(out)
        if trigger in ("node_not_ready", "node_notready"):
            if node_status is None:
                return []  # the worker may not watch nodes (RBAC): nothing to see
            limit = parameter(params, "node_not_ready_seconds", 0, least=0)
            out = []
            for p in mine:
                if pod_failed(p) or not (p.get("spec") or {}).get("nodeName"):
                    continue
                ready, since = node_status(p["spec"]["nodeName"])
                if not ready and (since is None or now - since >= limit):
                    out.append(p["metadata"]["name"])
                elif not ready and since is not None:
                    due.append(limit - (now - since))
            return sorted(out)
        if trigger in ("crash_loop", "crashloop"):
            limit = parameter(params, "crash_loop_seconds", 60, least=0)
            out = []
            for p in mine:
                for cs in (p.get("status") or {}).get("containerStatuses") or []:
                    waiting = (cs.get("state") or {}).get("waiting") or {}
                    if waiting.get("reason") != "CrashLoopBackOff":
                        continue
                    last = (cs.get("lastState") or {}).get("terminated") or {}
                    since = _ts(last.get("finishedAt")) or now
                    if now - since >= limit or int(cs.get("restartCount", 0)) >= 3:
                        out.append(p["metadata"]["name"])
                        break
                    due.append(limit - (now - since))
            return sorted(out)
        return []

    def _heals(
        self,
        rec: VnfRecord,
        policies: Policies,
        *,
        pods: list[Obj],
        now: float,
        node_status: NodeStatus | None = None,
    ) -> list[float]:
        retry: list[float] = []
        memory = PolicyMemory.of(rec).heals
        for policy in policies.heals:
            for vdu in policy.targets:
                key = f"{policy.name}/{vdu}/{policy.trigger}"
                mem = memory.setdefault(key, {"attempts": []})
                due: list[float] = []
                affected = self._condition_pods(policy, vdu, pods, now, node_status, due)
                retry.extend(max(0.5, d) for d in due)
                if not affected:
                    mem.pop("last", None)
                    if mem.pop("exhausted", None):
                        mem["attempts"] = []  # recovered: a new failure is healed again
                    continue
                if mem.get("exhausted"):
                    continue
                scaling = next(iter(policies.scaling_for(vdu)), None)
                last_scaled = self.cooldown_stamp(rec, scaling.name, now=now) if scaling else None
                decision = decide_heal(
                    policy,
                    vdu=vdu,
                    condition=policy.trigger,
                    pods=affected,
                    attempts=mem["attempts"],
                    now=now,
                    scaling=scaling,
                    replicas=rec.desired_replicas,
                    last_scaled_at=last_scaled,
                )
                if decision.decision == BACKOFF:
                    retry.append(decision.retry_in or 1.0)
                    continue
                signature = [decision.decision, affected]
                if decision.decision != ACT and mem.get("last") == signature:
                    continue  # the same decision for the same pods was already reported
                mem["last"] = signature
                if decision.decision == ACT:
                    recent = [t for t in mem["attempts"] if now - t < 24 * 3600][-50:]
                    mem["attempts"] = [*recent, now]
                    if decision.operation == "scale":
                        stamp_cooldown(rec, decision.args["policy"], at=now, host=self.host)
                    self._emit(rec, decision)
                    return retry  # one automatic operation at a time
                if decision.decision == EXHAUSTED:
                    mem["exhausted"] = True
                    self._emit(rec, decision, priority="ERROR")
                    rec.set_status(
                        VnfStatus.ERROR,
                        reason=f"heal policy {policy.name} gave up: {decision.reason}",
                    )
                    continue
                self._emit(
                    rec, decision, priority="INFO" if decision.decision == LOGGED else "WARN"
                )
        return retry

    # -- output ------------------------------------------------------------------------
    def _emit(self, rec: VnfRecord, decision: Decision, *, priority: str = "INFO") -> None:
        payload = decision.payload()
        if decision.decision == ACT and decision.operation:
            n = PolicyMemory.of(rec).next_operation_number()
            op = Operation.new(
                op_id=f"auto-{rec.vnf_id[:8]}-{n}",
                operation=decision.operation,
                args=dict(decision.args),
                automatic=True,
            )
            rec.add_operation(op)
            payload["op_id"] = op.op_id
        rec.emit("vnf.policy.triggered", payload, priority=priority)
        LOG.info("policy.decision", vnf_id=rec.vnf_id, **payload)


def _with_reason(decision: Decision, reason: str) -> Decision:
    return Decision(
        decision.policy,
        decision.trigger,
        decision.action,
        decision.decision,
        reason,
        decision.operation,
        decision.args,
        decision.retry_in,
    )
