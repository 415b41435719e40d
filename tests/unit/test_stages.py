"""Stage latencies (k8s_worker.stages): what the pipeline reports, and what
/metrics shows of it; and the pod cache's projection."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from k8s_worker import stages
from k8s_worker.kube import KINDS
from k8s_worker.metrics import Metrics
from k8s_worker.reconcile.controller import Backoff, Controller
from k8s_worker.reconcile.workqueue import WorkQueue
from k8s_worker.watch.informer import Informer
from k8s_worker.watch.projection import without_managed_fields


@pytest.fixture
def reports() -> Iterator[list[tuple[str, float]]]:
    seen: list[tuple[str, float]] = []
    stages.set_sinks(stage=lambda name, secs: seen.append((name, secs)), api=None)
    yield seen
    stages.set_sinks(stage=None, api=None)


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        ("/apis/tacker.openstack.org/v1alpha1/namespaces/r/vnfs/vnf-1/status", "vnfs/status"),
        ("/apis/tacker.openstack.org/v1alpha1/namespaces/r/vnfs/vnf-1", "vnfs"),
        ("/api/v1/namespaces/ns/pods?labelSelector=x", "pods"),
        ("/api/v1/namespaces/ns", "namespaces"),
        ("/api/v1/nodes", "nodes"),
        ("/apis/coordination.k8s.io/v1/namespaces/r/leases/h", "leases"),
        ("/version", "version"),
    ],
)
def test_a_request_is_labelled_by_resource_never_by_name(path: str, resource: str) -> None:
    assert stages.resource_of(path) == resource


async def test_a_pass_reports_its_queue_wait_its_duration_and_its_publishes(
    reports: list[tuple[str, float]],
) -> None:
    queue = WorkQueue()
    done = asyncio.Event()

    async def handler(key: str) -> None:
        await asyncio.sleep(0.02)
        stages.published()  # as the outbox does for each confirmed notification
        done.set()

    controller = Controller(queue=queue, handler=handler, classify=lambda k, e: Backoff())
    queue.add("vnf-1")
    await asyncio.sleep(0.03)  # queued, no worker yet
    task = asyncio.create_task(controller.run())
    await asyncio.wait_for(done.wait(), 5)
    await asyncio.sleep(0.01)
    task.cancel()
    names = {name: secs for name, secs in reports}
    assert names["queue_wait"] >= 0.03
    assert names["pass"] >= 0.02
    assert names["queued_to_published"] >= 0.05, "from the queueing, not the pass's start"
    assert stages.QUEUED_AT.get() is None, "nothing leaks out of the pass"


def test_metrics_show_stages_and_api_requests_without_vnf_labels() -> None:
    metrics = Metrics()
    metrics.report_stages()
    try:
        stages.observe("record_write", 0.004)
        stages.api_request("PUT", "/apis/g/v1/namespaces/r/vnfs/vnf-secret-id/status", 0.004, 200)
    finally:
        stages.set_sinks(stage=None, api=None)
    text = metrics.render().decode()
    assert 'tacker_k8s_worker_stage_seconds_count{stage="record_write"} 1.0' in text
    assert (
        'tacker_k8s_worker_api_requests_total{code="200",resource="vnfs/status",verb="PUT"} 1.0'
        in text
    )
    assert "vnf-secret-id" not in text


def test_the_pod_cache_keeps_no_managed_fields() -> None:
    informer = Informer(kube=None, kind=KINDS["Pod"], project=without_managed_fields)  # type: ignore[arg-type]
    pod: dict[str, Any] = {
        "metadata": {
            "name": "p",
            "namespace": "n",
            "resourceVersion": "1",
            "managedFields": [{"manager": "kwok", "fieldsV1": {"f:status": {}}}],
        },
        "status": {"phase": "Running"},
    }
    informer._apply("ADDED", pod)
    cached = informer.cache[("n", "p")]
    assert "managedFields" not in cached["metadata"]
    assert cached["status"] == {"phase": "Running"}
