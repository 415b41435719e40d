"""The Vnf resource's ``status.conditions``: what ``kubectl wait`` and
``kubectl describe`` read, derived from the VNF's status and current operation.

Three conditions with metav1.Condition's fields, refreshed on every status
write of the record (``refresh``; an intake's journal patch leaves them as they
were until the owner's next write, which follows it at once): **Ready** (the
VNF is ACTIVE and no operation holds it),
**Progressing** (an operation is starting, running or rolling back) and
**Degraded** (the VNF is ERROR, DEAD or DEGRADED, or its operation is parked
in FAILED_TEMP).  ``lastTransitionTime`` moves only when a condition's status
does; ``observedGeneration`` is the record's generation the status was written
against.
"""

from __future__ import annotations

from typing import Any

from k8s_worker.record.model import OpState, VnfRecord, VnfStatus, utcnow

READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
CONDITION_TYPES = (READY, PROGRESSING, DEGRADED)

_DEGRADED_STATUSES = frozenset({VnfStatus.ERROR, VnfStatus.DEAD, VnfStatus.DEGRADED})
_MESSAGE_MAX = 1024


def _camel(text: str) -> str:
    """``PENDING_SCALE_OUT`` / ``scale`` -> ``PendingScaleOut`` / ``Scale`` (a Condition reason)."""
    return "".join(part.capitalize() for part in text.replace("-", "_").split("_") if part)


def _wanted(record: VnfRecord) -> dict[str, tuple[bool, str, str]]:
    """condition type -> (status, reason, message)."""
    status = record.status or ""
    reason_text = record.reason or ""
    op = record.current()
    status_reason = _camel(status) or "Unknown"
    if op is not None and op.state != OpState.FAILED_TEMP:
        doing = "RollingBack" if op.state == OpState.ROLLING_BACK else "InProgress"
        running = f"{_camel(op.operation)}{doing}"
        progressing = (True, running, f"operation {op.op_id} is {op.state}")
    elif op is not None:
        progressing = (False, "OperationFailedTemp", f"operation {op.op_id} waits in FAILED_TEMP")
    else:
        progressing = (False, "Idle", "no operation runs")
    if op is not None and op.state == OpState.FAILED_TEMP:
        error = op.error or {}
        message = error.get("message") or error.get("reason") or "retry, roll back or fail it"
        degraded = (True, "OperationFailedTemp", f"operation {op.op_id}: {message}")
    elif status in _DEGRADED_STATUSES:
        degraded = (True, status_reason, reason_text or f"the VNF is {status}")
    else:
        degraded = (
            False,
            status_reason,
            reason_text or f"the VNF is {status or 'not observed yet'}",
        )
    if status == VnfStatus.ACTIVE and op is None:
        ready = (True, "Active", reason_text or "the VNF is ACTIVE")
    elif op is not None:
        ready = (False, progressing[1] if progressing[0] else "OperationFailedTemp", progressing[2])
    else:
        ready = (False, status_reason, reason_text or f"the VNF is {status or 'not observed yet'}")
    return {READY: ready, PROGRESSING: progressing, DEGRADED: degraded}


def refresh(record: VnfRecord, *, now: str | None = None) -> None:
    """Set ``status.conditions`` and ``status.observedGeneration`` from the record."""
    generation = record.obj["metadata"].get("generation")
    old = {c.get("type"): c for c in record.st.get("conditions") or [] if isinstance(c, dict)}
    stamp = now or utcnow()
    conditions: list[dict[str, Any]] = []
    for kind, (truth, reason, message) in _wanted(record).items():
        status = "True" if truth else "False"
        before = old.get(kind) or {}
        conditions.append(
            {
                "type": kind,
                "status": status,
                "observedGeneration": generation or 0,
                "lastTransitionTime": (
                    before.get("lastTransitionTime")
                    if before.get("status") == status and before.get("lastTransitionTime")
                    else _seconds(stamp)
                ),
                "reason": reason,
                "message": message[:_MESSAGE_MAX],
            }
        )
    record.st["conditions"] = conditions
    if generation is not None:
        record.st["observedGeneration"] = generation


def _seconds(stamp: str) -> str:
    """metav1.Time is RFC 3339 to the second: ``2026-12-02T12:00:00Z``."""
    return stamp.split(".", 1)[0].rstrip("Z") + "Z"
