"""Membership of the worker fleet, and which replica owns which VNF.

Each replica holds a coordination.k8s.io Lease named after it and renews it
every ``renew_interval``; the live members are the leases renewed within their
duration.  VNFs are shared out by rendezvous hashing over the live members, so
when a replica joins or leaves only the VNFs it gains or loses move.

A replica acts on a VNF only while it owns it *and* its own lease is valid by
its own monotonic clock: a replica that was paused or cut off from the API
server stops acting as soon as its last successful renewal is older than the
lease (minus a safety margin), before the others take its VNFs over.  On
SIGTERM the lease is deleted, so the others take over at once.

A replica whose lease becomes valid (it starts, or it renews again after a
pause or a cut) acts on the VNFs it gains only one renew interval later: the
replicas that held them until now see its lease within their watch latency and
stop first, so a hand-over back never has two replicas acting at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import time
from collections.abc import Callable

import structlog

from k8s_worker.kube import KINDS, Kube, KubeConflict, KubeError, KubeNotFound
from k8s_worker.watch import Informer, WatchEvent

LOG = structlog.get_logger(__name__)

#: A member lease this many lease durations old belongs to a replica that is gone.
EXPIRED_AFTER = 30
MEMBER_LABEL = "tacker.openstack.org/k8s-worker-member"
LEASE = KINDS["Lease"]
SAFETY = 0.8  # act only while the last renewal is younger than 80% of the lease


def _micro_time(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(stamp: str | None) -> float | None:
    if not stamp:
        return None
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def rendezvous_owner(vnf_id: str, members: list[str]) -> str | None:
    """The member with the highest hash for this VNF (None without members)."""
    best, best_score = None, -1
    for member in members:
        score = int.from_bytes(hashlib.sha256(f"{member}\0{vnf_id}".encode()).digest()[:8], "big")
        if score > best_score:
            best, best_score = member, score
    return best


def lease_name(host: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-." else "-" for c in host.lower()).strip("-.")
    digest = hashlib.sha256(host.encode()).hexdigest()[:8]
    return f"k8s-worker-{safe[:40]}-{digest}"


class Membership:
    """This replica's membership lease and its view of the fleet: :meth:`owns` says whether
    this replica may act on a VNF now (its lease surely valid by its own clock, the
    hand-over grace past, and the VNF its by rendezvous hashing); listeners hear of every
    change of the members."""

    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str,
        host: str,
        lease_duration: float = 10.0,
        renew_interval: float = 2.5,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.host = host
        self.lease_duration = lease_duration
        self.renew_interval = min(renew_interval, lease_duration / 3)
        self.wall = wall
        self.monotonic = monotonic
        self.name = lease_name(host)
        self.informer = Informer(
            kube,
            LEASE,
            namespace=namespace,
            selector=f"{MEMBER_LABEL}=true",
            inactivity_seconds=max(10.0, lease_duration * 2),
        )
        self.informer.add_handler(self._on_event)
        self.members: list[str] = []
        self.listeners: list[Callable[[list[str]], None]] = []
        self._renewed_at: float | None = None  # monotonic time of the last successful renewal
        # monotonic time our lease became valid after it was not (start, pause, cut)
        self._valid_since: float | None = None
        self.handover_grace = self.renew_interval
        self._acting = False  # valid and settled, as of the last recompute
        self._acquired = _micro_time(wall())
        self.ready = asyncio.Event()
        self.released = False
        self._writing = asyncio.Lock()  # a renewal never lands after the release
        # lease name -> (its holder and renewTime, monotonic time we first saw them)
        self._observed: dict[str, tuple[str, float]] = {}

    # -- ownership ------------------------------------------------------------
    def valid(self) -> bool:
        """Our lease is surely still ours (renewed recently by our own clock)."""
        until = self.valid_until()
        return until is not None and self.monotonic() < until

    def valid_until(self) -> float | None:
        """The monotonic time until which our lease is surely ours (None: not now)."""
        if self._renewed_at is None or self.released:
            return None
        return self._renewed_at + self.lease_duration * SAFETY

    def owner_of(self, vnf_id: str) -> str | None:
        return rendezvous_owner(vnf_id, self.members)

    def settled(self) -> bool:
        """Our lease has been valid for the hand-over grace: the replicas that
        acted on our VNFs while we were away have seen us back and stopped."""
        since = self._valid_since
        return since is not None and self.monotonic() - since >= self.handover_grace

    def owns(self, vnf_id: str) -> bool:
        return self.valid() and self.settled() and self.owner_of(vnf_id) == self.host

    # -- the lease -----------------------------------------------------------------
    def _body(self, resource_version: str | None = None) -> dict:
        meta: dict = {
            "name": self.name,
            "namespace": self.namespace,
            "labels": {MEMBER_LABEL: "true"},
        }
        if resource_version:
            meta["resourceVersion"] = resource_version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": {
                "holderIdentity": self.host,
                "leaseDurationSeconds": max(1, round(self.lease_duration)),
                "acquireTime": self._acquired,
                "renewTime": _micro_time(self.wall()),
            },
        }

    async def renew(self) -> None:
        async with self._writing:
            if self.released:
                return
            started = self.monotonic()
            current = await self.kube.get_or_none(LEASE, name=self.name, namespace=self.namespace)
            if current is None:
                await self.kube.create(self._body())
            else:
                await self.kube.replace(self._body(current["metadata"]["resourceVersion"]))
            if not self.valid():
                self._valid_since = self.monotonic()  # valid again: others see it from now
            self._renewed_at = started

    async def release(self, *, within: float = 5.0) -> None:
        """Give our VNFs up now (graceful stop): delete the lease.

        After a renewal in flight (so it cannot recreate the lease), and bounded:
        with the API server away the lease simply expires, and the stop must
        stay inside the pod's termination grace period.
        """
        self.released = True
        try:
            async with asyncio.timeout(within):
                async with self._writing:
                    await self.kube.delete(
                        LEASE, name=self.name, namespace=self.namespace, propagation="Background"
                    )
        except (KubeError, TimeoutError) as exc:
            LOG.warning("membership.release_failed", host=self.host, error=str(exc))
            return
        LOG.info("membership.released", host=self.host)

    async def collect_expired(self, *, after: float = EXPIRED_AFTER) -> list[str]:
        """Delete the leases of replicas gone for ``after`` lease durations (killed
        ones never delete their own), so they do not pile up; their names."""
        gone = []
        for lease in self.informer.items():
            _, age, duration = self._age(lease)
            name = lease["metadata"]["name"]
            if name == self.name or age is None:
                continue
            # Both clocks must agree it is long dead: by its stamp, ``after``
            # durations old (so a skew of less than that cannot condemn a live
            # replica), and unchanged for two durations as seen from here.
            stamped = _parse(lease["spec"].get("renewTime"))
            if stamped is None or self.wall() - stamped < after * duration or age < 2 * duration:
                continue
            with contextlib.suppress(KubeError):
                await self.kube.delete(
                    LEASE, name=name, namespace=self.namespace, propagation="Background"
                )
                gone.append(name)
        if gone:
            LOG.info("membership.expired_leases_deleted", host=self.host, leases=gone)
        return gone

    # -- members ------------------------------------------------------------------
    def _age(self, lease: dict) -> tuple[str | None, float | None, float]:
        """(holder, seconds since its last renewal or None, its lease duration).

        The age is judged as client-go's leader election does: from when this
        replica *saw* the lease's renewal change, on its own monotonic clock.
        Another replica's ``renewTime`` is compared only with itself, never with
        this machine's wall clock, so a skewed clock on either side cannot make a
        live member look dead (or a dead one alive).
        """
        spec = lease.get("spec") or {}
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        if not spec.get("renewTime"):
            return spec.get("holderIdentity"), None, duration
        name = lease["metadata"]["name"]
        marker = f"{spec.get('holderIdentity')}\0{spec.get('renewTime')}"
        now = self.monotonic()
        seen = self._observed.get(name)
        if seen is None or seen[0] != marker:
            seen = self._observed[name] = (marker, now)
        return spec.get("holderIdentity"), now - seen[1], duration

    def _forget_gone_leases(self) -> None:
        present = {lease["metadata"]["name"] for lease in self.informer.items()}
        for name in [n for n in self._observed if n not in present]:
            del self._observed[name]

    def _live(self) -> list[str]:
        self._forget_gone_leases()
        live = []
        for lease in self.informer.items():
            holder, age, duration = self._age(lease)
            if holder and age is not None and age < duration:
                live.append(holder)
        if self.valid() and self.host not in live:
            live.append(self.host)
        if not self.valid() and self.host in live:
            live.remove(self.host)
        return sorted(set(live))

    def recompute(self) -> None:
        """The live members now; listeners hear of a change, and of this replica
        starting to act (its hand-over grace over), when its VNFs need a look."""
        live = self._live()
        acting = self.valid() and self.settled()
        if live == self.members and acting == self._acting:
            return
        if live != self.members:
            LOG.info("membership.changed", host=self.host, members=live, before=self.members)
        if acting and not self._acting:
            LOG.info("membership.acting", host=self.host, grace=self.handover_grace)
        self.members = live
        self._acting = acting
        for listener in self.listeners:
            listener(live)

    def _on_event(self, event: WatchEvent) -> None:
        self.recompute()

    async def run(self) -> None:
        """Renew our lease and keep the member list current until cancelled."""
        watch = asyncio.create_task(self.informer.run())
        try:
            next_renewal = next_collection = 0.0
            while not self.released:
                if self.monotonic() >= next_renewal:
                    next_renewal = self.monotonic() + self.renew_interval
                    try:
                        await self.renew()
                    except (KubeConflict, KubeNotFound):
                        next_renewal = 0.0  # raced with a slow earlier renewal: renew again
                    except KubeError as exc:
                        LOG.warning("membership.renew_failed", host=self.host, error=str(exc))
                if self.informer.synced.is_set():
                    self.recompute()  # leases expire with time, not with events
                    if self.valid():
                        self.ready.set()
                    if self.monotonic() >= next_collection:
                        next_collection = self.monotonic() + self.lease_duration
                        await self.collect_expired()
                await asyncio.sleep(min(1.0, self.renew_interval))
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
