"""Which events the tool shows: by VNF, VIM, tenant, event type and priority.

Values of one filter are alternatives (any may match); different filters must
all match.  VNF ids, tenants and event types are ``fnmatch`` globs (a plain
value matches exactly).  A single priority is a minimum (``warn`` shows WARN,
ERROR and CRITICAL); several (comma-separated or repeated) are an exact list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from k8s_worker.tail.event import SEVERITY, Event, normalize_priority


def _split(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def parse_priorities(values: Sequence[str]) -> frozenset[str] | None:
    """The priorities to show, or None for all.  ValueError names an unknown one."""
    if not values:
        return None
    names = tuple(normalize_priority(v) for v in _split(values))
    unknown = [n for n in names if n not in SEVERITY]
    if unknown:
        known = ", ".join(p.lower() for p in SEVERITY)
        raise ValueError(f"unknown priority {unknown[0].lower()!r} (one of {known})")
    if not names:
        return None
    if len(values) == 1 and "," not in values[0]:
        floor = SEVERITY[names[0]]
        return frozenset(p for p, rank in SEVERITY.items() if rank >= floor)
    return frozenset(names)


@dataclass(frozen=True)
class EventFilter:
    """A conjunction of optional filters; an empty one shows everything."""

    vnf_ids: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    priorities: frozenset[str] | None = None
    vim_ids: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        *,
        vnf_ids: Iterable[str] = (),
        tenants: Iterable[str] = (),
        events: Iterable[str] = (),
        priorities: Sequence[str] = (),
        vim_ids: Iterable[str] = (),
    ) -> EventFilter:
        """``vim_ids``: a VIM's own events and its VNFs' (``default`` is the
        worker's own cluster, whose VNFs' events name no VIM)."""
        return cls(
            vim_ids=_split(vim_ids),
            vnf_ids=_split(vnf_ids),
            tenants=_split(tenants),
            events=_split(events),
            priorities=parse_priorities(priorities),
        )

    def matches(self, event: Event) -> bool:
        return (
            _any_glob(self.vnf_ids, event.vnf_id)
            and _any_glob(self.vim_ids, event.vim_id or ("default" if event.vnf_id else None))
            and _any_glob(self.tenants, event.tenant_id)
            and _any_glob(self.events, event.event_type)
            and (self.priorities is None or event.priority in self.priorities)
        )

    def routing_keys(self, topic: str) -> list[str]:
        """The bindings that deliver every event this filter can show."""
        if self.priorities is None:
            return [f"{topic}.*"]  # topic exchange: '*' is one word, i.e. any priority
        ordered = sorted(self.priorities, key=lambda p: (SEVERITY[p], p))
        return [f"{topic}.{p.lower()}" for p in ordered]


def _any_glob(patterns: tuple[str, ...], value: str | None) -> bool:
    if not patterns:
        return True
    return value is not None and any(fnmatchcase(value, p) for p in patterns)
