"""An operation's state machine: start it, run its steps, end it (done,
failed, timed out, superseded), and delete the record after a terminate.

The one place that decides how a step's exception ends an operation
(``_failure_of``); the transient ones (the API server away, a lost
compare-and-swap, ownership lost) go back to the controller for a retry.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from k8s_worker.kube import KubeConflict, KubeNotFound, KubeRejected, KubeUnavailable
from k8s_worker.kube.fence import Fenced
from k8s_worker.lifecycle.operations import Operations, pending_status
from k8s_worker.lifecycle.outcome import Done, OperationFailed, Waiting
from k8s_worker.lifecycle.sites import VimGone, VimUnavailable
from k8s_worker.lifecycle.update import apply_update_spec, restore_previous_spec
from k8s_worker.lifecycle.vnf_state import observed_status
from k8s_worker.policy.engine import PolicyEngine
from k8s_worker.reconcile.owned import NotOwner, OwnedRecords
from k8s_worker.reconcile.timing import OperationClock, age_seconds
from k8s_worker.reconcile.workqueue import WorkQueue
from k8s_worker.record import (
    Operation,
    OperationKind,
    OpState,
    RecordStore,
    VnfRecord,
    VnfStatus,
)
from k8s_worker.record.model import utcnow

LOG = structlog.get_logger(__name__)


class OperationAdvancer:
    """Advances a VNF's current operation by one step per call, ending it with
    one ``.end`` or ``.error`` event; ``advance`` returns seconds until the VNF
    needs another look.  Writes only through ``records`` (owner-fenced)."""

    def __init__(
        self,
        *,
        store: RecordStore,
        records: OwnedRecords,
        operations: Operations,
        queue: WorkQueue,
        operation_timeout: float,
        clock_tolerance: float,
        policy: PolicyEngine | None,
        failed_temp_timeout: float = 0.0,
        auto_rollback_updates: bool = False,
    ) -> None:
        self.failed_temp_timeout = failed_temp_timeout  # 0: a parked operation waits for ever
        self.auto_rollback_updates = auto_rollback_updates
        self.store = store
        self.records = records
        self.ops = operations
        self.queue = queue
        self.operation_timeout = operation_timeout
        self.op_clock = OperationClock(clock_tolerance=clock_tolerance)
        self.policy = policy

    def _observed(self, rec: VnfRecord) -> tuple[str, str]:
        try:
            objects = self.ops.objects_of(rec)
        except VimUnavailable:  # never opened here: what the record last said
            return rec.status or "ERROR", rec.reason or ""
        return observed_status(rec, objects)

    async def delete_terminated(self, rec: VnfRecord) -> None:
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
            rec = await self.records.write(rec)
            flushed = await self.records.flush(rec)
            if flushed is None:
                return
            rec = flushed
        if rec.outbox():
            # Its events (the terminate's .end among them) wait for the broker:
            # the record that holds them stays until they are out.
            flushed = await self.records.flush(rec)
            if flushed is None or flushed.outbox():
                self.records.outbox.unpublished.add(rec.vnf_id)
                return
            rec = flushed
        self.records.fence(rec)
        await self.store.bury(rec)  # a 409 re-reads and comes back here
        LOG.info("vnf.deleted", vnf_id=rec.vnf_id)

    def supersede_by_terminate(self, rec: VnfRecord) -> None:
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
        if op.state == OpState.FAILED_TEMP:
            after, resumed = await self._parked(rec, op)
            if resumed is None:
                return after
            rec, op = resumed
        if op.state == OpState.ROLLING_BACK:
            return await self._roll_back(rec, op)
        refused: OperationFailed | None = None
        if op.state == OpState.STARTING:
            if op.kind == OperationKind.UPDATE:
                try:
                    rec = await apply_update_spec(
                        rec,
                        op,
                        store=self.store,
                        translate=self.ops.translation,
                        fence=self.records.fence,
                    )
                except OperationFailed as exc:
                    # The spec keeps the descriptor that runs, and so does the VNF's status.
                    refused = OperationFailed(exc.error_type, exc.message, vnf_status=None)
            op.state = OpState.PROCESSING
            op.started_at = utcnow()
            self.op_clock.started_here(op)
            rec.save_operation(op)
            rec.emit(f"vnf.{op.operation}.start", op.payload())
            rec.set_status(pending_status(op), reason=f"{op.operation} {op.op_id} started")
            rec = await self.records.write(rec)
            log.info("operation.started")
            flushed = await self.records.flush(rec)
            if flushed is None:
                return None
            rec = flushed
            op = rec.find(op.op_id) or op
        self.records.fence(rec)
        try:
            if refused is not None:
                raise refused
            outcome = await self.ops.step(rec, op)
        except VimUnavailable as exc:
            # The VNF's VIM is away: the operation waits for it, up to its timeout.
            if self.op_clock.age(op) <= self.operation_timeout:
                raise
            failure = OperationFailed(
                "VimUnreachable",
                f"{op.operation} did not finish in {self.operation_timeout:.0f}s: {exc}",
                vnf_status=None,
            )
            await self._end_failed(rec, op, failure, vim_id=exc.vim_id)
            return None
        except VimGone as exc:
            await self._end_failed(rec, op, OperationFailed("VimNotFound", str(exc)))
            return None
        except (KubeUnavailable, KubeConflict, NotOwner, Fenced, asyncio.CancelledError):
            raise  # transient, or not ours to finish: the next pass retries
        except Exception as exc:
            ending = self._failure_of(op, exc)
            if ending is None:
                raise  # retried with backoff, within the operation's timeout
            failure, logged = ending
            await self._end_failed(rec, op, failure, **logged)
            return None
        if isinstance(outcome, Done):
            if self.policy is not None:
                self.policy.operation_done(rec, op)
            op.state = OpState.COMPLETED
            op.detail = {**(op.detail or {}), **outcome.detail}
            rec.save_operation(op)
            rec.emit(f"vnf.{op.operation}.end", {**op.payload(), **outcome.detail})
            if op.kind != OperationKind.TERMINATE:
                status, reason = self._observed(rec)
                rec.set_status(status, reason=f"{op.operation} {op.op_id} completed: {reason}")
            log.info("operation.completed")
            await self._finish(rec, op)
            return 0.0 if rec.current() else None
        assert isinstance(outcome, Waiting)
        elapsed = self.op_clock.age(op)
        limit = self._timeout_of(op)
        if elapsed > limit:
            timeout = OperationFailed(
                "Timeout",
                f"{op.operation} did not finish in {limit:.0f}s: {outcome.reason}",
            )
            await self._end_failed(rec, op, timeout, reason=outcome.reason)
            return None
        before = rec.find(op.op_id)
        if before is None or before.detail != op.detail or rec.waiting != outcome.reason:
            rec.waiting = outcome.reason
            rec.save_operation(op)
            await self.records.write(rec)
        after = limit - elapsed + 0.5
        if outcome.retry_after is not None:
            after = min(after, outcome.retry_after)
        return max(1.0, after)

    def _timeout_of(self, op: Operation) -> float:
        """The operation's time limit: ``operation_timeout``, and for a terminate
        at least its pods' ``graceful_timeout`` and half a minute more."""
        grace = op.args.get("graceful_timeout") if op.kind == OperationKind.TERMINATE else None
        if isinstance(grace, int) and not isinstance(grace, bool):
            return max(self.operation_timeout, grace + 30.0)
        return self.operation_timeout

    # -- FAILED_TEMP: parked until retried, rolled back or failed ------------------------
    async def _parked(
        self, rec: VnfRecord, op: Operation
    ) -> tuple[float | None, tuple[VnfRecord, Operation] | None]:
        """A parked operation's turn: what retry_operation, rollback_operation or
        fail_operation asked of it, or (with ``failed_temp_timeout``) FAILED once
        it has waited that long.  (seconds until the next look, or the record and
        operation to go on with when it resumes)."""
        asked = op.next_action()
        if asked is None:
            if not self.failed_temp_timeout:
                return None, None
            waited = age_seconds(op.progress.get("parkedAt"))
            if waited < self.failed_temp_timeout:
                return self.failed_temp_timeout - waited + 0.5, None
            LOG.warning("operation.failed_temp_expired", vnf_id=rec.vnf_id, op_id=op.op_id)
            asked = ("fail", "")
        action, action_id = asked
        op.progress.pop("next", None)
        log = LOG.bind(vnf_id=rec.vnf_id, op_id=op.op_id, operation=op.operation, by=action_id)
        if action == "fail":
            op.state = OpState.FAILED
            if op.kind == OperationKind.SCALE:
                # The record wants what it had: drift repair must not finish the scale.
                for vdu, target in (op.progress.get("targets") or {}).items():
                    rec.desired_replicas[vdu] = int(target["old"])
            rec.save_operation(op)
            rec.emit(
                f"vnf.{op.operation}.error", {**op.payload(), "error": op.error}, priority="ERROR"
            )
            if op.kind in (
                OperationKind.INSTANTIATE,
                OperationKind.TERMINATE,
                OperationKind.UPDATE,
            ):
                # Half done: ERROR, which drift repair leaves alone (it would
                # otherwise re-create what a terminate deleted, or finish an apply).
                rec.set_status(VnfStatus.ERROR, reason=f"{op.operation} {op.op_id} failed")
            else:
                status, reason = self._observed(rec)
                rec.set_status(status, reason=reason)
            log.info("operation.marked_failed")
            await self._finish(rec, op)
            return None, None
        op.started_at = utcnow()
        self.op_clock.started_here(op)
        if action == "retry":
            op.state = OpState.PROCESSING
            op.progress["retry_op_id"] = action_id
            op.progress["retry"] = True  # the step starts afresh (see Operations.retrying)
            op.error = None
            rec.set_status(pending_status(op), reason=f"{op.operation} {op.op_id} retried")
        else:
            op.state = OpState.ROLLING_BACK
            op.progress["rollback_op_id"] = action_id
            rec.set_status(pending_status(op), reason=f"{op.operation} {op.op_id} rolling back")
        rec.save_operation(op)
        rec.emit(f"vnf.{op.operation}.start", op.payload())
        rec = await self.records.write(rec)
        log.info("operation.retried" if action == "retry" else "operation.rolling_back")
        flushed = await self.records.flush(rec)
        if flushed is None:
            return None, None
        return None, (flushed, flushed.find(op.op_id) or op)

    async def _roll_back(self, rec: VnfRecord, op: Operation) -> float | None:
        """One step of undoing a failed operation; ROLLED_BACK (its final
        ``.error``, ``rolled_back: true``) when done."""
        self.records.fence(rec)
        try:
            if op.kind == OperationKind.UPDATE and not op.progress.get("restored"):
                rec = await restore_previous_spec(
                    rec, op, store=self.store, fence=self.records.fence
                )
                rec.save_operation(op)
                rec = await self.records.write(rec)
                op = rec.find(op.op_id) or op
            outcome = await self.ops.roll_back(rec, op)
        except (KubeUnavailable, KubeConflict, NotOwner, Fenced, asyncio.CancelledError):
            raise
        except Exception as exc:
            ending = self._failure_of(op, exc)
            if ending is None:
                raise
            failure, logged = ending
            failure = OperationFailed(
                "RollbackFailed", f"the rollback failed: {failure.message}", temporary=False
            )
            await self._end_failed(rec, op, failure, **logged)
            return None
        if isinstance(outcome, Waiting):
            elapsed = self.op_clock.age(op)
            if elapsed > self.operation_timeout:
                failure = OperationFailed(
                    "RollbackFailed",
                    f"the rollback did not finish in {self.operation_timeout:.0f}s: "
                    f"{outcome.reason}",
                    temporary=False,
                )
                await self._end_failed(rec, op, failure)
                return None
            if rec.waiting != outcome.reason:
                rec.waiting = outcome.reason
                rec.save_operation(op)
                await self.records.write(rec)
            return max(1.0, self.operation_timeout - elapsed + 0.5)
        op.state = OpState.ROLLED_BACK
        op.detail = {**(op.detail or {}), **outcome.detail}
        rec.save_operation(op)
        rec.emit(
            f"vnf.{op.operation}.error",
            {**op.payload(), "error": op.error, "rolled_back": True},
            priority="ERROR",
        )
        if op.kind == OperationKind.INSTANTIATE:
            rec.set_status(VnfStatus.NOT_INSTANTIATED, reason=f"instantiate {op.op_id} rolled back")
        else:
            status, reason = self._observed(rec)
            rec.set_status(status, reason=f"{op.operation} {op.op_id} rolled back: {reason}")
        LOG.info("operation.rolled_back", vnf_id=rec.vnf_id, op_id=op.op_id)
        await self._finish(rec, op)
        return 0.0 if rec.current() else None

    def _failure_of(
        self, op: Operation, exc: Exception
    ) -> tuple[OperationFailed, dict[str, Any]] | None:
        """How a step's exception ends the operation (and what its log line
        says of the exception), or None to retry it: the one place that
        decides (the transient ones never get here)."""
        if isinstance(exc, OperationFailed):
            return exc, {}
        if isinstance(exc, KubeRejected):
            # 403 (RBAC, quota, an admission webhook) can be fixed, and retried;
            # an invalid object (422) cannot.
            failure = OperationFailed("KubernetesRejected", str(exc), temporary=exc.status == 403)
            return failure, {"error": str(exc)}
        if isinstance(exc, KubeNotFound):
            # An object the operation needs is gone (deleted out of band, say).
            return OperationFailed("NotFound", str(exc)), {"error": str(exc)}
        # Anything else is retried with backoff, but not past the operation's
        # timeout: a step that keeps failing must end in .error, not loop.
        if self.op_clock.age(op) <= self.operation_timeout:
            return None
        timeout = OperationFailed(
            "Timeout",
            f"{op.operation} did not finish in {self.operation_timeout:.0f}s; "
            f"it kept failing with {type(exc).__name__}: {exc}",
        )
        return timeout, {"error": str(exc), "error_type": type(exc).__name__}

    async def _end_failed(
        self, rec: VnfRecord, op: Operation, failure: OperationFailed, **logged: Any
    ) -> None:
        """Fail the operation, log it (``logged`` adds or overrides fields), finish."""
        self._fail(rec, op, failure)
        event = "operation.timeout" if failure.error_type == "Timeout" else "operation.failed"
        if op.state == OpState.FAILED_TEMP:
            event = "operation.failed_temp"
        fields = {"error": failure.message, "error_type": failure.error_type, **logged}
        LOG.warning(event, vnf_id=rec.vnf_id, op_id=op.op_id, operation=op.operation, **fields)
        await self._finish(rec, op)

    def _fail(
        self, rec: VnfRecord, op: Operation, exc: OperationFailed, *, keep_status: bool = False
    ) -> None:
        """FAILED, or FAILED_TEMP (parked) when the failure is temporary and the
        operation was not being rolled back; either way one ``.error``."""
        parks = exc.temporary and op.parks and op.state != OpState.ROLLING_BACK and not keep_status
        op.state = OpState.FAILED_TEMP if parks else OpState.FAILED
        if parks:
            op.progress["parkedAt"] = utcnow()
            op.progress.pop("retry", None)
            if self.auto_rollback_updates and op.kind == OperationKind.UPDATE:
                # Rolled back at once, by itself (the next pass takes it up).
                op.request_action("rollback", op_id=f"auto-rollback-{op.op_id}")
        op.error = {"type": exc.error_type, "message": exc.message}
        rec.save_operation(op)
        rec.emit(
            f"vnf.{op.operation}.error",
            {**op.payload(), "error": op.error},
            priority="ERROR",
        )
        if keep_status:
            return
        if exc.vnf_status:
            rec.set_status(exc.vnf_status, reason=f"{op.operation} failed: {exc.message}")
        else:
            status, reason = self._observed(rec)
            rec.set_status(status, reason=reason)

    async def _finish(self, rec: VnfRecord, op: Operation) -> None:
        self.op_clock.forget(op)
        rec.waiting = None
        rec = await self.records.write(rec)
        flushed = await self.records.flush(rec)
        if (
            flushed is not None
            and op.kind == OperationKind.TERMINATE
            and op.state == OpState.COMPLETED
        ):
            await self.delete_terminated(flushed)
        elif flushed is not None and flushed.current() is not None:
            self.queue.add(flushed.vnf_id)
