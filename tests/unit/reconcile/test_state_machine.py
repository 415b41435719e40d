"""The operation state machine over a small in-memory Kubernetes
(tests/doubles/kube.py): supersede, timeout, deletion after a terminate, and
the outbox flush when another writer moved the record on."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from k8s_worker.kube import KubeConflict
from k8s_worker.lifecycle.operations import Outcome
from k8s_worker.lifecycle.outcome import Done, OperationFailed, Waiting
from k8s_worker.lifecycle.sites import VimUnavailable
from k8s_worker.reconcile.reconciler import Reconciler
from k8s_worker.reconcile.workqueue import WorkQueue
from k8s_worker.record import Operation, OpState, RecordStore, VnfRecord
from k8s_worker.record import store as store_module
from k8s_worker.record.model import record_name
from k8s_worker.record.store import CONFIGMAP, VNF, tombstone_name
from tests.doubles.kube import MemoryKube
from tests.unit.record.test_outbox import record

NS = "r"  # the namespace of tests.unit.record.test_outbox.record()


class NoObjects:
    """A VNF's objects as the informers would show them: none, for these tests."""

    def vnf_pods(self, vnf_id: str, namespace: str | None) -> list[dict[str, Any]]:
        return []

    def vnf_deployments(self, vnf_id: str, namespace: str | None) -> list[dict[str, Any]]:
        return []

    def vnf_workloads(self, vnf_id: str, namespace: str | None) -> list[dict[str, Any]]:
        return []


class ScriptedOperations:
    """Operations whose steps give what a test scripts, per operation kind."""

    def __init__(self, outcomes: dict[str, Outcome]) -> None:
        self.outcomes = outcomes
        self.vnf_objects = NoObjects()
        self.sites = None  # every VNF on the default VIM
        self.stepped: list[str] = []

    def objects_of(self, rec: VnfRecord) -> NoObjects:
        return self.vnf_objects

    async def step(self, rec: VnfRecord, op: Operation) -> Outcome:
        self.stepped.append(op.op_id)
        rec.placed_namespace = "vnf-ns"
        return self.outcomes[op.operation]

    async def policies(self, rec: VnfRecord) -> Any:
        raise OperationFailed("NoPolicies", "none in these tests")

    async def watch_objects(self, rec: VnfRecord) -> None:
        return None

    async def drift(
        self, rec: VnfRecord, *, repair: bool, full: bool, known: Any = frozenset()
    ) -> list[Any]:
        return []

    async def roll_back(self, rec: VnfRecord, op: Operation) -> Outcome:
        self.stepped.append(f"rollback:{op.op_id}")
        return Done({"deleted": 1})


class Published:
    """A publisher that keeps what it was given; ``during`` runs before each."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.during: Any = None

    async def publish(
        self,
        event_type: str,
        payload: Mapping[str, Any],
        *,
        priority: str = "INFO",
        message_id: str | None = None,
        timestamp: str | None = None,
    ) -> None:
        if self.during is not None:
            await self.during()
        self.events.append((event_type, dict(payload)))

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [p for t, p in self.events if t == event_type]


async def setup(
    ops: list[Operation], outcomes: dict[str, Outcome], *, operation_timeout: float = 600.0
) -> tuple[MemoryKube, RecordStore, Reconciler, Published, ScriptedOperations]:
    kube = MemoryKube()
    store = RecordStore(kube, namespace=NS)  # type: ignore[arg-type]
    rec = record("vnf-1", uid=None)
    for op in ops:
        rec.add_operation(op)
    await store.create(rec)
    published = Published()
    operations = ScriptedOperations(outcomes)
    reconciler = Reconciler(
        store=store,
        operations=operations,  # type: ignore[arg-type]
        publisher=published,
        queue=WorkQueue(),
        operation_timeout=operation_timeout,
        host="r1",
    )
    return kube, store, reconciler, published, operations


def op(op_id: str, operation: str, *, parks: bool = True, **args: Any) -> Operation:
    """A journaled operation; ``parks``: its caller handles FAILED_TEMP (1.2)."""
    return Operation.new(op_id=op_id, operation=operation, args=args, parks=parks)


async def test_a_terminate_supersedes_the_operations_queued_before_it_then_the_record_goes() -> (
    None
):
    kube, store, reconciler, published, operations = await setup(
        [op("i", "instantiate"), op("s", "scale", type="out"), op("t", "terminate")],
        {"instantiate": Done(), "scale": Done(), "terminate": Done({"deleted": 1})},
    )
    for _ in range(3):
        await reconciler.handle("vnf-1")
    assert operations.stepped == ["t"], "nothing queued before the terminate ran"
    assert [e["error"]["type"] for e in published.of("vnf.instantiate.error")] == ["Superseded"]
    assert [e["error"]["type"] for e in published.of("vnf.scale.error")] == ["Superseded"]
    assert [e["deleted"] for e in published.of("vnf.terminate.end")] == [1]
    assert await store.get("vnf-1") is None, "the record is deleted after its terminate"
    assert {"i", "s", "t"} <= await store.tombstone("vnf-1")
    assert kube.objects.get((CONFIGMAP.path(namespace=NS), tombstone_name("vnf-1")))


async def test_a_step_that_keeps_waiting_times_out_with_one_error() -> None:
    _, store, reconciler, published, _ = await setup(
        [op("i", "instantiate")], {"instantiate": Waiting("pods not ready")}, operation_timeout=0.0
    )
    await reconciler.handle("vnf-1")
    await reconciler.handle("vnf-1")
    (error,) = published.of("vnf.instantiate.error")
    assert error["error"]["type"] == "Timeout" and "pods not ready" in error["error"]["message"]
    assert error["operation_state"] == "FAILED_TEMP"  # a timeout can be retried
    rec = await store.get("vnf-1")
    assert rec is not None and rec.find("i").state == OpState.FAILED_TEMP  # type: ignore[union-attr]
    assert rec.outbox() == [], "every event was published, then dropped"


async def test_a_step_that_keeps_raising_fails_only_past_the_timeout() -> None:
    class Broken(ScriptedOperations):
        async def step(self, rec: VnfRecord, op: Operation) -> Outcome:
            raise RuntimeError("boom")

    _, _, reconciler, published, _ = await setup([op("i", "instantiate")], {})
    reconciler.ops = reconciler.advancer.ops = Broken({})  # type: ignore[assignment]
    try:
        await reconciler.handle("vnf-1")
    except RuntimeError:
        pass
    else:
        raise AssertionError("within its timeout the error goes back for a retry")
    assert published.of("vnf.instantiate.error") == []
    reconciler.advancer.operation_timeout = 0.0
    await reconciler.handle("vnf-1")
    (error,) = published.of("vnf.instantiate.error")
    assert error["error"]["type"] == "Timeout" and "RuntimeError: boom" in error["error"]["message"]


async def test_an_operation_waits_for_its_unreachable_vim_then_fails_naming_it() -> None:
    class VimAway(ScriptedOperations):
        async def step(self, rec: VnfRecord, op: Operation) -> Outcome:
            raise VimUnavailable("vim2", "connection refused")

    _, store, reconciler, published, _ = await setup([op("i", "instantiate")], {})
    reconciler.ops = reconciler.advancer.ops = VimAway({})  # type: ignore[assignment]
    with pytest.raises(VimUnavailable):
        await reconciler.handle("vnf-1")  # within its timeout: retried later
    assert published.of("vnf.instantiate.error") == []
    reconciler.advancer.operation_timeout = 0.0
    await reconciler.handle("vnf-1")
    (error,) = published.of("vnf.instantiate.error")
    assert error["error"]["type"] == "VimUnreachable"
    assert "VIM vim2 is unreachable: connection refused" in error["error"]["message"]
    rec = await store.get("vnf-1")
    assert rec is not None and rec.status != "DEAD"


async def test_the_outbox_is_dropped_even_when_another_writer_moved_the_record_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store_module, "SETTLE_SECONDS", 0.0)
    kube, _store, reconciler, published, _ = await setup(
        [op("i", "instantiate")], {"instantiate": Done()}
    )

    async def someone_writes() -> None:
        kube.bump(VNF, name=record_name("vnf-1"), namespace=NS)

    published.during = someone_writes  # each publish races with a write
    for _ in range(10):  # as the controller does: a lost CAS is retried at once
        try:
            if await reconciler.handle("vnf-1") is None:
                break
        except KubeConflict:
            continue
    stored = await kube.get(VNF, name=record_name("vnf-1"), namespace=NS)
    assert stored["status"]["outbox"] == [], "published entries left the stored record"
    sequences = [p["sequence"] for _, p in published.events]
    assert sequences == sorted(set(sequences)), "each event published once, in order"
    assert published.of("vnf.instantiate.end")


async def _park(outcomes: dict[str, Outcome], **kw: Any) -> tuple[Any, ...]:
    """An instantiate that timed out: parked in FAILED_TEMP."""
    kube, store, reconciler, published, operations = await setup(
        [op("i", "instantiate")], outcomes, operation_timeout=0.0, **kw
    )
    await reconciler.handle("vnf-1")
    await reconciler.handle("vnf-1")
    rec = await store.get("vnf-1")
    assert rec is not None and rec.find("i").state == OpState.FAILED_TEMP  # type: ignore[union-attr]
    return kube, store, reconciler, published, operations


async def _ask(store: RecordStore, action: str, op_id: str) -> None:
    def change(rec: VnfRecord) -> bool:
        target = rec.find("i")
        assert target is not None
        target.request_action(action, op_id=op_id)
        rec.save_operation(target)
        return True

    await store.mutate("vnf-1", change)


def _finals(published: Published, operation: str) -> list[dict[str, Any]]:
    return [
        p
        for t, p in published.events
        if t in (f"vnf.{operation}.end", f"vnf.{operation}.error")
        and p["operation_state"] in ("COMPLETED", "FAILED", "ROLLED_BACK")
    ]


async def test_a_parked_operation_waits_and_takes_nothing_else_until_asked() -> None:
    _, _store, reconciler, published, operations = await _park({"instantiate": Waiting("no")})
    stepped = list(operations.stepped)
    for _ in range(3):
        await reconciler.handle("vnf-1")
    assert operations.stepped == stepped, "a parked operation is not stepped again"
    assert _finals(published, "instantiate") == []


async def test_a_retried_operation_runs_again_and_ends_once() -> None:
    _, store, reconciler, published, operations = await _park({"instantiate": Waiting("no")})
    operations.outcomes["instantiate"] = Done()
    reconciler.advancer.operation_timeout = 600.0
    await _ask(store, "retry", "r-1")
    await reconciler.handle("vnf-1")
    starts = published.of("vnf.instantiate.start")
    assert starts[-1]["retry_op_id"] == "r-1" and starts[-1]["operation_state"] == "PROCESSING"
    (final,) = _finals(published, "instantiate")
    assert final["retry_op_id"] == "r-1" and final["operation_state"] == "COMPLETED"


async def test_a_failed_operation_has_one_final_error_and_frees_the_vnf() -> None:
    _, store, reconciler, published, _ = await _park({"instantiate": Waiting("no")})
    await _ask(store, "fail", "f-1")
    await reconciler.handle("vnf-1")
    (final,) = _finals(published, "instantiate")
    assert final["operation_state"] == "FAILED" and final["error"]["type"] == "Timeout"
    assert len(published.of("vnf.instantiate.error")) == 2  # FAILED_TEMP, then FAILED
    rec = await store.get("vnf-1")
    assert rec is not None and rec.current() is None


async def test_a_rolled_back_instantiate_leaves_the_vnf_not_instantiated() -> None:
    _, store, reconciler, published, operations = await _park({"instantiate": Waiting("no")})
    reconciler.advancer.operation_timeout = 600.0
    await _ask(store, "rollback", "rb-1")
    await reconciler.handle("vnf-1")
    assert "rollback:i" in operations.stepped
    (final,) = _finals(published, "instantiate")
    assert final["operation_state"] == "ROLLED_BACK" and final["rolled_back"] is True
    assert final["rollback_op_id"] == "rb-1"
    rec = await store.get("vnf-1")
    assert rec is not None and rec.status == "NOT_INSTANTIATED"


async def test_a_parked_operation_fails_by_itself_after_failed_temp_timeout() -> None:
    _, _store, reconciler, published, _ = await _park({"instantiate": Waiting("no")})
    reconciler.advancer.failed_temp_timeout = 0.01
    await asyncio.sleep(0.05)
    await reconciler.handle("vnf-1")
    (final,) = _finals(published, "instantiate")
    assert final["operation_state"] == "FAILED"


async def test_a_failure_retrying_cannot_fix_is_final_at_once() -> None:
    _, _store, reconciler, published, _ = await setup(
        [op("i", "instantiate")],
        {"instantiate": Done()},
    )

    class Invalid(ScriptedOperations):
        async def step(self, rec: VnfRecord, op: Operation) -> Outcome:
            raise OperationFailed("InvalidVnfd", "no such node type")

    reconciler.ops = reconciler.advancer.ops = Invalid({})  # type: ignore[assignment]
    await reconciler.handle("vnf-1")
    (final,) = _finals(published, "instantiate")
    assert final["operation_state"] == "FAILED"


async def test_an_older_callers_operation_fails_as_before_instead_of_parking() -> None:
    _, store, reconciler, published, _ = await setup(
        [op("i", "instantiate", parks=False)],
        {"instantiate": Waiting("pods not ready")},
        operation_timeout=0.0,
    )
    await reconciler.handle("vnf-1")
    await reconciler.handle("vnf-1")
    (final,) = _finals(published, "instantiate")
    assert final["operation_state"] == "FAILED" and final["error"]["type"] == "Timeout"
    rec = await store.get("vnf-1")
    assert rec is not None and rec.current() is None, "nothing waits for a retry"
