"""A bare client writing a record's status beside the worker, for the baseline
of the worker's own ``record_write`` stage under the same load.

:class:`StatusProbe` copies one of the run's VNF records into the VNF
namespace (where no worker watches records), then, until stopped, PUTs that
copy's status (the same body, size and kind the worker writes) one request at
a time with a plain kubernetes_asyncio client, timing each: what the API
server alone makes a record write cost at that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from kubernetes_asyncio import client

from k8s_worker.kube.kinds import VNF_GROUP, VNF_VERSION
from k8s_worker.record.model import record_name

PAUSE = 0.05


class StatusProbe:
    def __init__(
        self, api: client.ApiClient, *, records_namespace: str, namespace: str, vnf_id: str
    ) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.source = (records_namespace, record_name(vnf_id))
        self.namespace = namespace
        self.latencies: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self, *, within: float = 30.0) -> None:
        """Copy the source record (waiting up to ``within`` for the worker to
        create it) and start writing the copy's status."""
        ns, name = self.source
        deadline = time.monotonic() + within
        while True:
            try:
                obj: dict[str, Any] = await self.custom.get_namespaced_custom_object(
                    VNF_GROUP, VNF_VERSION, ns, "vnfs", name
                )
                break
            except client.ApiException as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        status = obj.pop("status", {})
        obj["metadata"] = {"name": "bench-status-probe", "namespace": self.namespace}
        obj["spec"]["vnfId"] = "bench-status-probe"
        created = await self.custom.create_namespaced_custom_object(
            VNF_GROUP, VNF_VERSION, self.namespace, "vnfs", obj
        )
        created["status"] = status
        self._task = asyncio.create_task(self._run(created))

    async def _run(self, obj: dict[str, Any]) -> None:
        while True:
            t = time.monotonic()
            obj = await self.custom.replace_namespaced_custom_object_status(
                VNF_GROUP, VNF_VERSION, self.namespace, "vnfs", obj["metadata"]["name"], obj
            )
            self.latencies.append(time.monotonic() - t)
            obj["status"]["reason"] = f"probe {len(self.latencies)}"
            await asyncio.sleep(PAUSE)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
