"""Each operation kind has its step in one explicit table: a journal entry of
a kind this version does not know fails clearly, and never reaches a helper
that happens to share its name (the dispatch once looked methods up by name)."""

from __future__ import annotations

from typing import Any

import pytest

from k8s_worker.lifecycle.operations import Operations
from k8s_worker.lifecycle.outcome import OperationFailed
from k8s_worker.record import Operation, OperationKind
from tests.unit.record.test_outbox import record


def operations() -> Operations:
    none: Any = None  # no step runs in these tests: nothing below is touched
    return Operations(vnf_objects=none, namespaces=none)


@pytest.mark.parametrize("name", ["scrub", "apply", "recreate", "dance"])
async def test_an_unknown_kind_fails_as_unknown(name: str) -> None:
    op = Operation.new(op_id="o", operation=name, args={})
    assert op.kind is None
    with pytest.raises(OperationFailed) as failed:
        await operations().step(record(), op)
    assert failed.value.error_type == "UnknownOperation"


def test_every_kind_has_a_step() -> None:
    assert set(operations()._steps) == set(OperationKind)
