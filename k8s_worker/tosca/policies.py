"""Normalized policies of a VNF, as the policy engine consumes them.

Both descriptor forms (Tacker's policies and SOL001 scaling aspects) are reduced
to these frozen dataclasses, so the engine never looks at TOSCA.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

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

    ``increment`` is the replica change of one step. For SOL001 aspects,
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
    max_scale_level: int | None = None
    step_deltas: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def increment_for(self, vdu: str, *, level: int = 0) -> int:
        """Replicas added to ``vdu`` by the step from scale ``level`` to ``level + 1``."""
        for name, deltas in self.step_deltas:
            if name == vdu and deltas:
                return deltas[min(level, len(deltas) - 1)]
        return self.increment


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

    def scaling_for(self, vdu: str) -> tuple[ScalingPolicy, ...]:
        return tuple(p for p in self.scaling if vdu in p.targets)

    def heals_for(self, vdu: str) -> tuple[HealPolicy, ...]:
        return tuple(p for p in self.heals if vdu in p.targets)
