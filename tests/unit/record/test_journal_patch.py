"""Journaling by JSON Patch: the patch does to the record as stored what
add_operation does to it as read, and is guarded by the journal sequence
alone (the owner's status writes in between do not stop it)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from k8s_worker.record import Operation, VnfRecord
from k8s_worker.record.model import SEEN_OPS_KEEP
from tests.unit.record.test_outbox import record


class PatchTestFailed(Exception):
    pass


def apply(doc: dict[str, Any], patch: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902, the operations journal_patch uses, as the API server applies them."""
    doc = copy.deepcopy(doc)
    for op in patch:
        *parents, last = op["path"].lstrip("/").split("/")
        target = doc
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if op["op"] == "test":
            if target.get(last) != op["value"]:
                raise PatchTestFailed(op["path"])
        elif op["op"] == "replace":
            assert last in target
            target[last] = op["value"]
        elif op["op"] == "add":
            if isinstance(target, list):
                target.append(op["value"]) if last == "-" else target.insert(int(last), op["value"])
            else:
                target[last] = op["value"]
        elif op["op"] == "remove":
            del target[int(last) if isinstance(target, list) else last]
    return doc


def scale(op_id: str) -> Operation:
    return Operation.new(op_id=op_id, operation="scale", args={"policy": "SP1", "type": "out"})


def test_the_patch_journals_as_add_operation_does() -> None:
    rec = record()
    rec.add_operation(Operation.new(op_id="i", operation="instantiate", args={}))
    op = scale("s-1")
    patch = rec.journal_patch(op)
    assert patch is not None
    patched = apply(rec.obj, patch)
    rec.add_operation(op)
    assert patched["status"] == rec.obj["status"]


def test_an_owner_write_in_between_does_not_stop_it_another_journal_does() -> None:
    rec = record()
    rec.add_operation(Operation.new(op_id="i", operation="instantiate", args={}))
    patch = rec.journal_patch(scale("s-1"))
    assert patch is not None
    stored = copy.deepcopy(rec.obj)
    stored["status"]["status"] = "ACTIVE"  # the owner advanced the instantiate meanwhile
    stored["status"]["operations"][0]["state"] = "COMPLETED"
    after = apply(stored, patch)
    assert [o["opId"] for o in after["status"]["operations"]] == ["i", "s-1"]
    assert after["status"]["operations"][0]["state"] == "COMPLETED", "the owner's write is kept"
    other = VnfRecord(copy.deepcopy(stored))
    other.add_operation(scale("s-2"))  # another replica's intake journaled first
    with pytest.raises(PatchTestFailed):
        apply(other.obj, patch)


def test_seen_op_ids_stay_bounded() -> None:
    rec = record()
    for i in range(SEEN_OPS_KEEP):
        rec.add_operation(scale(f"old-{i}"))
    patch = rec.journal_patch(scale("new"))
    assert patch is not None
    seen = apply(rec.obj, patch)["status"]["seenOps"]
    assert len(seen) == SEEN_OPS_KEEP and seen[-1] == "new" and "old-0" not in seen


def test_a_record_of_an_earlier_version_is_journaled_by_compare_and_swap() -> None:
    rec = record()
    rec.add_operation(scale("s-0"))
    del rec.obj["status"]["journalSeq"]
    assert rec.journal_patch(scale("s-1")) is None
