"""The VNF record as the worker reads and changes it.

A ``VnfRecord`` wraps the custom resource's dict (so a write can carry the
resourceVersion it was read at) and gives the journal, the outbox of pending
notifications and the policy memory typed accessors.  Nothing here does I/O.

Notifications are not published from memory: ``emit`` puts them in the
record's outbox with the VNF's next sequence number, in the same
compare-and-swap write as the state change they report.  Whoever then
publishes them (and removes them) cannot give two events the same sequence or
report a change that was not stored.
"""

from __future__ import annotations

import copy
import datetime as dt
import enum
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from k8s_worker.kube.kinds import VNF_GROUP, VNF_VERSION

#: uuid5 namespace of notification message ids (``VnfRecord.message_id``).
_MESSAGE_ID_NAMESPACE = uuid.UUID("5f0d9c1e-3b7a-4c55-9a53-6c1f3e2b8d47")

JOURNAL_KEEP = 50  # finished operations kept in the journal
#: On records when [kubernetes] record_finalizer is set: a record deleted by hand
#: waits for the worker to terminate its VNF (then the worker takes it off).
FINALIZER = "tacker.openstack.org/terminate"
SEEN_OPS_KEEP = 500  # op_ids remembered for de-duplication

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class VnfStatus(enum.StrEnum):
    """The VNF statuses Tacker knows, as reported in ``vnf.status.update`` and get_vnf."""

    PENDING_CREATE = "PENDING_CREATE"
    ACTIVE = "ACTIVE"
    PENDING_UPDATE = "PENDING_UPDATE"
    PENDING_SCALE_OUT = "PENDING_SCALE_OUT"
    PENDING_SCALE_IN = "PENDING_SCALE_IN"
    PENDING_HEAL = "PENDING_HEAL"
    PENDING_DELETE = "PENDING_DELETE"
    ERROR = "ERROR"
    DEAD = "DEAD"
    DEGRADED = "DEGRADED"
    NOT_INSTANTIATED = "NOT_INSTANTIATED"  # an instantiate rolled back: no objects left


class OpState(enum.StrEnum):
    """An operation's state in the journal (SOL003's operation states)."""

    STARTING = "STARTING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED_TEMP = "FAILED_TEMP"
    FAILED = "FAILED"
    ROLLING_BACK = "ROLLING_BACK"
    ROLLED_BACK = "ROLLED_BACK"


#: States an operation ends in; its event then is final (``.end`` for COMPLETED,
#: ``.error`` for the others).  FAILED_TEMP is not final: the operation waits
#: there for retry_operation, rollback_operation or fail_operation.
OP_FINAL_STATES = frozenset({OpState.COMPLETED, OpState.FAILED, OpState.ROLLED_BACK})


class OperationKind(enum.StrEnum):
    """The kinds of operation a VNF's journal holds (stored as these strings)."""

    INSTANTIATE = "instantiate"
    TERMINATE = "terminate"
    SCALE = "scale"
    HEAL = "heal"
    UPDATE = "update"


#: States of an operation not yet over: it is the VNF's current one (FAILED_TEMP
#: included: parked, it still holds the VNF's queue).
OP_ACTIVE_STATES = frozenset(
    {OpState.STARTING, OpState.PROCESSING, OpState.FAILED_TEMP, OpState.ROLLING_BACK}
)
#: What retry_operation, rollback_operation and fail_operation ask of a parked one.
OP_ACTIONS = ("retry", "rollback", "fail")


def utcnow() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_name(vnf_id: str) -> str:
    """The custom resource's name for a VNF id: the id itself when it is a
    valid DNS-1123 label (Tacker's UUIDs are), else ``vnf.<sha256[:32]>``.

    A DNS label has no dot, so no id can squat another's hashed name.
    """
    if len(vnf_id) <= 63 and _DNS1123_LABEL.fullmatch(vnf_id):
        return vnf_id
    return "vnf." + hashlib.sha256(vnf_id.encode()).hexdigest()[:32]


def legacy_record_name(vnf_id: str) -> str | None:
    """The name earlier versions gave a non-DNS id's record (``vnf-<hash>``,
    which a DNS id could equal); read only, and only when its vnfId matches."""
    if len(vnf_id) <= 63 and _DNS1123_LABEL.fullmatch(vnf_id):
        return None
    return "vnf-" + hashlib.sha256(vnf_id.encode()).hexdigest()[:32]


def params_secret_name(record: str) -> str:
    """The Secret beside a record that holds its secret-looking parameters."""
    return f"{record}-params"


@dataclass
class Operation:
    """One journal entry; ``args`` are the request's arguments as received."""

    op_id: str
    operation: str
    state: OpState
    args: dict[str, Any]
    created_at: str
    updated_at: str
    automatic: bool = False
    started_at: str | None = None
    error: dict[str, str] | None = None
    detail: dict[str, Any] | None = None
    request_id: str | None = None  # of the RPC that asked for it, for the logs
    #: Its caller handles FAILED_TEMP (sent at contract 1.2 or later): a failure
    #: retrying could fix parks it.  Otherwise (older callers, policies) such a
    #: failure ends it FAILED, as before, so nothing waits for a retry no one sends.
    parks: bool = False

    @classmethod
    def new(
        cls,
        *,
        op_id: str,
        operation: str,
        args: dict[str, Any],
        automatic: bool = False,
        request_id: str | None = None,
        parks: bool = False,
    ) -> Operation:
        now = utcnow()
        return cls(
            parks=parks,
            op_id=op_id,
            operation=operation,
            state=OpState.STARTING,
            args=args,
            created_at=now,
            updated_at=now,
            automatic=automatic,
            request_id=request_id,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Operation:
        return cls(
            op_id=d["opId"],
            operation=d["operation"],
            state=OpState(d["state"]),
            args=d.get("args") or {},
            created_at=d["createdAt"],
            updated_at=d["updatedAt"],
            automatic=bool(d.get("automatic")),
            started_at=d.get("startedAt"),
            error=d.get("error"),
            detail=d.get("detail"),
            request_id=d.get("requestId"),
            parks=bool(d.get("parks")),
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "opId": self.op_id,
            "operation": self.operation,
            "state": str(self.state),
            "args": self.args,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "automatic": self.automatic,
        }
        for key, value in (
            ("startedAt", self.started_at),
            ("error", self.error),
            ("detail", self.detail),
            ("requestId", self.request_id),
            ("parks", True if self.parks else None),
        ):
            if value is not None:
                d[key] = value
        return d

    def payload(self) -> dict[str, Any]:
        """What every notification of this operation carries about it."""
        payload: dict[str, Any] = {
            "op_id": self.op_id,
            "operation": self.operation,
            "automatic": self.automatic,
            "operation_state": str(self.state),
        }
        for key in ("policy", "type", "steps", "vdus", "cause", "vnfc_ids", "all"):
            if self.args.get(key) is not None:
                payload[key] = self.args[key]
        for key in ("retry_op_id", "rollback_op_id"):
            if (self.detail or {}).get(key):
                payload[key] = (self.detail or {})[key]
        return payload

    @property
    def parked(self) -> bool:
        """FAILED_TEMP: waiting for retry, rollback or fail."""
        return self.state == OpState.FAILED_TEMP

    def request_action(self, action: str, *, op_id: str) -> None:
        """Ask a parked operation to retry, roll back or fail (``op_id``: the
        request's own, for de-duplication and the events)."""
        assert action in OP_ACTIONS, action
        self.progress["next"] = {"action": action, "op_id": op_id}
        self.progress.setdefault("actions", []).append(op_id)

    def next_action(self) -> tuple[str, str] | None:
        """(action, its op_id) asked of this parked operation, if any."""
        pending = (self.detail or {}).get("next")
        if isinstance(pending, dict) and pending.get("action") in OP_ACTIONS:
            return str(pending["action"]), str(pending.get("op_id") or "")
        return None

    def took_action(self, op_id: str) -> bool:
        """``op_id`` was a retry, rollback or fail request of this operation."""
        return op_id in ((self.detail or {}).get("actions") or [])

    @property
    def kind(self) -> OperationKind | None:
        """The operation's kind (None for one this version does not know)."""
        try:
            return OperationKind(self.operation)
        except ValueError:
            return None

    @property
    def progress(self) -> dict[str, Any]:
        """``detail`` as an operation's steps keep their progress in it
        (created empty when first needed)."""
        if self.detail is None:
            self.detail = {}
        return self.detail

    @property
    def active(self) -> bool:
        return self.state in OP_ACTIVE_STATES

    def summary(self) -> dict[str, Any]:
        """What get_vnf shows of an operation."""
        out = {
            "op_id": self.op_id,
            "operation": self.operation,
            "state": str(self.state),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "automatic": self.automatic,
        }
        if self.error:
            out["error"] = self.error
        return out


class VnfRecord:
    """A VNF record read from (or about to be written to) Kubernetes."""

    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = obj
        obj.setdefault("spec", {})
        obj.setdefault("status", {})
        #: Changed in memory since it was read, to be written by the pass.
        self.unsaved = False

    @classmethod
    def new(
        cls,
        *,
        namespace: str,
        vnf_id: str,
        name: str,
        tenant_id: str,
        vnf_namespace: str | None,
        vnfd: Any = None,
        vnfd_ref: dict[str, Any] | None = None,
        params: dict[str, Any],
        labels: dict[str, str],
        vim_id: str | None = None,
        autoscaling: dict[str, Any] | None = None,
    ) -> VnfRecord:
        """A new record; its descriptor by reference (``vnfd_ref``, see
        record.descriptors) or, without one, inline (``vnfd``); ``autoscaling``:
        the request's per-policy settings (``additionalParams.autoscaling``)."""
        descriptor = {"vnfdRef": vnfd_ref} if vnfd_ref is not None else {"vnfd": vnfd}
        return cls(
            {
                "apiVersion": f"{VNF_GROUP}/{VNF_VERSION}",
                "kind": "Vnf",
                "metadata": {
                    "name": record_name(vnf_id),
                    "namespace": namespace,
                    "labels": dict(labels),
                },
                "spec": {
                    "vnfId": vnf_id,
                    "name": name,
                    "tenantId": tenant_id,
                    "namespace": vnf_namespace or "",
                    **descriptor,
                    "params": params,
                    **({"vimId": vim_id} if vim_id else {}),
                    **({"autoscaling": autoscaling} if autoscaling else {}),
                },
                "status": {},
            }
        )

    def size(self) -> int:
        """Bytes of the record's JSON (what the API server stores)."""
        return len(json.dumps(self.obj, separators=(",", ":"), default=str))

    def copy(self) -> VnfRecord:
        return VnfRecord(copy.deepcopy(self.obj))

    # -- identity -------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.obj["metadata"]["name"]

    @property
    def namespace(self) -> str:
        return self.obj["metadata"]["namespace"]

    @property
    def resource_version(self) -> str | None:
        return self.obj["metadata"].get("resourceVersion")

    @property
    def spec(self) -> dict[str, Any]:
        return self.obj["spec"]

    @property
    def st(self) -> dict[str, Any]:
        return self.obj["status"]

    @property
    def vnf_id(self) -> str:
        return self.spec["vnfId"]

    @property
    def tenant_id(self) -> str:
        return self.spec["tenantId"]

    @property
    def drift_reported(self) -> list[str]:
        """The drift findings reported and not gone since (see lifecycle.drift)."""
        return list(self.st.get("driftReported") or [])

    @drift_reported.setter
    def drift_reported(self, keys: list[str]) -> None:
        if keys:
            self.st["driftReported"] = keys
        else:
            self.st.pop("driftReported", None)

    @property
    def vim_id(self) -> str | None:
        """The registered VIM the VNF lives on (None: the worker's own cluster)."""
        return self.spec.get("vimId") or None

    @property
    def autoscaling(self) -> dict[str, Any]:
        """Per-policy autoscaling settings the instantiate gave (policy -> settings)."""
        value = self.spec.get("autoscaling")
        return value if isinstance(value, dict) else {}

    @property
    def vnf_namespace(self) -> str:
        return self.spec.get("namespace") or ""

    @property
    def deleting(self) -> bool:
        return self.obj["metadata"].get("deletionTimestamp") is not None

    @property
    def finalizers(self) -> list[str]:
        return list(self.obj["metadata"].get("finalizers") or [])

    def terminate_on_delete(self) -> Operation | None:
        """A record deleted by hand while it holds the worker's finalizer: the
        terminate to journal (once; automatic), or None when there is nothing to do."""
        if not self.deleting or FINALIZER not in self.finalizers or self.terminated():
            return None
        if any(o.kind == OperationKind.TERMINATE and o.active for o in self.operations()):
            return None
        # A new attempt after each one that failed (the VIM away, say): the
        # record must not stay Terminating for good while the worker runs.
        uid = self.obj["metadata"].get("uid") or self.vnf_id
        attempt = 1
        while self.has_seen(f"record-deleted-{uid}-{attempt}"):
            attempt += 1
        op = Operation.new(
            op_id=f"record-deleted-{uid}-{attempt}", operation="terminate", args={}, automatic=True
        )
        return op if self.add_operation(op) else None

    # -- status ---------------------------------------------------------------
    @property
    def status(self) -> str | None:
        return self.st.get("status")

    @property
    def reason(self) -> str | None:
        """Why the VNF has its status (the latest status change's reason)."""
        return self.st.get("reason")

    @property
    def placed_namespace(self) -> str | None:
        """The namespace the VNF's objects were placed in (None: not yet)."""
        return self.st.get("namespace")

    @placed_namespace.setter
    def placed_namespace(self, namespace: str) -> None:
        self.st["namespace"] = namespace

    def require_namespace(self) -> str:
        """The placed namespace; KeyError when the VNF was never placed."""
        namespace = self.st.get("namespace")
        if not namespace:
            raise KeyError("the VNF has not been placed in a namespace")
        return str(namespace)

    def keep_status(self, other: VnfRecord) -> VnfRecord:
        """This record (as stored) with ``other``'s status in memory: a spec
        write returns the stored status, and the pass's changes to it must stay."""
        self.obj["status"] = other.st
        return self

    @property
    def owner(self) -> str | None:
        """The replica that claimed the VNF last."""
        return self.st.get("owner")

    @owner.setter
    def owner(self, host: str) -> None:
        self.st["owner"] = host

    @property
    def waiting(self) -> str | None:
        """What the current operation waits for (None: it does not)."""
        return self.st.get("waiting")

    @waiting.setter
    def waiting(self, reason: str | None) -> None:
        if reason is None:
            self.st.pop("waiting", None)
        else:
            self.st["waiting"] = reason

    @property
    def pod_memory(self) -> dict[str, Any]:
        """What respawn detection remembers of the VNF's pods."""
        return self.st.get("podMemory") or {}

    @pod_memory.setter
    def pod_memory(self, memory: dict[str, Any]) -> None:
        self.st["podMemory"] = memory

    def set_status(self, status: VnfStatus | str, *, reason: str) -> bool:
        """Change the VNF status and emit vnf.status.update; False if unchanged."""
        old = self.st.get("status")
        if old == str(status):
            self.st["reason"] = reason
            return False
        self.st["status"] = str(status)
        self.st["reason"] = reason
        self.emit("vnf.status.update", {"old_status": old, "status": str(status), "reason": reason})
        return True

    # -- journal ----------------------------------------------------------------
    def operations(self) -> list[Operation]:
        return [Operation.from_dict(d) for d in self.st.get("operations", [])]

    def has_seen(self, op_id: str) -> bool:
        return op_id in self.st.get("seenOps", []) or any(
            op.op_id == op_id for op in self.operations()
        )

    def find(self, op_id: str) -> Operation | None:
        return next((op for op in self.operations() if op.op_id == op_id), None)

    def current(self) -> Operation | None:
        """The oldest operation still to do: operations run one at a time, in order."""
        return next((op for op in self.operations() if op.active), None)

    def terminated(self) -> bool:
        """A terminate completed: the objects are gone and only this record is left."""
        return any(
            op.kind == OperationKind.TERMINATE and op.state == OpState.COMPLETED
            for op in self.operations()
        )

    def add_operation(self, op: Operation) -> bool:
        """Journal a new operation; False if its op_id was seen before."""
        if self.has_seen(op.op_id):
            return False
        self.st.setdefault("operations", []).append(op.to_dict())
        seen = self.st.setdefault("seenOps", [])
        seen.append(op.op_id)
        del seen[:-SEEN_OPS_KEEP]
        self.st["journalSeq"] = int(self.st.get("journalSeq") or 0) + 1
        return True

    def journal_patch(self, op: Operation) -> list[dict[str, Any]] | None:
        """The JSON Patch that journals ``op`` onto this record as read, or None
        for a record without a journal sequence (written before it existed).

        Guarded by ``journalSeq`` alone, which only journaling changes: the
        owner's status writes in between (an operation advancing, events
        flushed) do not stop it, where a compare-and-swap of the whole status
        would lose to each of them.  Call before :meth:`add_operation`.
        """
        seq = self.st.get("journalSeq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            return None
        patch: list[dict[str, Any]] = [
            {"op": "test", "path": "/status/journalSeq", "value": seq},
            {"op": "replace", "path": "/status/journalSeq", "value": seq + 1},
        ]
        if isinstance(self.st.get("operations"), list):
            patch.append({"op": "add", "path": "/status/operations/-", "value": op.to_dict()})
        else:
            patch.append({"op": "add", "path": "/status/operations", "value": [op.to_dict()]})
        seen = self.st.get("seenOps")
        if isinstance(seen, list):
            # seenOps changes only with journalSeq: its length is as read.
            for _ in range(max(0, len(seen) + 1 - SEEN_OPS_KEEP)):
                patch.append({"op": "remove", "path": "/status/seenOps/0"})
            patch.append({"op": "add", "path": "/status/seenOps/-", "value": op.op_id})
        else:
            patch.append({"op": "add", "path": "/status/seenOps", "value": [op.op_id]})
        return patch

    def save_operation(self, op: Operation) -> None:
        op.updated_at = utcnow()
        if not op.active:
            op.args = _compact_args(op.args)
        ops = self.st.setdefault("operations", [])
        for i, d in enumerate(ops):
            if d["opId"] == op.op_id:
                ops[i] = op.to_dict()
                break
        else:
            ops.append(op.to_dict())
        if not op.active:
            self.st["lastOperation"] = f"{op.operation}:{op.state}"
            finished = [d for d in ops if OpState(d["state"]) not in OP_ACTIVE_STATES]
            drop = {d["opId"] for d in finished[:-JOURNAL_KEEP]}
            if drop:
                self.st["operations"] = [d for d in ops if d["opId"] not in drop]

    # -- notifications (outbox) ----------------------------------------------
    #: Pending events past which a status update or respawn is merged into the
    #: one before it (``[limits] outbox_coalesce_after``; the broker is away).
    outbox_cap: int = 50
    COALESCED = frozenset({"vnf.status.update", "vnf.respawn"})

    def emit(
        self, event_type: str, payload: dict[str, Any], *, priority: str = "INFO"
    ) -> dict[str, Any]:
        """Queue a notification with this VNF's next sequence number.

        While the outbox holds ``outbox_cap`` events or more, a status update
        or respawn that follows one of its kind is merged into it instead (same
        sequence, ``coalesced``: how many events it stands for): the latest
        status with the first ``old_status``; the latest respawn. Operation
        events are never merged or dropped.
        """
        outbox = self.st.get("outbox") or []
        if (
            event_type in self.COALESCED
            and len(outbox) >= self.outbox_cap
            and outbox[-1]["eventType"] == event_type
        ):
            last = outbox[-1]
            merged = {**last["payload"], **payload, "sequence": last["sequence"]}
            merged["vnf_id"], merged["tenant_id"] = self.vnf_id, self.tenant_id
            if event_type == "vnf.status.update":
                merged["old_status"] = last["payload"].get("old_status")
            merged["coalesced"] = int(last["payload"].get("coalesced", 1)) + 1
            last["payload"] = merged
            last["timestamp"] = str(dt.datetime.now(dt.UTC).replace(tzinfo=None))
            return last
        seq = int(self.st.get("sequence", 0)) + 1
        self.st["sequence"] = seq
        body = {"vnf_id": self.vnf_id, "tenant_id": self.tenant_id, "sequence": seq, **payload}
        if self.vim_id:  # on a registered VIM: named (k8s-worker-tail --vim)
            body["vim_id"] = self.vim_id
        entry = {
            "sequence": seq,
            "eventType": event_type,
            "priority": priority,
            "payload": body,
            # When it happened (oslo's format), not when the outbox is published.
            "timestamp": str(dt.datetime.now(dt.UTC).replace(tzinfo=None)),
        }
        self.st.setdefault("outbox", []).append(entry)
        return entry

    def outbox(self) -> list[dict[str, Any]]:
        return list(self.st.get("outbox", []))

    def message_id(self, entry: dict[str, Any]) -> str:
        """The notification's ``message_id``: the same each time this entry is published.

        Derived from the record's uid (a VNF id used again after a terminate gets
        a new record, so a new uid) and the entry's sequence.
        """
        uid = self.obj["metadata"].get("uid") or self.vnf_id
        return str(uuid.uuid5(_MESSAGE_ID_NAMESPACE, f"{uid}/{entry['sequence']}"))

    def drop_published(self, up_to_sequence: int) -> None:
        self.st["outbox"] = [e for e in self.st.get("outbox", []) if e["sequence"] > up_to_sequence]

    # -- policy memory -------------------------------------------------------
    @property
    def policy_state(self) -> dict[str, Any]:
        return self.st.setdefault("policy", {})

    # -- desired state -------------------------------------------------------
    @property
    def desired_replicas(self) -> dict[str, int]:
        """Replicas per VDU the VNF should run (set by instantiate and scale)."""
        return self.st.setdefault("desiredReplicas", {})

    @property
    def scale_levels(self) -> dict[str, int]:
        """The scale level of each scaling aspect (SOL003: 0 at instantiation)."""
        return self.st.setdefault("scaleLevels", {})

    @property
    def object_kinds(self) -> frozenset[str]:
        """Every kind the VNF's objects have had (a package may bring any):
        what terminate and the drift check look through."""
        return frozenset(self.st.get("objectKinds") or ())

    @property
    def applied_objects(self) -> list[str]:
        """What the VNF's last apply wrote, as "Kind/name"."""
        return list(self.st.get("appliedObjects") or [])

    @property
    def autoscaled_vdus(self) -> frozenset[str]:
        """VDUs a HorizontalPodAutoscaler of the VNF scales (drift leaves their
        replicas alone)."""
        return frozenset(self.st.get("autoscaledVdus") or ())

    @autoscaled_vdus.setter
    def autoscaled_vdus(self, vdus: list[str]) -> None:
        if vdus:
            self.st["autoscaledVdus"] = list(vdus)
        else:
            self.st.pop("autoscaledVdus", None)

    @property
    def helm_release(self) -> str | None:
        """The VNF's Helm release (None: it has none)."""
        return self.st.get("helmRelease")

    @helm_release.setter
    def helm_release(self, name: str | None) -> None:
        if name is None:
            self.st.pop("helmRelease", None)
        else:
            self.st["helmRelease"] = name

    def note_applied(self, names: list[str], *, kinds: set[str] | None = None) -> None:
        """Remember what an apply wrote, and the kinds it has (``kinds``: more
        that its objects make, a StatefulSet's claims); the kinds only grow."""
        every = {n.split("/", 1)[0] for n in names} | set(kinds or ())
        self.st["objectKinds"] = sorted(self.object_kinds | every)
        self.st["appliedObjects"] = list(names)


#: Arguments of finished operations kept only as a digest (the journal keeps
#: JOURNAL_KEEP of them, and a record must stay far below etcd's size limit).
_BULKY_ARGS = ("vnfd", "config")


def _compact_args(args: dict[str, Any]) -> dict[str, Any]:
    """A finished operation's arguments with descriptors and configs replaced by
    their sha256: the record holds what runs in its spec already."""

    def bulky(value: Any) -> bool:
        digest = isinstance(value, dict) and set(value) == {"sha256", "bytes"}
        return bool(value) and isinstance(value, (str, dict)) and not digest

    if not any(bulky(args.get(k)) for k in _BULKY_ARGS):
        return args
    out = dict(args)
    for key in _BULKY_ARGS:
        value = out.get(key)
        if bulky(value):
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            out[key] = {"sha256": hashlib.sha256(text.encode()).hexdigest(), "bytes": len(text)}
    return out
