"""The VNF reconciler: it claims a VNF, advances its current operation
(:mod:`k8s_worker.reconcile.advance`) and otherwise observes it.

``reconcile(vnf_id)`` reads the VNF record, publishes what its outbox still
holds, reports respawns, lets the policies decide, then either advances the
current operation by one step or, when none is running, brings the recorded
status in line with what the VNF's objects show.  It is level-triggered: it
looks at the record and the informers' caches as they are now, so it does
not matter which event (or how many) woke it.  The loop, its backoff and its
retries are a generic controller's (:mod:`k8s_worker.reconcile.controller`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog

from k8s_worker.kube import KubeConflict, KubeError, KubeRejected
from k8s_worker.kube.fence import WRITE_FENCE, Fenced
from k8s_worker.lifecycle.drift import EVENT_TYPE as DRIFT_EVENT
from k8s_worker.lifecycle.operations import Operations
from k8s_worker.lifecycle.outcome import OperationFailed
from k8s_worker.lifecycle.pod_metrics import MetricsUnavailable
from k8s_worker.lifecycle.respawn import Respawn
from k8s_worker.lifecycle.sites import VimGone, VimUnavailable
from k8s_worker.lifecycle.vnf_state import note_pod_changes, observed_status
from k8s_worker.policy.engine import CpuUsage, NodeStatus, PolicyEngine
from k8s_worker.reconcile.advance import OperationAdvancer
from k8s_worker.reconcile.controller import Backoff, Controller, Forget, RetryAfter, Verdict
from k8s_worker.reconcile.owned import NotOwner, OwnedRecords
from k8s_worker.reconcile.workqueue import WorkQueue
from k8s_worker.record import (
    Operation,
    OperationKind,
    OpState,
    RecordStore,
    VnfRecord,
    VnfStatus,
)
from k8s_worker.record.outbox import Outbox, Publisher
from k8s_worker.tosca import Policies

LOG = structlog.get_logger(__name__)

#: Seconds until a VNF whose outbox waits for the broker is looked at again.
PUBLISH_RETRY = 5.0
#: Seconds until a VNF whose VIM is away gets another look.
VIM_RETRY = 5.0
# Statuses the steady-state observer may replace; ERROR stays until an operation.
OBSERVED_STATUSES = frozenset({VnfStatus.ACTIVE, VnfStatus.DEGRADED, VnfStatus.DEAD})


class Reconciler:
    """Reconciles the VNFs this replica owns: one pass per queued VNF (see the module
    docstring), never two at once for one VNF; every write fenced by ownership and lease.
    ``listeners`` see each VNF observed at rest, ``respawn_listeners`` each respawn."""

    def __init__(
        self,
        *,
        store: RecordStore,
        operations: Operations,
        publisher: Publisher,
        queue: WorkQueue,
        workers: int = 16,
        operation_timeout: float = 600.0,
        backoff_max: float = 60.0,
        owns: Callable[[str], bool] = lambda vnf_id: True,
        policy: PolicyEngine | None = None,
        host: str = "",
        node_status: NodeStatus | None = None,
        lease_deadline: Callable[[], float | None] | None = None,
        clock_tolerance: float = 0.0,
        failed_temp_timeout: float = 0.0,
        auto_rollback_updates: bool = False,
        drift_interval: float = 60.0,
        repair_drift: bool = True,
        metrics_interval: float = 15.0,
        on_published: Callable[[VnfRecord, dict[str, Any]], None] | None = None,
    ) -> None:
        self.lease_deadline = lease_deadline
        self.store = store
        self.ops = operations
        self.outbox = Outbox(store=store, publisher=publisher, on_published=on_published)
        self.records = OwnedRecords(store=store, outbox=self.outbox, owns=owns)
        self.drift_interval = drift_interval  # seconds between full drift checks (0: none)
        self.repair_drift = repair_drift
        self._drift_checked: dict[str, float] = {}
        #: Seconds between reads of a VNF's CPU for its CPU policies (0: none).
        self.metrics_interval = metrics_interval
        self._metrics_read: dict[str, float] = {}  # vnf id -> when (monotonic)
        self.advancer = OperationAdvancer(
            store=store,
            records=self.records,
            operations=operations,
            queue=queue,
            operation_timeout=operation_timeout,
            clock_tolerance=clock_tolerance,
            policy=policy,
            failed_temp_timeout=failed_temp_timeout,
            auto_rollback_updates=auto_rollback_updates,
        )
        self.queue = queue
        self.workers = workers
        self.operation_timeout = operation_timeout
        self.backoff_max = backoff_max
        self.owns = owns
        self.policy = policy
        self.host = host
        self.node_status = node_status
        self.listeners: list[Callable[[VnfRecord], None]] = []
        self.respawn_listeners: list[Callable[[VnfRecord, Respawn], None]] = []

    # -- the loop ------------------------------------------------------------
    async def run(self) -> None:
        """Reconcile the queued VNFs until cancelled (a generic controller)."""
        controller = Controller(
            queue=self.queue,
            handler=self.handle,
            classify=self.classify,
            workers=self.workers,
            backoff_max=self.backoff_max,
            key_name="vnf_id",
        )
        await controller.run()

    async def handle(self, vnf_id: str) -> float | None:
        """One VNF's pass, if this replica owns it, inside its write fence;
        seconds until it needs another look."""
        if not self.owns(vnf_id):
            return None  # another replica's now
        token = WRITE_FENCE.set(self._fence_for(vnf_id))
        try:
            with structlog.contextvars.bound_contextvars(vnf_id=vnf_id):
                requeue = await self.reconcile(vnf_id)
        finally:
            WRITE_FENCE.reset(token)
        if vnf_id in self.outbox.unpublished:
            requeue = _sooner(requeue, PUBLISH_RETRY)
        # Published entries still stored: removed by a write of their own unless
        # another write comes first (see k8s_worker.record.store).
        return _sooner(requeue, self.store.settle_in(vnf_id))

    def classify(self, vnf_id: str, exc: Exception) -> Verdict:
        """What follows a failed pass: ownership lost is forgotten, a lost
        compare-and-swap is retried at once, anything else backs off."""
        if isinstance(exc, NotOwner | Fenced):
            LOG.info("reconcile.not_owner", vnf_id=vnf_id, host=self.host)
            return Forget("not owner")
        if isinstance(exc, KubeConflict):
            LOG.debug("reconcile.conflict", vnf_id=vnf_id)
            return RetryAfter(0.05)
        return Backoff(traceback=not isinstance(exc, KubeError))

    def _fence_for(self, vnf_id: str) -> Callable[[], float | None] | None:
        """The write fence of one VNF's pass: while this replica owns the VNF,
        until its lease's safe end (see :mod:`k8s_worker.kube.fence`)."""
        if self.lease_deadline is None:
            return None
        deadline = self.lease_deadline

        def fence() -> float | None:
            return deadline() if self.owns(vnf_id) else None

        return fence

    # -- one pass ------------------------------------------------------------
    async def reconcile(self, vnf_id: str) -> float | None:
        """One level-triggered pass; returns seconds until the VNF needs another look."""
        rec = await self.store.get(vnf_id, cached=True)
        if rec is None:
            return None
        if not rec.st:
            # Created by an intake that has not journaled its instantiate yet
            # (it queues the VNF when it has): nothing to do, nothing to claim.
            return None
        if self.host and rec.owner != self.host:
            # Take the VNF over: the claim is a CAS write, so a replica still acting
            # on an older view of the record fails its next write and re-reads.
            previous = rec.owner
            rec.owner = self.host
            if _starts(rec.current()):
                # Written with the operation's start, the first write of this pass
                # and as much a CAS, before anything is done in Kubernetes.
                rec.unsaved = True
            else:
                rec = await self.records.write(rec)
            LOG.info("vnf.claimed", vnf_id=vnf_id, host=self.host, previous=previous)
        rec = await self.records.flush(rec)
        if rec is None:
            return None
        if self.store.settle_in(vnf_id) == 0.0:
            rec = await self.records.write(rec)  # no other write came: settle it
        if rec.terminated():
            # The terminate completed but the record was not deleted (a crash, a
            # conflicting write, the API server away): finish the job.
            await self.advancer.delete_terminated(rec)
            return None
        deleted = rec.terminate_on_delete()
        if deleted is not None:
            # Deleted by hand (no delete guard here): the record's finalizer keeps
            # it until this terminate removed the VNF's objects.
            LOG.warning("vnf.record_deleted", vnf_id=vnf_id, op_id=deleted.op_id)
            rec = await self.records.write(rec)
        self.advancer.supersede_by_terminate(rec)
        op = rec.current()
        if not await self._vim_ready(rec):
            # Its VIM is away (or not open yet): nothing is judged from what this
            # replica last saw there; an operation waits for it up to its timeout.
            if op is not None:
                await self.advancer.advance(rec, op)
            else:
                await self._vim_away(rec)
            return VIM_RETRY
        try:
            await self.ops.watch_objects(rec)
        except OperationFailed as exc:  # its VIM's credentials may not watch a kind
            LOG.warning("vnf.unwatched_kinds", vnf_id=vnf_id, error=exc.message)
        rec = await self.track_respawns(rec, op)
        if op is not None and rec.unsaved and not _starts(op):
            rec = await self._save(rec)  # before the operation's step reads it
        retry = None
        if self.policy is not None and self.outbox.overflowing(rec):
            # The broker has been away long enough for the outbox to fill:
            # automatic operations wait (their events could not be delivered
            # and would grow the record without bound); manual ones still run.
            retry = PUBLISH_RETRY
        elif self.policy is not None:
            rec, retry = await self.run_policies(rec, op)
            op = rec.current()
        if op is None:
            await self.observe(rec)
            # An idle VNF is looked at again for drift (a Service deleted by hand
            # brings no event: only pods and Deployments are watched).
            observed = rec.status in OBSERVED_STATUSES
            return _sooner(retry, (self.drift_interval or None) if observed else None)
        after = await self.advancer.advance(rec, op)
        return _sooner(after, retry)

    async def _vim_ready(self, rec: VnfRecord) -> bool:
        """The VNF's VIM is open here and answering (always, for the default)."""
        sites = self.ops.sites
        if sites is None or not rec.vim_id:
            return True
        try:
            site = await sites.prepare(rec.vim_id)
        except VimGone:
            return False
        except VimUnavailable as exc:
            LOG.info("vim.not_ready", vnf_id=rec.vnf_id, vim_id=rec.vim_id, error=str(exc))
            return False
        return site.reachable

    async def _save(self, rec: VnfRecord) -> VnfRecord:
        """Write the record and publish its outbox."""
        rec = await self.records.write(rec)
        return await self.records.flush(rec) or rec

    async def track_respawns(self, rec: VnfRecord, op: Operation | None) -> VnfRecord:
        """Note pods replaced or restarted since the record last looked (each
        reported once), in the record only: the pass writes it once, with
        whatever else it changes (``rec.unsaved``)."""
        if not rec.placed_namespace:
            return rec
        respawns = note_pod_changes(
            rec,
            self.ops.objects_of(rec),
            detect=op is None or op.kind == OperationKind.HEAL,
            now=time.time(),
        )
        if respawns is None:
            return rec  # nothing changed
        for respawn in respawns:
            if self.policy is not None:
                self.policy.respawned(rec)
            LOG.info("vnf.respawn", vnf_id=rec.vnf_id, **respawn.payload())
        for listener in self.respawn_listeners:
            for respawn in respawns:
                listener(rec, respawn)
        if respawns or op is None:
            rec.unsaved = True
        # else: an operation's own pods coming and going, reported by nobody:
        # carried by the operation's next write (each pass notes them afresh).
        return rec

    async def run_policies(
        self, rec: VnfRecord, op: Operation | None
    ) -> tuple[VnfRecord, float | None]:
        """Let the policy engine decide; store and publish what it decided."""
        if not rec.placed_namespace or self.policy is None:
            return rec, None
        try:
            policies = await self.ops.policies(rec)
        except OperationFailed:
            return rec, None
        cpu_usage, cpu_retry = await self._cpu_usage(rec, policies, op)
        before = self.policy.fingerprint(rec)
        retry = self.policy.evaluate(
            rec,
            policies,
            pods=self.ops.objects_of(rec).vnf_pods(rec.vnf_id, rec.placed_namespace),
            busy=op is not None,
            node_status=self.node_status,
            cpu_usage=cpu_usage,
        )
        retry = _sooner(retry, cpu_retry)
        if self.policy.fingerprint(rec) == before:
            return rec, retry
        return await self._save(rec), retry

    async def _vim_away(self, rec: VnfRecord) -> None:
        """Its VIM is away: the CPU policies say, once, that they cannot decide."""
        if self.policy is None or not rec.placed_namespace or not self.metrics_interval:
            return
        try:
            policies = await self.ops.policies(rec)
        except OperationFailed:
            return
        if not policies.cpu_scaling:
            return
        before = self.policy.fingerprint(rec)
        self.policy.metrics_missing(rec, policies, reason=f"VIM {rec.vim_id} is unreachable")
        if self.policy.fingerprint(rec) != before:
            rec = await self.records.write(rec)
            await self.records.flush(rec)

    async def _cpu_usage(
        self, rec: VnfRecord, policies: Policies, op: Operation | None
    ) -> tuple[CpuUsage, float | None]:
        """The VNF's pods' CPU when its CPU policies are due a decision (every
        ``metrics_interval`` while no operation runs), and seconds until the
        next read."""
        if not self.metrics_interval or op is not None:
            return None, None
        if not policies.cpu_scaling:
            return None, None
        now = time.monotonic()
        due = self._metrics_read.get(rec.vnf_id, 0.0) + self.metrics_interval - now
        if due > 0:
            return None, due
        self._metrics_read[rec.vnf_id] = now
        if len(self._metrics_read) > 100_000:
            self._metrics_read.clear()
        try:
            usage: CpuUsage = await self.ops.pod_cpu_usage(rec)
        except MetricsUnavailable as exc:
            LOG.info("vnf.metrics_unavailable", vnf_id=rec.vnf_id, error=str(exc))
            usage = str(exc)
        return usage, self.metrics_interval

    # -- steady state ----------------------------------------------------------
    async def observe(self, rec: VnfRecord) -> None:
        """No operation running: report the status the cluster shows, if it changed."""
        for listener in self.listeners:
            listener(rec)
        if rec.status not in OBSERVED_STATUSES:
            if rec.unsaved:
                await self._save(rec)
            return
        self.records.fence(rec)
        changed = await self._drift(rec)
        status, reason = observed_status(rec, self.ops.objects_of(rec))
        if status != rec.status:
            rec.set_status(status, reason=reason)
            changed = True
        if changed or rec.unsaved:
            await self._save(rec)

    async def _drift(self, rec: VnfRecord) -> bool:
        """Find (and unless repair is off, put back) what drifted; report each
        finding once.  Whether the record changed."""
        now = time.monotonic()
        full = bool(self.drift_interval) and (
            now - self._drift_checked.get(rec.vnf_id, 0.0) >= self.drift_interval
        )
        if full:
            self._drift_checked[rec.vnf_id] = now
            if len(self._drift_checked) > 100_000:
                self._drift_checked.clear()
        before = set(rec.drift_reported)
        try:
            found = await self.ops.drift(rec, repair=self.repair_drift, full=full, known=before)
        except (OperationFailed, KubeRejected) as exc:
            # A repair the cluster refuses (an unlabelled object of the same
            # name, a 403) must not keep the status from being observed.
            LOG.warning("vnf.drift_not_repaired", vnf_id=rec.vnf_id, error=str(exc))
            return False
        keys = {d.key for d in found}
        if not full:
            # Missing objects were not looked for in this pass: not gone.
            keys |= {k for k in before if k.endswith(":re-created") or ":edited by " in k}
        # Remembered also when repaired: the caches may show a repaired
        # replica count a moment longer, and it must not be reported twice.
        new = [d for d in found if d.key not in before]
        if keys == before:
            return False
        rec.drift_reported = sorted(keys)
        for drifted in new:
            LOG.warning(
                "vnf.drift",
                vnf_id=rec.vnf_id,
                kind=drifted.kind,
                name=drifted.name,
                change=drifted.change,
                repaired=self.repair_drift,
            )
            rec.emit(DRIFT_EVENT, drifted.payload(repaired=self.repair_drift), priority="WARN")
        return True

    # -- storage and the outbox -------------------------------------------------
    def publisher_recovered(self) -> None:
        """The broker is back: publish every outbox that waited for it."""
        for vnf_id in self.outbox.recovered():
            self.queue.add(vnf_id)


def _starts(op: Operation | None) -> bool:
    """The pass's first write will be ``op``'s start (an update first writes
    its new spec: claimed before that)."""
    return op is not None and op.state == OpState.STARTING and op.kind != OperationKind.UPDATE


def _sooner(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)
