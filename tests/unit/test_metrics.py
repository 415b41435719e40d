"""Metrics: what the wrappers count and what the collector reads at scrape time."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from k8s_worker.metrics import Metrics
from rpc.exceptions import VnfNotFound


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


class Publisher:
    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail = fail
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def publish(self, event_type: str, payload: dict, *, priority: str = "INFO") -> None:
        if self.fail:
            raise ConnectionError("broker gone")
        self.sent.append((event_type, priority))


async def test_operations_are_counted_and_timed_from_start_to_end() -> None:
    metrics = Metrics()
    inner = Publisher()
    pub = metrics.instrument_publisher(inner)
    await pub.start()  # everything but publish passes through
    assert inner.started
    await pub.publish("vnf.scale.start", {"vnf_id": "v", "op_id": "o1"})
    await asyncio.sleep(0.01)
    await pub.publish("vnf.scale.end", {"vnf_id": "v", "op_id": "o1"})
    await pub.publish("vnf.heal.error", {"vnf_id": "v", "op_id": "o2"}, priority="ERROR")
    await pub.publish("vnf.status.update", {"vnf_id": "v", "status": "ACTIVE"})

    assert inner.sent[-1] == ("vnf.status.update", "INFO")
    ok = {"operation": "scale", "outcome": "success"}
    assert sample(metrics, "tacker_k8s_worker_operations_total", **ok) == 1
    assert sample(metrics, "tacker_k8s_worker_operation_duration_seconds_count", **ok) == 1
    assert sample(metrics, "tacker_k8s_worker_operation_duration_seconds_sum", **ok) >= 0.01
    failed = {"operation": "heal", "outcome": "error"}
    assert sample(metrics, "tacker_k8s_worker_operations_total", **failed) == 1
    # no .start seen by this replica: counted, but no duration invented
    assert sample(metrics, "tacker_k8s_worker_operation_duration_seconds_count", **failed) == 0
    assert (
        sample(
            metrics,
            "tacker_k8s_worker_notifications_published_total",
            event_type="vnf.heal.error",
            priority="ERROR",
        )
        == 1
    )
    assert sample(metrics, "tacker_k8s_worker_operations_total", operation="status") == 0


async def test_respawns_and_policy_decisions_are_counted() -> None:
    metrics = Metrics()
    pub = metrics.instrument_publisher(Publisher())
    await pub.publish("vnf.respawn", {"vnf_id": "v", "reason": "PodReplaced"})
    await pub.publish(
        "vnf.policy.triggered", {"vnf_id": "v", "action": "scale_out", "decision": "acted"}
    )
    await pub.publish(
        "vnf.policy.triggered", {"vnf_id": "v", "action": "scale_out", "decision": "cooldown"}
    )
    assert sample(metrics, "tacker_k8s_worker_respawns_total", reason="PodReplaced") == 1
    for decision in ("acted", "cooldown"):
        labels = {"action": "scale_out", "decision": decision}
        assert sample(metrics, "tacker_k8s_worker_policy_decisions_total", **labels) == 1


async def test_a_failed_publish_is_counted_and_raised() -> None:
    metrics = Metrics()
    pub = metrics.instrument_publisher(Publisher(fail=True))
    with pytest.raises(ConnectionError):
        await pub.publish("vnf.instantiate.end", {"op_id": "o"})
    assert (
        sample(
            metrics,
            "tacker_k8s_worker_notification_failures_total",
            event_type="vnf.instantiate.end",
        )
        == 1
    )
    assert sample(metrics, "tacker_k8s_worker_operations_total", operation="instantiate") == 0


class Handler:
    async def get_vnf(self, ctx: Any, *, vnf_id: str) -> dict:
        if vnf_id == "missing":
            raise VnfNotFound("no such VNF")
        if vnf_id == "boom":
            raise RuntimeError("API server down")
        return {"id": vnf_id}


async def test_rpc_requests_are_counted_by_method_and_outcome() -> None:
    metrics = Metrics()
    handler = metrics.instrument_handler(Handler())
    assert hasattr(handler, "get_vnf") and not hasattr(handler, "scale_vnf")
    assert await handler.get_vnf(None, vnf_id="v") == {"id": "v"}
    with pytest.raises(VnfNotFound):
        await handler.get_vnf(None, vnf_id="missing")
    with pytest.raises(RuntimeError):
        await handler.get_vnf(None, vnf_id="boom")
    for outcome in ("ok", "bad_request", "error"):
        assert (
            sample(
                metrics, "tacker_k8s_worker_rpc_requests_total", method="get_vnf", outcome=outcome
            )
            == 1
        )
    assert sample(metrics, "tacker_k8s_worker_rpc_in_flight") == 0


@dataclass
class Kind:
    kind: str


@dataclass
class Informer:
    kind: Kind
    namespace: str | None
    restarts: int = 0
    relists: int = 1
    cache: dict = field(default_factory=dict)
    synced: asyncio.Event = field(default_factory=asyncio.Event)


async def test_state_is_read_when_scraped() -> None:
    metrics = Metrics()
    pods = Informer(Kind("Pod"), None)
    queue: list[str] = []
    metrics.observe_state(
        informers=lambda: [pods], queue_depth=lambda: len(queue), owned_vnfs=lambda: 7
    )
    labels = {"kind": "Pod", "namespace": "*"}
    assert sample(metrics, "tacker_k8s_worker_watch_synced", **labels) == 0
    pods.restarts = 3
    pods.synced.set()
    queue.extend(["a", "b"])
    text = metrics.render().decode()
    assert 'tacker_k8s_worker_watch_restarts_total{kind="Pod",namespace="*"} 3.0' in text
    assert sample(metrics, "tacker_k8s_worker_watch_synced", **labels) == 1
    assert sample(metrics, "tacker_k8s_worker_reconcile_queue_depth") == 2
    assert sample(metrics, "tacker_k8s_worker_owned_vnfs") == 7


async def test_each_vim_open_here_has_its_reachability_and_owned_vnfs() -> None:
    metrics = Metrics()
    state = [("default", True, 2), ("vim2", True, 1)]
    metrics.observe_state(
        informers=lambda: [], queue_depth=lambda: 0, owned_vnfs=lambda: 3, vims=lambda: state
    )
    assert sample(metrics, "tacker_k8s_worker_vim_reachable", vim_id="vim2") == 1
    assert sample(metrics, "tacker_k8s_worker_vim_owned_vnfs", vim_id="default") == 2
    state[1] = ("vim2", False, 1)
    assert sample(metrics, "tacker_k8s_worker_vim_reachable", vim_id="vim2") == 0


async def test_metrics_over_http_negotiate_openmetrics_and_gzip() -> None:
    import gzip

    import aiohttp

    from k8s_worker.health import HealthServer, Readiness
    from k8s_worker.version import version_string

    server = HealthServer(host="127.0.0.1", port=0, readiness=Readiness(), metrics=Metrics())
    await server.start()
    url = f"http://127.0.0.1:{server.port}/metrics"
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            accept = {
                "Accept": "application/openmetrics-text; version=1.0.0",
                "Accept-Encoding": "identity",
            }
            async with session.get(url, headers=accept) as resp:
                assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
                text = await resp.text()
            assert text.endswith("# EOF\n")
            assert "process_resident_memory_bytes" in text and "python_info" in text
            assert 'tacker_k8s_worker_build_info{python="' in text
            assert f'version="{version_string()}"' in text
            async with session.get(url, headers={"Accept-Encoding": "gzip"}) as resp:
                assert resp.headers["Content-Encoding"] == "gzip"
                plain = gzip.decompress(await resp.read()).decode()
            assert resp.headers["Content-Type"].startswith("text/plain")
            assert "# EOF" not in plain and "tacker_k8s_worker_build_info" in plain
    finally:
        await server.stop()
