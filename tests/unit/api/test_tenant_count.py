"""The tenant limit counts a tenant's VNFs from the records informer while the
tenant is far from it, and by a LIST of its records (then again after the
create) near it: an instantiate no longer costs a LIST of every record of
its tenant."""

from __future__ import annotations

from typing import Any

import pytest

from k8s_worker.api import endpoint as endpoint_module
from k8s_worker.api.endpoint import LifecycleEndpoint
from k8s_worker.record import RecordStore
from rpc.exceptions import BadRequest
from tests.doubles.kube import MemoryKube

SELECTOR = "tacker.openstack.org/tenant-id=t1"
LABELS = {"tacker.openstack.org/tenant-id": "t1"}


class Counted(MemoryKube):
    def __init__(self) -> None:
        super().__init__()
        self.lists = 0

    async def list(self, kind: Any, **kwargs: Any) -> Any:
        self.lists += 1
        return await super().list(kind, **kwargs)


def endpoint(kube: Counted, cached: list[dict[str, Any]], *, limit: int) -> LifecycleEndpoint:
    store = RecordStore(kube, namespace="r")  # type: ignore[arg-type]
    return LifecycleEndpoint(
        store=store,
        vnf_objects=None,  # type: ignore[arg-type]
        enqueue=lambda vnf_id: None,
        kube=kube,  # type: ignore[arg-type]
        max_vnfs_per_tenant=limit,
        cached_records=lambda: cached,
    )


async def create(ep: LifecycleEndpoint, vnf_id: str) -> None:
    await ep._create_record(
        vnf={"id": vnf_id, "name": "x", "namespace": "ns"},
        descriptor=("tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0\n", False),
        vnf_id=vnf_id,
        tenant_id="t1",
        labels=LABELS,
        selector=SELECTOR,
    )


def records(n: int) -> list[dict[str, Any]]:
    return [{"metadata": {"name": f"r{i}", "labels": dict(LABELS)}} for i in range(n)]


async def test_far_from_the_limit_no_list_is_made() -> None:
    kube = Counted()
    await create(endpoint(kube, records(3), limit=1000), "v-1")
    assert kube.lists == 0


async def test_near_the_limit_the_tenants_records_are_listed_and_counted_exactly() -> None:
    kube = Counted()
    limit = endpoint_module.TENANT_COUNT_MARGIN + 2
    ep = endpoint(kube, records(3), limit=limit)  # 3 + margin >= limit: exact
    await create(ep, "v-1")
    assert kube.lists == 2, "counted before the create and again after it"


async def test_near_the_limit_the_api_server_decides_not_the_informer() -> None:
    kube = Counted()
    # The informer shows five (say, records deleted since): near the limit, the
    # LIST is the count, and it finds none.
    await create(endpoint(kube, records(5), limit=5), "v-1")
    # The informer shows none (not caught up): the LIST finds v-1.
    with pytest.raises(BadRequest):
        await create(endpoint(kube, [], limit=1), "v-2")
