"""The Vnf resource's conditions follow its status and its current operation,
and its status schema declares every field the worker writes (so the API
server's pruning never drops one)."""

from __future__ import annotations

import pathlib
import re

from k8s_worker.record import VnfRecord
from k8s_worker.record.conditions import refresh
from k8s_worker.record.model import Operation, OpState, VnfStatus
from k8s_worker.record.schema import OPERATION_SCHEMA, STATUS_SCHEMA

SOURCE = pathlib.Path(__file__).resolve().parents[3] / "k8s_worker"


def record() -> VnfRecord:
    rec = VnfRecord.new(
        namespace="r",
        vnf_id="v-1",
        name="x",
        tenant_id="t",
        vnf_namespace="ns",
        vnfd="tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0\n",
        params={},
        labels={},
    )
    rec.obj["metadata"]["generation"] = 3
    return rec


def conditions(rec: VnfRecord) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in rec.st["conditions"]}


def test_an_instantiate_in_progress_is_progressing_and_not_ready() -> None:
    rec = record()
    rec.add_operation(Operation.new(op_id="i", operation="instantiate", args={}))
    rec.set_status(VnfStatus.PENDING_CREATE, reason="instantiating")
    refresh(rec, now="2026-12-02T10:00:00.123Z")
    assert conditions(rec) == {
        "Ready": ("False", "InstantiateInProgress"),
        "Progressing": ("True", "InstantiateInProgress"),
        "Degraded": ("False", "PendingCreate"),
    }
    assert rec.st["observedGeneration"] == 3
    assert {c["observedGeneration"] for c in rec.st["conditions"]} == {3}
    assert {c["lastTransitionTime"] for c in rec.st["conditions"]} == {"2026-12-02T10:00:00Z"}


def test_a_completed_instantiate_is_ready_and_the_transition_time_moves_only_on_change() -> None:
    rec = record()
    op = Operation.new(op_id="i", operation="instantiate", args={})
    rec.add_operation(op)
    refresh(rec, now="2026-12-02T10:00:00Z")
    op.state = OpState.COMPLETED
    rec.save_operation(op)
    rec.set_status(VnfStatus.ACTIVE, reason="all pods ready")
    refresh(rec, now="2026-12-02T10:01:00Z")
    refresh(rec, now="2026-12-02T10:02:00Z")
    assert conditions(rec)["Ready"] == ("True", "Active")
    times = {c["type"]: c["lastTransitionTime"] for c in rec.st["conditions"]}
    # Ready and Progressing changed at 10:01; Degraded stayed False since 10:00
    assert times == {
        "Ready": "2026-12-02T10:01:00Z",
        "Progressing": "2026-12-02T10:01:00Z",
        "Degraded": "2026-12-02T10:00:00Z",
    }


def test_a_parked_operation_degrades_the_vnf_and_names_its_error() -> None:
    rec = record()
    op = Operation.new(op_id="i", operation="instantiate", args={})
    rec.add_operation(op)
    op.state = OpState.FAILED_TEMP
    op.error = {"type": "PodsRejected", "message": "exceeded quota: pods"}
    rec.save_operation(op)
    refresh(rec)
    assert conditions(rec) == {
        "Ready": ("False", "OperationFailedTemp"),
        "Progressing": ("False", "OperationFailedTemp"),
        "Degraded": ("True", "OperationFailedTemp"),
    }
    degraded = next(c for c in rec.st["conditions"] if c["type"] == "Degraded")
    assert "exceeded quota: pods" in degraded["message"]


def test_a_dead_vnf_is_degraded_with_its_reason() -> None:
    rec = record()
    rec.set_status(VnfStatus.DEAD, reason="no pod of VDU1 is ready")
    refresh(rec)
    assert conditions(rec)["Degraded"] == ("True", "Dead")
    assert conditions(rec)["Ready"] == ("False", "Dead")


def _written_status_fields() -> set[str]:
    """Every status field the worker's code writes or reads by name."""
    fields: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        text = path.read_text()
        fields |= set(re.findall(r'\bst\[\s*"(\w+)"\s*\]', text))
        fields |= set(re.findall(r'\.st\.(?:get|setdefault|pop)\(\s*"(\w+)"', text))
        fields |= set(re.findall(r'"/status/(\w+)', text))
    return fields


def test_the_status_schema_declares_every_field_the_worker_writes() -> None:
    declared = set(STATUS_SCHEMA["properties"])
    written = _written_status_fields()
    assert len(written) > 15  # the scan finds the fields at all
    assert written - declared == set()
    # and every declared field is one the worker really writes
    assert declared - written == set()
    assert STATUS_SCHEMA["x-kubernetes-preserve-unknown-fields"] is True


def test_the_operation_schema_declares_every_field_an_operation_stores() -> None:
    op = Operation.new(op_id="i", operation="instantiate", args={"a": 1})
    op.started_at, op.error, op.detail, op.request_id, op.parks = "t", {}, {}, "req", True
    assert set(op.to_dict()) == set(OPERATION_SCHEMA["properties"])


def test_a_record_deleted_by_hand_with_the_finalizer_journals_one_terminate() -> None:
    from k8s_worker.record.model import FINALIZER

    rec = record()
    assert rec.terminate_on_delete() is None  # not being deleted
    rec.obj["metadata"].update(
        uid="u-1", finalizers=[FINALIZER], deletionTimestamp="2026-12-02T10:00:00Z"
    )
    op = rec.terminate_on_delete()
    assert op is not None and op.operation == "terminate" and op.automatic
    assert op.op_id == "record-deleted-u-1-1"
    assert rec.terminate_on_delete() is None  # once while it runs
    op.state = OpState.FAILED
    rec.save_operation(op)
    again = rec.terminate_on_delete()  # it failed: another attempt
    assert again is not None and again.op_id == "record-deleted-u-1-2"
    other = record()
    other.obj["metadata"]["deletionTimestamp"] = "2026-12-02T10:00:00Z"
    assert other.terminate_on_delete() is None  # no finalizer of ours: nothing to do
