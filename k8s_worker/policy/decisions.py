"""Policy decisions as pure functions: (policy, state, event, clock) -> Decision.

Nothing here reads the cluster or the clock; the engine passes both in, which
is what lets a fake clock drive every rule in the unit tests.  A decision is
made for every trigger, including the decision not to act (cooldown, bound
reached, attempts exhausted), because operators need to see both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from k8s_worker.tosca import HealPolicy, ScalingPolicy

# Decisions
ACT = "act"  # an operation is journaled
COOLDOWN = "cooldown"
BOUND = "bound_reached"
EXHAUSTED = "attempts_exhausted"
BACKOFF = "backoff"  # not yet: try again later (not notified)
LOGGED = "logged"
RESOLVED = "resolved"
REJECTED = "rejected"
DEFERRED = "deferred"  # another operation runs; the alarm waits


@dataclass(frozen=True)
class Decision:
    """What a policy decided for one trigger: act (with the operation to journal), hold
    (cooldown, backoff, a limit) or nothing; its reason is shown in
    ``vnf.policy.triggered``."""

    policy: str
    trigger: str
    action: str
    decision: str
    reason: str
    operation: str | None = None  # the operation to journal when decision == ACT
    args: dict[str, Any] = field(default_factory=dict)
    retry_in: float | None = None  # for BACKOFF and COOLDOWN: seconds until it may act
    details: dict[str, Any] = field(default_factory=dict)  # e.g. measured and target

    def payload(self) -> dict[str, Any]:
        return {
            **self.details,
            "policy": self.policy,
            "trigger": self.trigger,
            "action": self.action,
            "decision": self.decision,
            "reason": self.reason,
            "automatic": True,
        }


def cooldown_left(policy: ScalingPolicy, *, last_scaled_at: float | None, now: float) -> float:
    """Seconds of ``policy``'s cooldown still to run (0: it may scale)."""
    if last_scaled_at is None:
        return 0.0
    return max(0.0, policy.cooldown_seconds - (now - last_scaled_at))


def decide_scale(
    policy: ScalingPolicy,
    *,
    trigger: str,
    direction: str,
    replicas: Mapping[str, int],
    last_scaled_at: float | None,
    now: float,
) -> Decision:
    """Scale ``policy`` one step in ``direction`` unless cooling down or at a bound."""
    action = f"scale_{direction}"
    left = cooldown_left(policy, last_scaled_at=last_scaled_at, now=now)
    if left > 0:
        return Decision(
            policy.name,
            trigger,
            action,
            COOLDOWN,
            f"cooldown of {policy.cooldown_seconds}s: {left:.0f}s left",
            retry_in=left,
        )
    movable = []
    for vdu in policy.targets:
        current = int(replicas.get(vdu, policy.default_instances))
        if direction == "out" and current < policy.max_instances:
            movable.append(vdu)
        if direction == "in" and current > policy.min_instances:
            movable.append(vdu)
    if not movable:
        bound = (
            f"max_instances {policy.max_instances}"
            if direction == "out"
            else f"min_instances {policy.min_instances}"
        )
        return Decision(
            policy.name, trigger, action, BOUND, f"{', '.join(policy.targets)} already at {bound}"
        )
    return Decision(
        policy.name,
        trigger,
        action,
        ACT,
        f"scaling {direction} by one step",
        operation="scale",
        args={"policy": policy.name, "type": direction, "steps": 1},
    )


CPU_TRIGGER = "cpu_utilization"


def decide_cpu(
    policy: ScalingPolicy,
    *,
    utilization: float,
    samples: Sequence[tuple[float, float]],
    measured_since: float | None,
    replicas: Mapping[str, int],
    last_scaled_at: float | None,
    now: float,
    level: int = 0,
) -> Decision | None:
    """What the HPA's rule makes of ``utilization`` (percent of the pods' cpu
    requests, averaged) against the policy's target; None within the tolerance.

    desired = ceil(current * utilization / target) per VDU, within min/max; a
    step moves by the policy's increment toward it and never past it (the
    decision's ``toward``).  A scale-in waits until the CPU has been measured
    (``measured_since``) for the stabilization window and takes the highest
    ratio of the ``samples`` (time, ratio) in it, so
    a dip does not scale in.  Cooling down is a COOLDOWN decision (the engine
    does not notify it).  An aspect (``max_scale_level``) also stays within
    its levels 0..max (``level``: its scale level now)."""
    target = float(policy.target_cpu_utilization_percentage or 0)
    if target <= 0:
        return None
    ratio = utilization / target
    details = {
        "measured": round(utilization, 1),
        "target": int(target),
        "metric": "cpu_utilization_percentage",
    }
    if abs(ratio - 1.0) <= policy.cpu_tolerance:
        return None
    direction = "out" if ratio > 1.0 else "in"
    if direction == "in":
        window = policy.scale_in_stabilization_seconds
        kept = [r for t, r in samples if now - t <= window]
        if measured_since is None or now - measured_since < window:
            return None  # not seen for the whole window yet
        ratio = max([ratio, *kept])
        if ratio >= 1.0 - policy.cpu_tolerance:
            return None  # the window saw higher usage: stay
    toward: dict[str, int] = {}
    for vdu in policy.targets:
        current = int(replicas.get(vdu, policy.default_instances))
        desired = max(policy.min_instances, min(policy.max_instances, math.ceil(current * ratio)))
        if (direction == "out" and desired > current) or (direction == "in" and desired < current):
            toward[vdu] = desired
    if policy.max_scale_level is not None and (
        (direction == "out" and level >= policy.max_scale_level)
        or (direction == "in" and level <= 0)
    ):
        toward = {}
    action = f"scale_{direction}"
    measured = f"cpu {utilization:.0f}% of requests, target {target:.0f}%"
    if not toward:
        now_at = [int(replicas.get(v, policy.default_instances)) for v in policy.targets]
        if direction == "out":
            at_bound = all(n >= policy.max_instances for n in now_at)
        else:
            at_bound = all(n <= policy.min_instances for n in now_at)
        if policy.max_scale_level is not None:
            at_bound = at_bound or (
                level >= policy.max_scale_level if direction == "out" else level <= 0
            )
        if not at_bound:
            return None  # the rule asks for no change of replicas
        bound = (
            f"max_instances {policy.max_instances}"
            if direction == "out"
            else f"min_instances {policy.min_instances}"
        )
        if policy.max_scale_level is not None:
            bound = f"scale level {level} (0..{policy.max_scale_level}) or its vdu_profile"
        return Decision(
            policy.name,
            CPU_TRIGGER,
            action,
            BOUND,
            f"{measured}: {', '.join(policy.targets)} already at {bound}",
            details=details,
        )
    left = cooldown_left(policy, last_scaled_at=last_scaled_at, now=now)
    if left > 0:
        return Decision(
            policy.name,
            CPU_TRIGGER,
            action,
            COOLDOWN,
            f"{measured}: cooldown of {policy.cooldown_seconds}s, {left:.0f}s left",
            retry_in=left,
            details=details,
        )
    wanted = ", ".join(f"{v} to {n}" for v, n in toward.items())
    return Decision(
        policy.name,
        CPU_TRIGGER,
        action,
        ACT,
        f"{measured}: scaling {direction} one step toward {wanted}",
        operation="scale",
        args={"policy": policy.name, "type": direction, "steps": 1, "toward": toward},
        details={**details, "desired": toward},
    )


def missing_metrics(policy: ScalingPolicy, reason: str) -> Decision:
    """A CPU policy that cannot decide (no metrics API, a VIM away, no cpu
    requests): nothing scales, and the engine reports it once."""
    return Decision(
        policy.name,
        CPU_TRIGGER,
        "none",
        LOGGED,
        f"no CPU decision: {reason}",
        details={
            "target": policy.target_cpu_utilization_percentage,
            "metric": "cpu_utilization_percentage",
        },
    )


@dataclass(frozen=True)
class HealLimits:
    """How often a heal policy may act: attempts per window, and the backoff between them."""

    max_attempts: int = 3
    window_seconds: float = 600.0
    backoff_seconds: float = 10.0

    @classmethod
    def of(cls, policy: HealPolicy) -> HealLimits:
        params = dict(policy.parameters)

        return cls(
            max_attempts=int(parameter(params, "max_attempts", cls.max_attempts, least=1)),
            window_seconds=parameter(params, "window", cls.window_seconds, least=1),
            backoff_seconds=parameter(params, "backoff", cls.backoff_seconds, least=0),
        )


def parameter(params: Mapping[str, Any], key: str, default: float, *, least: float) -> float:
    """A numeric policy parameter; the default when it is missing, not a finite
    number, or below ``least`` (a policy value must never crash a reconcile,
    nor turn a limit off: ``max_attempts: .inf`` or ``window: -1``)."""
    try:
        value = float(params.get(key, default))
    except (TypeError, ValueError):
        return default
    if not math.isfinite(value) or value < least:
        return default
    return value


def decide_heal(
    policy: HealPolicy,
    *,
    vdu: str,
    condition: str,
    pods: Sequence[str],
    attempts: Sequence[float],
    now: float,
    scaling: ScalingPolicy | None = None,
    replicas: Mapping[str, int] | None = None,
    last_scaled_at: float | None = None,
) -> Decision:
    """What to do about ``condition`` (failure, not_ready, crash_loop) on ``pods``.

    ``attempts`` are the times of earlier automatic heals of this policy and VDU.
    Within ``window`` at most ``max_attempts`` are made, each after an
    exponential backoff; after that the VNF is given up on (ERROR) rather than
    healed in a loop.
    """
    limits = HealLimits.of(policy)
    action = policy.action
    trigger = f"{condition}:{vdu}"
    if action == "log":
        return Decision(
            policy.name,
            trigger,
            action,
            LOGGED,
            f"{condition} on {vdu}: {', '.join(pods)} (log only)",
        )
    recent = sorted(t for t in attempts if now - t < limits.window_seconds)
    if len(recent) >= limits.max_attempts:
        return Decision(
            policy.name,
            trigger,
            action,
            EXHAUSTED,
            f"{condition} on {vdu} persists after {len(recent)} heal attempts "
            f"in {limits.window_seconds:.0f}s",
        )
    if recent:
        wait = limits.backoff_seconds * 2 ** (len(recent) - 1) - (now - recent[-1])
        if wait > 0:
            return Decision(
                policy.name,
                trigger,
                action,
                BACKOFF,
                f"next heal attempt in {wait:.1f}s",
                retry_in=wait,
            )
    cause = f"{condition} of {', '.join(pods)}"
    if action in ("respawn", "log_and_kill"):
        return Decision(
            policy.name,
            trigger,
            action,
            ACT,
            f"respawning {', '.join(pods)}",
            operation="heal",
            args={"vdus": [vdu], "pods": list(pods), "cause": cause},
        )
    if action in ("vdu_autoheal", "restart_vdu"):
        return Decision(
            policy.name,
            trigger,
            action,
            ACT,
            f"restarting VDU {vdu}",
            operation="heal",
            args={"vdus": [vdu], "restart": True, "cause": cause},
        )
    if action == "recreate":
        return Decision(
            policy.name,
            trigger,
            action,
            ACT,
            "recreating the VNF's objects",
            operation="heal",
            args={"vdus": [vdu], "recreate": True, "cause": cause},
        )
    if action == "scale_out":
        if scaling is None:
            return Decision(
                policy.name, trigger, action, REJECTED, f"no scaling policy targets {vdu}"
            )
        scale = decide_scale(
            scaling,
            trigger=trigger,
            direction="out",
            replicas=replicas or {},
            last_scaled_at=last_scaled_at,
            now=now,
        )
        return Decision(
            policy.name,
            trigger,
            action,
            scale.decision,
            scale.reason,
            operation=scale.operation,
            args=scale.args,
        )
    return Decision(policy.name, trigger, action, REJECTED, f"unknown heal action {action!r}")


def decide_alarm_heal(*, policy: str, trigger: str, action: str, vdus: Sequence[str]) -> Decision:
    """What a firing alarm whose action is a heal action does to ``vdus``.

    An alarm names no pods, so ``respawn`` replaces every pod of the VDUs;
    ``vdu_autoheal``/``restart_vdu`` roll them; ``recreate`` rebuilds the
    VNF's objects. Attempt limits belong to heal policies, which watch a
    condition; an alarm is acted on once per alarm, as its source decided.
    """
    cause = f"alarm {trigger}"
    named = ", ".join(vdus)
    if action == "log":
        return Decision(policy, trigger, action, LOGGED, f"alarm {trigger} on {named} (log only)")
    if action in ("respawn", "log_and_kill"):
        args: dict[str, Any] = {"vdus": list(vdus), "cause": cause}
        reason = f"replacing the pods of {named}"
    elif action in ("vdu_autoheal", "restart_vdu"):
        args = {"vdus": list(vdus), "restart": True, "cause": cause}
        reason = f"restarting {named}"
    elif action == "recreate":
        args = {"vdus": list(vdus), "recreate": True, "cause": cause}
        reason = "recreating the VNF's objects"
    else:
        return Decision(policy, trigger, action, REJECTED, f"unknown heal action {action!r}")
    return Decision(policy, trigger, action, ACT, reason, operation="heal", args=args)


@dataclass(frozen=True)
class TriggerState:
    """A trigger's memory between passes: since when its condition holds, and whether it
    fired."""

    since: float | None = None  # when the condition started to hold
    firing: bool = False


def evaluate_threshold(*, value: float, threshold: float, comparison: str) -> bool:
    ops = {
        "gt": value > threshold,
        "ge": value >= threshold,
        "lt": value < threshold,
        "le": value <= threshold,
        "eq": value == threshold,
        "ne": value != threshold,
    }
    return ops.get((comparison or "gt").lower(), value > threshold)


def step_trigger(
    state: TriggerState, *, holds: bool, period_seconds: float, now: float
) -> tuple[TriggerState, str | None]:
    """Advance an observed trigger: "firing" once the condition has held for the
    whole evaluation period, "resolved" when a firing condition stops holding."""
    if holds:
        since = state.since if state.since is not None else now
        if not state.firing and now - since >= period_seconds:
            return TriggerState(since=since, firing=True), "firing"
        return TriggerState(since=since, firing=state.firing), None
    if state.firing:
        return TriggerState(), "resolved"
    return TriggerState(), None
