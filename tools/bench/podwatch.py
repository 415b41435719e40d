"""The benchmarks' own view of Kubernetes: a raw pod watch, and when it saw what.

The baseline for every latency the worker reports is what a plain Kubernetes
watch in the benchmark process sees at the same moment: the worker cannot
report a pod's death or readiness before the API server has told a watcher.
This watch is as lean as one can be (no models: the stream's JSON lines are
parsed with the stdlib) and stamps each event with ``time.time()`` on arrival,
the clock the peer stamps notifications with.  Per pod it keeps the first
time it was seen at all, Ready, and gone (deletionTimestamp set, DELETED, or
phase Failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from k8s_worker.lifecycle.observe import deployment_ready
from k8s_worker.tosca import LABEL_VNF_ID

Obj = dict[str, Any]


def is_ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def gone_how(pod: Obj | None) -> str | None:
    """Why a pod no longer serves: "Deleted", "Terminating", "Failed" or None."""
    if pod is None:
        return "Deleted"
    if (pod.get("status") or {}).get("phase") == "Failed":
        return "Failed"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    return None


@dataclass
class PodTimes:
    name: str
    vnf_id: str
    seen: float
    ready: float | None = None
    gone: float | None = None
    how: str | None = None


class PodWatch:
    """List, then watch the pods of one namespace; every change stamped on arrival."""

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        selector: str = LABEL_VNF_ID,
        *,
        deployments: bool = False,
    ) -> None:
        """``deployments``: watch the namespace's Deployments instead, "ready" meaning
        what the worker's own readiness check (``deployment_ready``) says."""
        self.core = client.CoreV1Api(api)
        self._list_call = (
            client.AppsV1Api(api).list_namespaced_deployment
            if deployments
            else self.core.list_namespaced_pod
        )
        self._ready = deployment_ready if deployments else is_ready
        self.namespace = namespace
        self.selector = selector
        self.pods: dict[str, Obj] = {}
        self.times: dict[str, PodTimes] = {}
        self.events = 0
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def start(self) -> None:
        version = await self._list()
        self._task = asyncio.create_task(self._run(version))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def of_vnf(self, vnf_id: str) -> list[Obj]:
        return [
            p for p in self.pods.values() if p["metadata"]["labels"].get(LABEL_VNF_ID) == vnf_id
        ]

    async def changed(self, within: float) -> None:
        """Wait for the next event (or ``within`` seconds)."""
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), within)

    async def _list(self) -> str:
        resp = await self._list_call(
            self.namespace, label_selector=self.selector, _preload_content=False
        )
        data = json.loads(await resp.read())
        now = time.time()
        self.pods = {}
        for pod in data["items"]:
            self._apply("ADDED", pod, now)
        return str(data["metadata"]["resourceVersion"])

    def _apply(self, kind: str, pod: Obj, now: float) -> None:
        meta = pod["metadata"]
        name = meta["name"]
        times = self.times.get(name)
        if times is None:
            vnf_id = (meta.get("labels") or {}).get(LABEL_VNF_ID, "")
            times = self.times[name] = PodTimes(name, vnf_id, now)
        if kind == "DELETED":
            self.pods.pop(name, None)
            how = gone_how(None)
        else:
            self.pods[name] = pod
            how = gone_how(pod)
            if times.ready is None and self._ready(pod):
                times.ready = now
        if how is not None and times.gone is None:
            times.gone, times.how = now, how

    async def _run(self, version: str) -> None:
        while True:
            try:
                resp = await self._list_call(
                    self.namespace,
                    label_selector=self.selector,
                    watch=True,
                    resource_version=version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=240,
                    _preload_content=False,
                )
                async with resp:
                    async for line in resp.content:
                        now = time.time()
                        event = json.loads(line)
                        obj = event["object"]
                        if event["type"] == "ERROR":
                            if obj.get("code") == 410:
                                version = await self._list()
                            break
                        version = obj["metadata"]["resourceVersion"]
                        if event["type"] != "BOOKMARK":
                            self.events += 1
                            self._apply(event["type"], obj, now)
                            self._changed.set()
            except ApiException as exc:
                if exc.status != 410:
                    raise
                version = await self._list()
            except (TimeoutError, ConnectionError):
                await asyncio.sleep(0.2)
