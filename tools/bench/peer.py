"""Tacker's side of a benchmark: an unmodified oslo.messaging RPC client and listener.

The figures must be what Tacker's conductor and an operator see, so casts go
through ``rpc.client`` on an oslo.messaging RPCClient and notifications are
received by an oslo.messaging notification listener (threading executor).
Each notification is stamped on arrival with ``time.time()`` in the listener
thread: the same clock the benchmarks use for their actions and for their own
Kubernetes watch, so latencies are differences of one clock.  The publisher's
``timestamp`` (oslo envelope, UTC) is kept too, to split a latency into the
worker's part and the broker-plus-listener part.  Events are indexed by
(vnf_id, event_type): a run with a thousand VNFs waits on them without scans.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import threading
import time
from typing import Any

import oslo_messaging
from oslo_config import cfg

from tests.doubles.intake import oslo_rpc_client
from tools.bench.testbed import Names

CTX = {
    "user_id": "conductor",
    "project_id": "tenant-bench",
    "auth_token": "tok-bench",
    "roles": ["member"],
    "request_id": "req-bench",
}
TENANT = CTX["project_id"]


class Event(dict[str, Any]):
    """One notification: event_type, priority, payload, ``received`` and ``published``."""


def _published(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    stamp = datetime.datetime.fromisoformat(timestamp)
    return stamp.replace(tzinfo=datetime.UTC).timestamp()


class _Endpoint:
    def __init__(self, events: Events) -> None:
        self._events = events

    def _record(
        self,
        priority: str,
        ctxt: dict[str, Any],
        publisher_id: str,
        event_type: str,
        payload: dict[str, Any],
        metadata: dict[str, Any],
    ) -> None:
        received = time.time()
        self._events.add(
            Event(
                priority=priority,
                publisher_id=publisher_id,
                event_type=event_type,
                payload=payload,
                received=received,
                published=_published(metadata.get("timestamp")),
            )
        )

    def info(self, *a: Any) -> None:
        self._record("INFO", *a)

    def error(self, *a: Any) -> None:
        self._record("ERROR", *a)

    def warn(self, *a: Any) -> None:
        self._record("WARN", *a)


class Events:
    """Every notification an oslo.messaging listener receives for a run."""

    def __init__(self, transport_url: str, names: Names) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[tuple[str, str], list[Event]] = collections.defaultdict(list)
        self.count = 0
        oslo_rpc_client(transport_url, topic=names.topic, exchange=names.exchange)  # CONF
        transport = oslo_messaging.get_notification_transport(cfg.CONF, url=transport_url)
        self.listener = oslo_messaging.get_notification_listener(
            transport,
            [oslo_messaging.Target(topic=names.notify, exchange=names.exchange)],
            [_Endpoint(self)],
            executor="threading",
        )
        self.listener.start()

    def add(self, event: Event) -> None:
        key = (event["payload"].get("vnf_id") or "", event["event_type"])
        with self._lock:
            self._by_key[key].append(event)
            self.count += 1

    def of(self, vnf_id: str, event_type: str) -> list[Event]:
        with self._lock:
            return list(self._by_key.get((vnf_id, event_type), ()))

    def all_of(self, vnf_id: str) -> list[Event]:
        with self._lock:
            return [e for (v, _), evs in self._by_key.items() if v == vnf_id for e in evs]

    async def wait(
        self,
        vnf_id: str,
        event_type: str,
        *,
        within: float = 120.0,
        every: float = 0.02,
        **match: Any,
    ) -> Event:
        """The first matching event (fails after ``within`` seconds)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            for event in self.of(vnf_id, event_type):
                if all(event["payload"].get(k) == v for k, v in match.items()):
                    return event
            if loop.time() > deadline:
                seen = [e["event_type"] for e in self.all_of(vnf_id)]
                raise TimeoutError(f"no {event_type} {match} for {vnf_id} in {within}s; saw {seen}")
            await asyncio.sleep(every)

    def stop(self) -> None:
        self.listener.stop()
        self.listener.wait()


class Conductor:
    """Casts through an unmodified oslo RPCClient (``rpc.client``), in a thread."""

    def __init__(self, transport_url: str, names: Names) -> None:
        self.client = oslo_rpc_client(transport_url, topic=names.topic, exchange=names.exchange)

    async def __call__(self, method: str, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self.client, method), dict(CTX), **kwargs)

    async def instantiate(self, vnf_id: str, *, vnfd: str, namespace: str) -> float:
        """Cast instantiate_vnf; the time.time() just before the cast left."""
        vnf = {"id": vnf_id, "name": "bench", "tenant_id": TENANT, "vnfd": vnfd}
        vnf["namespace"] = namespace

        def cast() -> float:
            sent = time.time()
            self.client.instantiate_vnf(dict(CTX), vnf=vnf, op_id=f"i-{vnf_id}")
            return sent

        return await asyncio.to_thread(cast)


def vnfd(replicas: int, *, max_instances: int = 5) -> str:
    """A one-VDU VNFD (one small container) with ``replicas`` pods."""
    return f"""
tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0
topology_template:
  node_templates:
    VDU1:
      type: tosca.nodes.nfv.VDU.Tacker
      properties:
        vnfcs:
          app: {{num_cpus: 0.01, mem_size: 8 MB, image: busybox:1.36}}
  policies:
    - SP1:
        type: tosca.policies.tacker.Scaling
        targets: [VDU1]
        properties:
          min_instances: 1
          max_instances: {max_instances}
          default_instances: {replicas}
          increment: 1
"""
