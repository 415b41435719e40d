"""Lease ages are judged on this replica's monotonic clock, from when it saw a
renewal change: a skewed wall clock (here or there) changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from k8s_worker.fleet.membership import Membership


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lease(holder: str, renew_time: str) -> dict[str, Any]:
    return {
        "metadata": {"name": f"k8s-worker-{holder}", "namespace": "ns"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 10, "renewTime": renew_time},
    }


def membership(monotonic: Clock, *, wall: float) -> Membership:
    m = Membership(
        None,  # type: ignore[arg-type]  # no API calls in these tests
        namespace="ns",
        host="me",
        lease_duration=10,
        renew_interval=2,
        wall=lambda: wall,
        monotonic=monotonic,
    )
    m._renewed_at = monotonic()  # our own lease is fresh
    return m


def put(m: Membership, obj: dict[str, Any]) -> None:
    m.informer.cache[("ns", obj["metadata"]["name"])] = obj


def test_a_peer_whose_clock_is_far_off_is_live_while_it_renews() -> None:
    clock = Clock()
    # Our wall clock is 15 s or more ahead of every stamp the peer writes: by
    # wall-clock age the peer (lease 10 s) would be dead all along.
    ahead = dt.datetime(2026, 12, 1, 10, 1, 15, tzinfo=dt.UTC).timestamp()
    m = membership(clock, wall=ahead)
    put(m, lease("peer", "2026-12-01T10:00:00.000000Z"))
    assert m._live() == ["me", "peer"]
    for second in range(1, 60, 2):
        clock.now += 2
        m._renewed_at = clock.now
        put(m, lease("peer", f"2026-12-01T10:00:{second:02d}.000000Z"))
        assert "peer" in m._live()


def test_a_peer_that_stops_renewing_is_dead_one_lease_later_by_our_clock() -> None:
    clock = Clock()
    m = membership(clock, wall=0.0)  # a wall clock far behind changes nothing either
    put(m, lease("peer", "2030-01-01T00:00:00.000000Z"))
    assert "peer" in m._live()
    clock.now += 9.5
    m._renewed_at = clock.now
    assert "peer" in m._live()
    clock.now += 1.0
    m._renewed_at = clock.now
    assert m._live() == ["me"]


def test_a_deleted_lease_is_forgotten() -> None:
    clock = Clock()
    m = membership(clock, wall=0.0)
    put(m, lease("peer", "2030-01-01T00:00:00.000000Z"))
    m._live()
    m.informer.cache.clear()
    assert m._live() == ["me"] and m._observed == {}


class FakeKube:
    """Enough of Kube for renew(): the lease is always there."""

    async def get_or_none(self, kind: Any, *, name: str, namespace: str) -> dict[str, Any]:
        return {"metadata": {"resourceVersion": "1"}}

    async def replace(self, body: dict[str, Any]) -> dict[str, Any]:
        return body


async def test_a_replica_back_from_a_pause_acts_only_after_the_handover_grace() -> None:
    clock = Clock()
    m = membership(clock, wall=0.0)
    m.kube = FakeKube()  # type: ignore[assignment]
    m._renewed_at = None
    heard: list[list[str]] = []
    m.listeners.append(heard.append)
    vnf = "vnf-1"
    await m.renew()
    m.recompute()
    assert m.members == ["me"] and not m.owns(vnf), "just valid: the others may still act"
    clock.now += m.handover_grace
    m.recompute()
    assert m.owns(vnf)
    assert len(heard) == 2, "listeners hear of the start of acting (its VNFs get a look)"
    # Paused past the lease: not valid; the renewal after it starts a new grace.
    clock.now += 20
    assert not m.owns(vnf)
    await m.renew()
    assert not m.owns(vnf)
    clock.now += m.handover_grace
    assert m.owns(vnf)
    # Renewals while valid keep it acting.
    clock.now += 1
    await m.renew()
    assert m.owns(vnf)
