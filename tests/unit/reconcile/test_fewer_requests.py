"""What a reconcile pass costs the API server (issue 21): published events
need no write of their own, a pass reads the record from the informer's
cache (the API server only after a lost compare-and-swap), and the records
informer's echo of the pass's own write starts no new pass.  Over the small
in-memory Kubernetes, whose ``writes`` and ``reads`` count requests."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from k8s_worker.kube import KubeConflict
from k8s_worker.lifecycle.outcome import Done, Waiting
from k8s_worker.record import store as store_module
from k8s_worker.record.model import record_name
from k8s_worker.record.store import VNF
from k8s_worker.tosca import LABEL_VDU, LABEL_VNF_ID
from tests.unit.reconcile.test_state_machine import NS, NoObjects, op, setup


class CountingKube:
    """Counts the record reads of a MemoryKube."""

    def __init__(self, kube: Any) -> None:
        self.kube = kube
        self.reads = 0
        original = kube.get

        async def get(*args: Any, **kwargs: Any) -> Any:
            self.reads += 1
            return await original(*args, **kwargs)

        kube.get = get


async def stored(kube: Any) -> dict[str, Any]:
    obj: dict[str, Any] = await kube.get(VNF, name=record_name("vnf-1"), namespace=NS)
    return obj


async def test_an_operation_costs_a_write_per_step_and_none_per_published_event() -> None:
    kube, store, reconciler, published, _ = await setup(
        [op("i", "instantiate")], {"instantiate": Done()}
    )
    before = kube.writes
    await reconciler.handle("vnf-1")
    assert published.of("vnf.instantiate.start") and published.of("vnf.instantiate.end")
    # started (claimed in the same write), completed: none for the events' publication
    assert kube.writes - before == 2
    raw_owner = (await stored(kube))["status"].get("owner")
    assert raw_owner == "r1", "the claim went out with the start"
    raw = await stored(kube)
    assert [e["eventType"] for e in raw["status"]["outbox"]][-1] == "vnf.instantiate.end"
    rec = await store.get("vnf-1")
    assert rec is not None and rec.outbox() == [], "what the store hands out leaves them out"


async def test_published_entries_leave_the_stored_record_with_its_next_write() -> None:
    kube, _store, reconciler, _published, _ = await setup(
        [op("i", "instantiate")], {"instantiate": Done()}
    )
    await reconciler.handle("vnf-1")
    assert (await stored(kube))["status"]["outbox"], "published, still stored"
    writes = kube.writes
    await reconciler.handle("vnf-1")  # the first look at its pods: a write
    assert kube.writes == writes + 1
    assert (await stored(kube))["status"]["outbox"] == [], "removed by that write"
    assert await reconciler.handle("vnf-1") is None, "nothing left to settle"
    assert kube.writes == writes + 1


async def test_published_entries_no_other_write_removes_are_settled_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube, store, reconciler, published, _ = await setup(
        [op("i", "instantiate")], {"instantiate": Done()}
    )

    def pods_seen(rec: Any) -> bool:
        rec.pod_memory = {"pods": {}, "lost": [], "fresh": []}
        return True

    await store.mutate("vnf-1", pods_seen)
    after = await reconciler.handle("vnf-1")
    assert after is not None and 0 < after <= store_module.SETTLE_SECONDS
    writes = kube.writes
    await reconciler.handle("vnf-1")  # not yet due: nothing written
    assert kube.writes == writes
    monkeypatch.setattr(store_module, "SETTLE_SECONDS", 0.0)
    assert await reconciler.handle("vnf-1") is None
    assert kube.writes == writes + 1
    assert (await stored(kube))["status"]["outbox"] == []
    sequences = [p["sequence"] for _, p in published.events]
    assert sequences == sorted(set(sequences)), "nothing published twice"


async def test_a_pass_reads_the_cache_its_own_writes_and_the_api_only_after_a_lost_cas() -> None:
    kube, store, reconciler, _published, _ = await setup(
        [op("i", "instantiate")], {"instantiate": Done()}
    )
    informer: dict[str, dict[str, Any]] = {}  # what the records informer holds
    store.use_cache(informer.get)
    key = (VNF.path(namespace=NS), record_name("vnf-1"))

    def informer_catches_up() -> None:
        informer[record_name("vnf-1")] = copy.deepcopy(kube.objects[key])
        store.observed(informer[record_name("vnf-1")], deleted=False)

    counting = CountingKube(kube)
    await reconciler.handle("vnf-1")  # nothing cached yet: the API server
    assert counting.reads == 1
    informer_catches_up()
    await reconciler.handle("vnf-1")
    assert counting.reads == 1, "the informer's copy served the pass"
    informer_catches_up()
    rec = await store.get("vnf-1", cached=True)
    assert rec is not None and counting.reads == 1
    rec.st["reason"] = "written here"
    await store.write_status(rec)  # the informer has not seen this write yet
    fresh = await store.get("vnf-1", cached=True)
    assert counting.reads == 1, "the write's own answer served it"
    assert fresh is not None and fresh.reason == "written here", "not the informer's older copy"
    informer_catches_up()
    kube.bump(VNF, name=record_name("vnf-1"), namespace=NS)  # another writer, not seen yet
    rec = await store.get("vnf-1", cached=True)
    assert rec is not None and counting.reads == 1
    rec.st["reason"] = "changed"
    with pytest.raises(KubeConflict):
        await store.write_status(rec)
    fresh = await store.get("vnf-1", cached=True)
    assert counting.reads == 2, "after a lost CAS the API server is asked"
    assert fresh is not None
    assert fresh.resource_version == kube.objects[key]["metadata"]["resourceVersion"]


async def test_the_records_informers_echo_of_an_own_write_starts_no_pass() -> None:
    kube, _store, reconciler, _published, _ = await setup(
        [op("i", "instantiate")], {"instantiate": Done()}
    )
    await reconciler.handle("vnf-1")
    own = await stored(kube)
    assert reconciler.records.echo(own), "its own last write"
    assert not reconciler.records.echo(own), "each echo once"
    kube.bump(VNF, name=record_name("vnf-1"), namespace=NS)
    assert not reconciler.records.echo(await stored(kube)), "someone else's write"


class SomePods(NoObjects):
    """The VNF's pods as the informers show them (a test adds some)."""

    def __init__(self) -> None:
        self.pods: list[dict[str, Any]] = []

    def vnf_pods(self, vnf_id: str, namespace: str | None) -> list[dict[str, Any]]:
        return list(self.pods)

    def add(self, name: str) -> None:
        self.pods.append(
            {
                "metadata": {
                    "name": name,
                    "uid": f"uid-{name}",
                    "labels": {LABEL_VDU: "VDU1", LABEL_VNF_ID: "vnf-1"},
                    "creationTimestamp": "2026-12-02T10:00:00Z",
                },
                "status": {"phase": "Pending"},
            }
        )


async def test_an_operations_own_pods_ride_with_its_next_write() -> None:
    kube, _store, reconciler, published, operations = await setup(
        [op("i", "instantiate")], {"instantiate": Waiting("waiting for ready replicas")}
    )
    pods = SomePods()
    operations.vnf_objects = pods  # type: ignore[assignment]
    await reconciler.handle("vnf-1")  # started, then waiting
    writes = kube.writes
    pods.add("web-1")
    pods.add("web-2")
    await reconciler.handle("vnf-1")  # its pods came: nothing to report, no write
    assert kube.writes == writes
    operations.outcomes["instantiate"] = Done()
    await reconciler.handle("vnf-1")
    assert kube.writes == writes + 1
    memory = (await stored(kube))["status"]["podMemory"]["pods"]
    assert sorted(memory) == ["web-1", "web-2"], "the pods went out with the completion"
    assert not published.of("vnf.respawn")


async def test_a_record_an_intake_is_still_creating_is_not_claimed() -> None:
    kube, _store, reconciler, _published, _ = await setup([], {})
    writes = kube.writes
    assert await reconciler.handle("vnf-1") is None
    assert kube.writes == writes, "nothing journaled yet: no claim, no write"
    assert (await stored(kube)).get("status", {}).get("owner") is None


async def test_a_deleted_record_still_in_the_informer_publishes_nothing_again() -> None:
    kube, store, reconciler, published, _ = await setup(
        [op("i", "instantiate"), op("t", "terminate")],
        {"instantiate": Done(), "terminate": Done({"deleted": 1})},
    )
    informer: dict[str, dict[str, Any]] = {}
    store.use_cache(informer.get)
    key = (VNF.path(namespace=NS), record_name("vnf-1"))
    for _ in range(4):
        if key in kube.objects:  # what the informer shows until the deletion's event
            informer[record_name("vnf-1")] = copy.deepcopy(kube.objects[key])
        await reconciler.handle("vnf-1")
    assert key not in kube.objects, "terminated and deleted"
    before = list(published.events)
    assert await reconciler.handle("vnf-1") is None  # the informer still has the record
    assert published.events == before, "no notification published twice"
    assert len(published.of("vnf.terminate.end")) == 1
