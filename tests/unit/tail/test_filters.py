"""Which events are shown: globs, priorities as a minimum or a list, and bindings."""

from __future__ import annotations

import pytest

from k8s_worker.tail.event import Event
from k8s_worker.tail.filters import EventFilter, parse_priorities


def _event(
    event_type: str = "vnf.scale.start",
    *,
    vnf_id: str = "3f2a9c1e-0000",
    tenant_id: str = "tenant-a",
    priority: str = "INFO",
) -> Event:
    return Event(
        event_type=event_type,
        priority=priority,
        timestamp="2024-05-01 12:00:00",
        routing_key=f"notifications.{priority.lower()}",
        payload={"vnf_id": vnf_id, "tenant_id": tenant_id, "sequence": 1},
    )


def test_an_empty_filter_shows_everything() -> None:
    assert EventFilter.build().matches(_event())


@pytest.mark.parametrize(
    ("patterns", "event_type", "shown"),
    [
        (["vnf.scale.*"], "vnf.scale.end", True),
        (["vnf.scale.*"], "vnf.heal.end", False),
        (["vnf.status.update"], "vnf.status.update", True),
        (["vnf.status.update"], "vnf.status.updated", False),
        (["*.error"], "vnf.instantiate.error", True),
        (["vnf.heal.*", "vnf.respawn"], "vnf.respawn", True),
        (["vnf.heal.*,vnf.respawn"], "vnf.respawn", True),
    ],
)
def test_event_type_globs(patterns: list[str], event_type: str, shown: bool) -> None:
    assert EventFilter.build(events=patterns).matches(_event(event_type)) is shown


def test_vnf_ids_match_exactly_or_by_glob() -> None:
    event = _event(vnf_id="3f2a9c1e-7d41")
    assert EventFilter.build(vnf_ids=["3f2a9c1e-7d41"]).matches(event)
    assert EventFilter.build(vnf_ids=["3f2a9c1e*"]).matches(event)
    assert not EventFilter.build(vnf_ids=["3f2a9c1e"]).matches(event)
    assert EventFilter.build(vnf_ids=["other", "3f2a*"]).matches(event)


def test_an_event_without_a_vnf_id_fails_a_vnf_filter() -> None:
    event = Event(event_type="x", priority="INFO", timestamp="", routing_key="n.info")
    assert not EventFilter.build(vnf_ids=["*"]).matches(event)


def test_different_filters_must_all_match() -> None:
    flt = EventFilter.build(tenants=["tenant-a"], events=["vnf.scale.*"])
    assert flt.matches(_event("vnf.scale.end", tenant_id="tenant-a"))
    assert not flt.matches(_event("vnf.scale.end", tenant_id="tenant-b"))
    assert not flt.matches(_event("vnf.heal.end", tenant_id="tenant-a"))


def test_one_priority_is_a_minimum() -> None:
    assert parse_priorities(["warn"]) == {"WARN", "ERROR", "CRITICAL"}
    assert parse_priorities(["WARNING"]) == {"WARN", "ERROR", "CRITICAL"}
    flt = EventFilter.build(priorities=["error"])
    assert flt.matches(_event(priority="CRITICAL"))
    assert not flt.matches(_event(priority="WARN"))


def test_several_priorities_are_an_exact_list() -> None:
    assert parse_priorities(["info,error"]) == {"INFO", "ERROR"}
    assert parse_priorities(["info", "error"]) == {"INFO", "ERROR"}
    assert parse_priorities(["info,"]) == {"INFO"}
    assert not EventFilter.build(priorities=["info,error"]).matches(_event(priority="WARN"))


def test_unknown_priorities_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'loud'"):
        parse_priorities(["info,loud"])


def test_no_priority_filter_binds_every_priority_with_one_key() -> None:
    assert EventFilter.build().routing_keys("notifications") == ["notifications.*"]


def test_a_priority_filter_binds_only_its_keys_in_severity_order() -> None:
    keys = EventFilter.build(priorities=["warn"]).routing_keys("n")
    assert keys == ["n.warn", "n.error", "n.critical"]


def test_a_vim_filter_shows_the_vims_events_and_its_vnfs() -> None:
    def event(event_type: str, payload: dict) -> Event:
        return Event(
            event_type=event_type,
            priority="INFO",
            timestamp="2024-05-01 12:00:00",
            routing_key="notifications.info",
            payload=payload,
        )

    vim_event = event("vim.status.update", {"vim_id": "vim2", "status": "UNREACHABLE"})
    on_vim2 = event("vnf.scale.end", {"vnf_id": "b", "vim_id": "vim2", "sequence": 3})
    on_default = event("vnf.scale.end", {"vnf_id": "a", "sequence": 3})
    vim2 = EventFilter.build(vim_ids=["vim2"])
    assert vim2.matches(vim_event) and vim2.matches(on_vim2) and not vim2.matches(on_default)
    default = EventFilter.build(vim_ids=["default"])
    assert default.matches(on_default) and not default.matches(vim_event)
    assert EventFilter.build(vim_ids=["vim*"]).matches(on_vim2)
