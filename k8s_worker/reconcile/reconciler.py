"""The reconcile loop: one VNF at a time per key, many VNFs at once.

``reconcile(vnf_id)`` reads the VNF record, publishes what its outbox still
holds, then either advances the VNF's current operation by one step or, when
no operation is running, brings the recorded status in line with what the
cluster shows.  It is level-triggered: it looks at the record and the
informers' caches as they are now, so it does not matter which event (or how
many) woke it.  Failures are retried with per-VNF exponential backoff;
operations that outlive their timeout fail with a clear reason.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import structlog

from k8s_worker.kube import KubeConflict, KubeError, KubeNotFound, KubeRejected, KubeUnavailable
from k8s_worker.kube.fence import WRITE_FENCE, Fenced
from k8s_worker.lifecycle.observe import derive_status, vdu_states
from k8s_worker.lifecycle.operations import Operations, pending_status
from k8s_worker.lifecycle.outcome import Done, OperationFailed, Waiting
from k8s_worker.lifecycle.respawn import Respawn, track_pods
from k8s_worker.policy.engine import NodeStatus, PolicyEngine, note_respawn, stamp_cooldown
from k8s_worker.reconcile.controller import Backoff, Controller, Forget, RetryAfter, Verdict
from k8s_worker.reconcile.workqueue import WorkQueue
from k8s_worker.record import Operation, OperationKind, OpState, RecordStore, VnfRecord
from k8s_worker.record.descriptors import is_ref
from k8s_worker.record.model import utcnow

LOG = structlog.get_logger(__name__)

#: Seconds until a VNF whose outbox waits for the broker is looked at again.
PUBLISH_RETRY = 5.0
#: Outbox sizes (in outbox_cap units) past which a VNF's policies pause.
OUTBOX_POLICY_PAUSE = 4
# Statuses the steady-state observer may replace; ERROR stays until an operation.
OBSERVED_STATUSES = frozenset({"ACTIVE", "DEGRADED", "DEAD"})


class NotOwner(Exception):
    """This replica does not own the VNF (any more): it must not act or publish."""


class Publisher(Protocol):  # the part of k8s_worker.notify.Notifier the reconciler uses
    async def publish(
        self,
        event_type: str,
        payload: Mapping[str, Any],
        *,
        priority: str = "INFO",
        message_id: str | None = None,
        timestamp: str | None = None,
    ) -> None: ...


def _age_seconds(stamp: str | None) -> float:
    if not stamp:
        return 0.0
    then = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (dt.datetime.now(dt.UTC) - then).total_seconds()


class Reconciler:
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
    ) -> None:
        self.lease_deadline = lease_deadline
        self.clock_tolerance = clock_tolerance
        #: op_id -> (monotonic time first seen processing, whether started here).
        self._op_clock: dict[str, tuple[float, bool]] = {}
        self.store = store
        self.ops = operations
        self.publisher = publisher
        self.queue = queue
        self.workers = workers
        self.operation_timeout = operation_timeout
        self.backoff_max = backoff_max
        self.owns = owns
        self.policy = policy
        self.host = host
        self.node_status = node_status
        # VNFs whose outbox could not be published (the broker is away): looked
        # at again when the publisher recovers, and every PUBLISH_RETRY meanwhile.
        self.unpublished: set[str] = set()
        self._paused: set[str] = set()  # VNFs whose policies wait for the broker
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
        if vnf_id in self.unpublished:
            requeue = _sooner(requeue, PUBLISH_RETRY)
        return requeue

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
        rec = await self.store.get(vnf_id)
        if rec is None:
            return None
        if self.host and rec.st.get("owner") != self.host:
            # Take the VNF over: the claim is a CAS write, so a replica still acting
            # on an older view of the record fails its next write and re-reads.
            previous = rec.st.get("owner")
            rec.st["owner"] = self.host
            rec = await self._write(rec)
            LOG.info("vnf.claimed", vnf_id=vnf_id, host=self.host, previous=previous)
        rec = await self.flush(rec)
        if rec is None:
            return None
        if rec.terminated():
            # The terminate completed but the record was not deleted (a crash, a
            # conflicting write, the API server away): finish the job.
            await self._delete_terminated(rec)
            return None
        self._supersede_by_terminate(rec)
        op = rec.current()
        rec = await self.track_respawns(rec, op)
        retry = None
        if self.policy is not None and self._outbox_overflowing(rec):
            # The broker has been away long enough for the outbox to fill:
            # automatic operations wait (their events could not be delivered
            # and would grow the record without bound); manual ones still run.
            retry = PUBLISH_RETRY
        elif self.policy is not None:
            rec, retry = await self.run_policies(rec, op)
            op = rec.current()
        if op is None:
            await self.observe(rec)
            return retry
        after = await self.advance(rec, op)
        return _sooner(after, retry)

    async def _delete_terminated(self, rec: VnfRecord) -> None:
        """Fail what was journaled after the terminate, report it, delete the record."""
        late = [o for o in rec.operations() if o.active]
        for o in late:
            self._fail(
                rec,
                o,
                OperationFailed("VnfTerminated", "the VNF was terminated", vnf_status=None),
                keep_status=True,
            )
        if late:
            rec = await self._write(rec)
            flushed = await self.flush(rec)
            if flushed is None:
                return
            rec = flushed
        if rec.outbox():
            # Its events (the terminate's .end among them) wait for the broker:
            # the record that holds them stays until they are out.
            flushed = await self.flush(rec)
            if flushed is None or flushed.outbox():
                self.unpublished.add(rec.vnf_id)
                return
            rec = flushed
        self._fence(rec)
        await self.store.bury(rec)  # a 409 re-reads and comes back here
        LOG.info("vnf.deleted", vnf_id=rec.vnf_id)

    def _supersede_by_terminate(self, rec: VnfRecord) -> None:
        """A journaled terminate cancels the operations queued before it."""
        ops = [o for o in rec.operations() if o.active]
        if not any(o.kind == OperationKind.TERMINATE for o in ops[1:]):
            return
        for o in ops:
            if o.kind == OperationKind.TERMINATE:
                break
            self._fail(
                rec,
                o,
                OperationFailed("Superseded", "superseded by terminate", vnf_status=None),
                keep_status=True,
            )

    async def advance(self, rec: VnfRecord, op: Operation) -> float | None:
        with structlog.contextvars.bound_contextvars(op_id=op.op_id, request_id=op.request_id):
            return await self._advance(rec, op)

    async def _advance(self, rec: VnfRecord, op: Operation) -> float | None:
        log = LOG.bind(vnf_id=rec.vnf_id, op_id=op.op_id, operation=op.operation)
        refused: OperationFailed | None = None
        if op.state == OpState.STARTING:
            if op.kind == OperationKind.UPDATE:
                try:
                    rec = await self._apply_update_spec(rec, op)
                except OperationFailed as exc:
                    # The spec keeps the descriptor that runs, and so does the VNF's status.
                    refused = OperationFailed(exc.error_type, exc.message, vnf_status=None)
            op.state = OpState.PROCESSING
            op.started_at = utcnow()
            self._op_clock[op.op_id] = (time.monotonic(), True)
            rec.save_operation(op)
            rec.emit(f"vnf.{op.operation}.start", self._op_payload(op))
            rec.set_status(pending_status(op), reason=f"{op.operation} {op.op_id} started")
            rec = await self._write(rec)
            log.info("operation.started")
            flushed = await self.flush(rec)
            if flushed is None:
                return None
            rec = flushed
            op = rec.find(op.op_id) or op
        self._fence(rec)
        try:
            if refused is not None:
                raise refused
            outcome = await self.ops.step(rec, op)
        except OperationFailed as exc:
            self._fail(rec, op, exc)
            log.warning("operation.failed", error=exc.message, error_type=exc.error_type)
            await self._finish(rec, op)
            return None
        except KubeRejected as exc:
            self._fail(rec, op, OperationFailed("KubernetesRejected", str(exc)))
            log.warning("operation.failed", error=str(exc), error_type="KubernetesRejected")
            await self._finish(rec, op)
            return None
        except KubeNotFound as exc:
            # An object the operation needs is gone (deleted out of band, say).
            self._fail(rec, op, OperationFailed("NotFound", str(exc)))
            log.warning("operation.failed", error=str(exc), error_type="NotFound")
            await self._finish(rec, op)
            return None
        except (KubeUnavailable, KubeConflict, NotOwner, Fenced, asyncio.CancelledError):
            raise  # transient, or not ours to finish: the next pass retries
        except Exception as exc:
            # Anything else is retried with backoff, but not past the operation's
            # timeout: a step that keeps failing must end in .error, not loop.
            if self._op_age(op) <= self.operation_timeout:
                raise
            self._fail(
                rec,
                op,
                OperationFailed(
                    "Timeout",
                    f"{op.operation} did not finish in {self.operation_timeout:.0f}s; "
                    f"it kept failing with {type(exc).__name__}: {exc}",
                ),
            )
            log.warning("operation.timeout", error=str(exc), error_type=type(exc).__name__)
            await self._finish(rec, op)
            return None
        if isinstance(outcome, Done):
            if (
                op.kind == OperationKind.SCALE
                and not op.automatic
                and (op.detail or {}).get("policy")
            ):
                # A manual scale starts the policy's cooldown too (automatic ones
                # started it when they were decided), so alarms don't undo it at once.
                stamp_cooldown(rec, op.progress["policy"], at=time.time(), host=self.host)
            if op.kind == OperationKind.HEAL and not op.automatic:
                rec.policy_state.pop("heal", None)  # a manual heal clears given-up policies
            op.state = OpState.COMPLETED
            op.detail = {**(op.detail or {}), **outcome.detail}
            rec.save_operation(op)
            rec.emit(f"vnf.{op.operation}.end", {**self._op_payload(op), **outcome.detail})
            if op.kind != OperationKind.TERMINATE:
                status, reason = self._observed(rec)
                rec.set_status(status, reason=f"{op.operation} {op.op_id} completed: {reason}")
            log.info("operation.completed")
            await self._finish(rec, op)
            return 0.0 if rec.current() else None
        assert isinstance(outcome, Waiting)
        elapsed = self._op_age(op)
        if elapsed > self.operation_timeout:
            self._fail(
                rec,
                op,
                OperationFailed(
                    "Timeout",
                    f"{op.operation} did not finish in {self.operation_timeout:.0f}s: "
                    f"{outcome.reason}",
                ),
            )
            log.warning("operation.timeout", reason=outcome.reason)
            await self._finish(rec, op)
            return None
        before = rec.find(op.op_id)
        if before is None or before.detail != op.detail or rec.st.get("waiting") != outcome.reason:
            rec.st["waiting"] = outcome.reason
            rec.save_operation(op)
            await self._write(rec)
        return max(1.0, self.operation_timeout - elapsed + 0.5)

    async def _apply_update_spec(self, rec: VnfRecord, op: Operation) -> VnfRecord:
        """Write an update's new descriptor or configuration into the spec."""
        changed = False
        new_ref = op.args.get("vnfdRef")
        current_ref = rec.spec.get("vnfdRef")
        if is_ref(new_ref) and (current_ref or {}).get("sha256") != new_ref["sha256"]:
            # The one that ran stays referenced, for a rollback to go back to
            # (an inline one of an earlier version is stored by content first).
            if is_ref(current_ref):
                rec.spec["previousVnfdRef"] = current_ref
            elif rec.spec.get("vnfd"):
                rec.spec["previousVnfdRef"] = await self.store.descriptors.put(rec.spec["vnfd"])
            rec.spec["vnfdRef"] = new_ref
            rec.spec.pop("vnfd", None)
            changed = True
        elif op.args.get("vnfd") is not None and rec.spec.get("vnfd") != op.args["vnfd"]:
            # Journaled inline by an earlier version.
            rec.spec["vnfd"] = op.args["vnfd"]
            rec.spec.pop("vnfdRef", None)
            changed = True
        if op.args.get("config"):
            merged = dict(rec.spec.get("config") or {})
            for vdu, containers in op.args["config"].items():
                slot = dict(merged.get(vdu) or {})
                for container, values in (containers or {}).items():
                    slot[container] = {**(slot.get(container) or {}), **(values or {})}
                merged[vdu] = slot
            if merged != rec.spec.get("config"):
                rec.spec["config"] = merged
                changed = True
        if not changed:
            return rec
        # A descriptor that does not translate, or a config for containers it does
        # not have, is refused before it is stored, so the VNF keeps running,
        # scaling and healing from the one it has.
        translation = await self.ops.translation(rec)
        unknown = [
            f"{vdu}/{container}" if vdu in translation.vdu_names() else vdu
            for vdu, containers in (op.args.get("config") or {}).items()
            for container in (containers or {"": None})
            if vdu not in translation.vdu_names()
            or container not in dict(translation.vdu(vdu).config_maps)
        ]
        if unknown:
            known = [f"{v.name}/{c}" for v in translation.vdus for c in dict(v.config_maps)] or [
                "none"
            ]
            raise OperationFailed(
                "InvalidConfig",
                f"no configurable container {', '.join(sorted(set(unknown)))} "
                f"(containers with a config: {', '.join(known)})",
                vnf_status=None,
            )
        self._fence(rec)
        stored = await self.store.write_spec(rec)
        stored.obj["status"] = rec.st  # keep the in-memory status changes
        return stored

    def _fail(
        self, rec: VnfRecord, op: Operation, exc: OperationFailed, *, keep_status: bool = False
    ) -> None:
        op.state = OpState.FAILED
        op.error = {"type": exc.error_type, "message": exc.message}
        rec.save_operation(op)
        rec.emit(
            f"vnf.{op.operation}.error",
            {**self._op_payload(op), "error": op.error},
            priority="ERROR",
        )
        if keep_status:
            return
        if exc.vnf_status:
            rec.set_status(exc.vnf_status, reason=f"{op.operation} failed: {exc.message}")
        else:
            status, reason = self._observed(rec)
            rec.set_status(status, reason=reason)

    def _op_age(self, op: Operation) -> float:
        """Seconds the operation has run, for its timeout.

        Started here: on this replica's monotonic clock.  Started by another
        replica: its wall-clock stamp's age less ``clock_tolerance`` (the other
        clock may be behind this one by that much); a stamp from the future
        counts from when this replica first saw the operation."""
        if len(self._op_clock) > 10_000:  # ops that moved to other replicas
            self._op_clock.clear()
        first, here = self._op_clock.setdefault(op.op_id, (time.monotonic(), False))
        watched = time.monotonic() - first
        if here:
            return watched
        return max(watched, _age_seconds(op.started_at) - self.clock_tolerance)

    async def _finish(self, rec: VnfRecord, op: Operation) -> None:
        self._op_clock.pop(op.op_id, None)
        rec.st.pop("waiting", None)
        rec = await self._write(rec)
        flushed = await self.flush(rec)
        if (
            flushed is not None
            and op.kind == OperationKind.TERMINATE
            and op.state == OpState.COMPLETED
        ):
            await self._delete_terminated(flushed)
        elif flushed is not None and flushed.current() is not None:
            self.queue.add(flushed.vnf_id)

    @staticmethod
    def _op_payload(op: Operation) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "op_id": op.op_id,
            "operation": op.operation,
            "automatic": op.automatic,
        }
        for key in ("policy", "type", "steps", "vdus", "cause"):
            if op.args.get(key) is not None:
                payload[key] = op.args[key]
        return payload

    async def track_respawns(self, rec: VnfRecord, op: Operation | None) -> VnfRecord:
        """Report pods replaced or restarted since the record last looked (once each)."""
        if not rec.st.get("namespace"):
            return rec
        detect = op is None or op.kind == OperationKind.HEAL
        before = rec.st.get("podMemory") or {}
        memory, respawns = track_pods(
            before,
            self.ops.vnf_objects.vnf_pods(rec.vnf_id, rec.st.get("namespace")),
            now=time.time(),
            detect=detect,
        )
        if memory == before and not respawns:
            return rec
        rec.st["podMemory"] = memory
        for respawn in respawns:
            rec.emit("vnf.respawn", respawn.payload())
            note_respawn(rec, now=time.time())
            LOG.info("vnf.respawn", vnf_id=rec.vnf_id, **respawn.payload())
        for listener in self.respawn_listeners:
            for respawn in respawns:
                listener(rec, respawn)
        rec = await self._write(rec)
        return await self.flush(rec) or rec

    async def run_policies(
        self, rec: VnfRecord, op: Operation | None
    ) -> tuple[VnfRecord, float | None]:
        """Let the policy engine decide; store and publish what it decided."""
        if not rec.st.get("namespace") or self.policy is None:
            return rec, None
        try:
            policies = await self.ops.policies(rec)
        except OperationFailed:
            return rec, None
        before = _policy_fingerprint(rec)
        retry = self.policy.evaluate(
            rec,
            policies,
            pods=self.ops.vnf_objects.vnf_pods(rec.vnf_id, rec.st.get("namespace")),
            busy=op is not None,
            node_status=self.node_status,
        )
        if _policy_fingerprint(rec) == before:
            return rec, retry
        rec = await self._write(rec)
        return (await self.flush(rec) or rec), retry

    # -- steady state ----------------------------------------------------------
    def _observed(self, rec: VnfRecord) -> tuple[str, str]:
        objects = self.ops.vnf_objects
        states = vdu_states(
            vdus=rec.desired_replicas,
            deployments=objects.vnf_deployments(rec.vnf_id, rec.st.get("namespace")),
            pods=objects.vnf_pods(rec.vnf_id, rec.st.get("namespace")),
        )
        if not states:
            return rec.status or "ERROR", rec.st.get("reason", "")
        return derive_status(states)

    async def observe(self, rec: VnfRecord) -> None:
        """No operation running: report the status the cluster shows, if it changed."""
        for listener in self.listeners:
            listener(rec)
        if rec.status not in OBSERVED_STATUSES:
            return
        self._fence(rec)
        restored = await self.ops.restore_replicas(rec)
        if restored:
            LOG.warning("vnf.replicas_restored", vnf_id=rec.vnf_id, restored=restored)
        status, reason = self._observed(rec)
        if status != rec.status:
            rec.set_status(status, reason=reason)
            rec = await self._write(rec)
            await self.flush(rec)

    # -- storage and the outbox -------------------------------------------------
    def _fence(self, rec: VnfRecord) -> None:
        if not self.owns(rec.vnf_id):
            raise NotOwner(rec.vnf_id)

    async def _write(self, rec: VnfRecord) -> VnfRecord:
        """CAS write of the record's status, by the VNF's owner only."""
        self._fence(rec)
        return await self.store.write_status(rec)

    def _outbox_overflowing(self, rec: VnfRecord) -> bool:
        overflowing = (
            rec.vnf_id in self.unpublished
            and len(rec.outbox()) >= OUTBOX_POLICY_PAUSE * VnfRecord.outbox_cap
        )
        if overflowing and rec.vnf_id not in self._paused:
            LOG.warning("policy.paused_outbox_full", vnf_id=rec.vnf_id, pending=len(rec.outbox()))
        if overflowing:
            self._paused.add(rec.vnf_id)
        else:
            self._paused.discard(rec.vnf_id)
        return overflowing

    def publisher_recovered(self) -> None:
        """The broker is back: publish every outbox that waited for it."""
        waiting, self.unpublished = self.unpublished, set()
        for vnf_id in waiting:
            self.queue.add(vnf_id)

    async def flush(self, rec: VnfRecord) -> VnfRecord | None:
        """Publish the outbox in sequence order, then drop what was published.

        A broker outage never stops the pass: what could not be published stays
        in the outbox, in order, and the VNF goes on being reconciled (healed,
        scaled); its outbox is published when the publisher recovers.
        """
        entries = rec.outbox()
        if not entries:
            self.unpublished.discard(rec.vnf_id)
            return rec
        self._fence(rec)
        last = None
        try:
            for entry in entries:
                await self.publisher.publish(
                    entry["eventType"],
                    entry["payload"],
                    priority=entry["priority"],
                    message_id=rec.message_id(entry),
                    timestamp=entry.get("timestamp"),  # absent in entries older than it
                )
                last = entry["sequence"]
        except (ConnectionError, OSError) as exc:
            if rec.vnf_id not in self.unpublished:
                LOG.warning(
                    "notify.outbox_waits",
                    vnf_id=rec.vnf_id,
                    pending=sum(1 for e in entries if last is None or e["sequence"] > last),
                    error=str(exc),
                )
            self.unpublished.add(rec.vnf_id)
            if last is None:
                return rec
        else:
            self.unpublished.discard(rec.vnf_id)
        assert last is not None
        published = last

        def drop(r: VnfRecord) -> bool:
            before = len(r.outbox())
            r.drop_published(published)
            return len(r.outbox()) != before

        # Usually the record has not moved since we wrote it: drop in place, one
        # CAS write; if it has (an intake journaled an operation meanwhile), re-read.
        drop(rec)
        try:
            return await self.store.write_status(rec)
        except KubeConflict:
            return await self.store.mutate(rec.vnf_id, drop)


def _sooner(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def _policy_fingerprint(rec: VnfRecord) -> tuple[str, int]:
    """What the policy engine can change: its memory, and the outbox (every
    journaled operation and status change comes with a notification).  Cheaper
    than serializing the whole status (journal, pod memory) twice per pass."""
    return json.dumps(rec.policy_state, sort_keys=True), len(rec.outbox())
