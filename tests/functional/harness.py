"""Drive real worker processes the way Tacker's conductor and an operator do.

``WorkerProcess`` runs ``python -m k8s_worker.cmd.worker`` against the test bed
(stopped by its pid only); ``Conductor`` is an unmodified oslo.messaging
RPCClient (through ``rpc.client``); ``Events`` is an unmodified oslo.messaging
notification listener that keeps every notification it receives.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import oslo_messaging
from oslo_config import cfg

from tests.doubles.intake import oslo_rpc_client
from tests.doubles.process import ReadyProcess

ROOT = pathlib.Path(__file__).resolve().parents[2]
CTX = {
    "user_id": "conductor",
    "project_id": "tenant-1",
    "auth_token": "tok-SECRET-e2e",
    "roles": ["member"],
    "request_id": "req-e2e",
}


#: The bed's second cluster's ServiceAccount token (tools/testbed/cluster2.sh).
_CACHE = pathlib.Path(os.environ.get("TKW_CACHE", pathlib.Path.home() / ".cache/tacker-k8s-worker"))
VIM2_TOKEN = pathlib.Path(os.environ.get("TKW_VIM2_STATE", _CACHE / "testbed-vim2")) / "vim-token"

#: The bed's helm (tools/testbed/build-binaries.sh builds and caches it).
HELM = os.environ.get(
    "TKW_HELM", str(_CACHE / f"helm-{os.environ.get('HELM_VERSION', 'v3.22.0')}" / "bin" / "helm")
)

#: The bed's kubectl, of the bed's Kubernetes version (built beside kube-apiserver),
#: not one the machine happens to have.
KUBECTL = os.environ.get(
    "TKW_KUBECTL",
    str(_CACHE / f"kubernetes-{os.environ.get('K8S_VERSION', 'v1.36.3')}" / "bin" / "kubectl"),
)

#: Records namespaces named in this session; the functional conftest deletes them.
RECORD_NAMESPACES: set[str] = set()


@dataclass
class Names:
    topic: str
    exchange: str
    notify: str
    records: str

    @classmethod
    def fresh(cls) -> Names:
        s = uuid.uuid4().hex[:8]
        RECORD_NAMESPACES.add(f"tkw-records-{s}")
        return cls(
            topic=f"tkw_e2e_{s}",
            exchange=f"tkw_e2e_x_{s}",
            notify=f"tkw_e2e_n_{s}",
            records=f"tkw-records-{s}",
        )


def write_config(
    path: pathlib.Path,
    *,
    names: Names,
    transport_url: str,
    kubeconfig: str,
    host: str,
    extra: str = "",
) -> pathlib.Path:
    path.write_text(f"""[DEFAULT]
transport_url = {transport_url}
control_exchange = {names.exchange}
[k8s_worker]
topic = {names.topic}
host = {host}
concurrency = 16
[kubernetes]
kubeconfig = {kubeconfig}
record_namespace = {names.records}
operation_timeout = 120
# The per-test namespaces of the `namespace` fixture, granted to the test tenants.
tenant_namespaces = *:tkw-test-*
[oslo_messaging_notifications]
topics = {names.notify}
[oslo_messaging_rabbit]
rabbit_retry_interval = 1
rabbit_interval_max = 2
[service]
http_host = 127.0.0.1
http_port = 0
[helm]
binary = {HELM}
{extra}
""")
    return path


class WorkerProcess(ReadyProcess):
    """The real worker (``k8s_worker.cmd.worker``) with ``config``; its log is
    checked for the auth token when it stops."""

    def __init__(
        self, config: pathlib.Path, *, log: pathlib.Path, env: dict[str, str] | None = None
    ) -> None:
        super().__init__(
            [
                sys.executable,
                "-m",
                "k8s_worker.cmd.worker",
                "--config-file",
                str(config),
                "--print-ready",
            ],
            log=log,
            env=env,
        )
        self.config = config

    async def stop(self, *, within: float = 60.0) -> int:
        code = await super().stop(within=within)
        self.assert_no_secret_logged()
        return code

    def assert_no_secret_logged(self) -> None:
        """Every functional test's worker log is checked: no token, ever (the
        conductor's, nor the bed's second cluster's, which VIM tests register)."""
        text = self.log.read_text(errors="replace")
        assert CTX["auth_token"] not in text, f"auth token in {self.log}"
        vim_token = VIM2_TOKEN.read_text().strip() if VIM2_TOKEN.exists() else ""
        assert not vim_token or vim_token not in text, f"vim2's token in {self.log}"


class _Endpoint:
    def __init__(self, sink: Callable[[dict[str, Any]], None]) -> None:
        self._sink = sink

    def _record(
        self,
        priority: str,
        ctxt: dict,
        publisher_id: str,
        event_type: str,
        payload: dict,
        metadata: dict,
    ) -> None:
        self._sink(
            {
                "priority": priority,
                "ctxt": ctxt,
                "publisher_id": publisher_id,
                "event_type": event_type,
                "payload": payload,
                "message_id": metadata.get("message_id"),
                "timestamp": metadata.get("timestamp"),
            }
        )

    def info(self, *a: Any) -> None:
        self._record("INFO", *a)

    def error(self, *a: Any) -> None:
        self._record("ERROR", *a)

    def warn(self, *a: Any) -> None:
        self._record("WARN", *a)


class Events:
    """Every notification an oslo.messaging listener receives on ``names.notify``."""

    def __init__(self, transport_url: str, names: Names) -> None:
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        oslo_rpc_client(transport_url, topic=names.topic, exchange=names.exchange)  # CONF
        transport = oslo_messaging.get_notification_transport(cfg.CONF, url=transport_url)
        self.listener = oslo_messaging.get_notification_listener(
            transport,
            [oslo_messaging.Target(topic=names.notify, exchange=names.exchange)],
            [_Endpoint(self._add)],
            executor="threading",
        )
        self.listener.start()

    def _add(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.received.append(event)

    def of(self, vnf_id: str, event_type: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                e
                for e in self.received
                if e["payload"].get("vnf_id") == vnf_id
                and (event_type is None or e["event_type"] == event_type)
            ]

    async def wait(
        self, vnf_id: str, event_type: str, *, count: int = 1, within: float = 60.0, **match: Any
    ) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            found = [
                e
                for e in self.of(vnf_id, event_type)
                if all(e["payload"].get(k) == v for k, v in match.items())
            ]
            if len(found) >= count:
                return found
            if loop.time() > deadline:
                seen = [
                    (e["event_type"], e["payload"].get("status"), e["payload"].get("op_id"))
                    for e in self.of(vnf_id)
                ]
                raise AssertionError(
                    f"no {count}x {event_type} {match} for {vnf_id} within {within}s; saw {seen}"
                )
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        self.listener.stop()
        self.listener.wait()


class Conductor:
    """Tacker's side: casts and calls through an unmodified oslo RPCClient."""

    def __init__(
        self, transport_url: str, names: Names, *, ctx: dict[str, Any] | None = None
    ) -> None:
        self.client = oslo_rpc_client(transport_url, topic=names.topic, exchange=names.exchange)
        self.ctx = dict(ctx or CTX)

    async def __call__(self, method: str, **kwargs: Any) -> Any:
        fn = getattr(self.client, method)
        return await asyncio.to_thread(fn, self.ctx, **kwargs)
