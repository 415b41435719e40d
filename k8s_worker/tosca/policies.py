"""Normalized policies of a VNF, as the policy engine consumes them.

Both descriptor forms (Tacker's policies and SOL001 scaling aspects) are reduced
to these frozen dataclasses, so the engine never looks at TOSCA.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

HEAL_ACTIONS = (
    "respawn",
    "vdu_autoheal",
    "restart_vdu",
    "recreate",
    "scale_out",
    "log",
    "log_and_kill",
)


@dataclass(frozen=True)
class ScalingPolicy:
    """Scale ``targets`` between ``min_instances`` and ``max_instances`` (replicas per VDU).

    ``increment`` is the replica change of one step. With
    ``target_cpu_utilization_percentage`` the policy scales from its VDUs' CPU
    (the HPA's rule, within ``cpu_tolerance``); a scale-in waits until lower
    usage has been seen for ``scale_in_stabilization_seconds``.  For SOL001 aspects,
    ``step_deltas`` gives, per target VDU, the replica delta of each scale level
    step (level 0->1, 1->2, ...) and ``max_scale_level`` bounds the level.
    """

    name: str
    targets: tuple[str, ...]
    min_instances: int
    max_instances: int
    default_instances: int
    increment: int
    cooldown_seconds: int = 120
    target_cpu_utilization_percentage: int | None = None
    scale_in_stabilization_seconds: int = 300
    cpu_tolerance: float = 0.1
    max_scale_level: int | None = None
    step_deltas: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def increment_for(self, vdu: str, *, level: int = 0) -> int:
        """Replicas added to ``vdu`` by the step from scale ``level`` to ``level + 1``."""
        for name, deltas in self.step_deltas:
            if name == vdu and deltas:
                return deltas[min(level, len(deltas) - 1)]
        return self.increment


#: What ``additionalParams.autoscaling`` may set per scaling policy or aspect,
#: with the bounds of each: the ScalingPolicy field it sets.
AUTOSCALING_KEYS: dict[str, tuple[str, float, float]] = {
    "target_cpu_utilization_percentage": ("target_cpu_utilization_percentage", 1, 100),
    "cooldown": ("cooldown_seconds", 0, 86400),
    "scale_in_stabilization": ("scale_in_stabilization_seconds", 0, 86400),
    "tolerance": ("cpu_tolerance", 0, 1),
}


def autoscaling_problems(overrides: object) -> list[str]:
    """What is wrong with an ``additionalParams.autoscaling`` mapping (policy
    or aspect name -> settings of AUTOSCALING_KEYS); empty when nothing."""
    if not isinstance(overrides, dict):
        return ["autoscaling: expected a mapping of policy name -> settings"]
    problems = []
    for name, settings in overrides.items():
        if not isinstance(settings, dict):
            problems.append(f"autoscaling.{name}: expected a mapping")
            continue
        for key, value in settings.items():
            if key not in AUTOSCALING_KEYS:
                known = ", ".join(AUTOSCALING_KEYS)
                problems.append(f"autoscaling.{name}.{key}: unknown (known: {known})")
                continue
            _, low, high = AUTOSCALING_KEYS[key]
            integral = key != "tolerance"
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if ok and integral:
                ok = float(value).is_integer()
            if not ok or not low <= value <= high:
                kind = "a whole number" if integral else "a number"
                problems.append(f"autoscaling.{name}.{key}: expected {kind} {low:g}-{high:g}")
    return problems


def with_autoscaling(policies: Policies, overrides: dict[str, dict[str, float]]) -> Policies:
    """``policies`` with the VNF's ``additionalParams.autoscaling`` applied (its
    shape checked by ``autoscaling_problems``); ValueError naming a policy the
    descriptor does not have."""
    known = {p.name for p in policies.scaling}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(
            f"additionalParams autoscaling names {', '.join(unknown)}, which the VNFD does not "
            f"have (its scaling policies and aspects: {', '.join(sorted(known)) or 'none'})"
        )
    scaling = []
    for policy in policies.scaling:
        changes: dict[str, Any] = {}
        for key, value in (overrides.get(policy.name) or {}).items():
            attr = AUTOSCALING_KEYS[key][0]
            changes[attr] = float(value) if key == "tolerance" else int(value)
        scaling.append(replace(policy, **changes) if changes else policy)
    return Policies(scaling=tuple(scaling), alarms=policies.alarms, heals=policies.heals)


@dataclass(frozen=True)
class AlarmAction:
    """What an alarm does: scale a policy (``direction`` out/in) or a heal action."""

    kind: str  # "scale" or "heal"
    policy: str | None = None
    direction: str | None = None  # "out" / "in" for kind == "scale"
    action: str | None = None  # one of HEAL_ACTIONS for kind == "heal"


@dataclass(frozen=True)
class AlarmTrigger:
    """One trigger of a ``tosca.policies.tacker.Alarming`` policy."""

    policy: str
    name: str
    metric: str | None
    targets: tuple[str, ...]
    actions: tuple[AlarmAction, ...]
    comparison_operator: str | None = None
    threshold: float | None = None
    evaluations: int | None = None
    granularity_seconds: int | None = None
    aggregation_method: str | None = None
    event_type: str | None = None


@dataclass(frozen=True)
class HealPolicy:
    """Run ``action`` on ``targets`` when ``trigger`` (usually "failure") is observed.

    ``monitor`` names the health check (ping, http-ping, noop, ...) when the
    descriptor gives one; ``parameters`` are its settings as given.
    """

    name: str
    targets: tuple[str, ...]
    action: str
    trigger: str = "failure"
    monitor: str | None = None
    parameters: tuple[tuple[str, str], ...] = ()


Policy = ScalingPolicy | AlarmTrigger | HealPolicy


@dataclass(frozen=True)
class Policies:
    """All normalized policies of a VNF, with lookups by name and by VDU."""

    scaling: tuple[ScalingPolicy, ...] = ()
    alarms: tuple[AlarmTrigger, ...] = ()
    heals: tuple[HealPolicy, ...] = ()
    _by_name: dict[str, ScalingPolicy] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({p.name: p for p in self.scaling})

    def __iter__(self) -> Iterator[Policy]:
        yield from self.scaling
        yield from self.alarms
        yield from self.heals

    def __len__(self) -> int:
        return len(self.scaling) + len(self.alarms) + len(self.heals)

    def scaling_policy(self, name: str) -> ScalingPolicy:
        """The scaling policy (or SOL001 aspect) called ``name``; KeyError if none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no scaling policy {name!r}") from None

    @property
    def cpu_scaling(self) -> tuple[ScalingPolicy, ...]:
        """The scaling policies that scale from CPU (they have a target)."""
        return tuple(p for p in self.scaling if p.target_cpu_utilization_percentage)

    def scaling_for(self, vdu: str) -> tuple[ScalingPolicy, ...]:
        return tuple(p for p in self.scaling if vdu in p.targets)

    def heals_for(self, vdu: str) -> tuple[HealPolicy, ...]:
        return tuple(p for p in self.heals if vdu in p.targets)
