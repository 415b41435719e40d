"""Waiting on Kubernetes state in tests, through list+watch rather than sleeps.

``wait_for_pods`` keeps a live picture of the pods matching a selector (a list,
then a watch from the list's resourceVersion) and returns as soon as the
predicate holds for it, or fails with what it last saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

Pod = dict[str, Any]
#: kwok's chaos stage sets a pod carrying this label (value "true") Failed.
CHAOS_FAILED = "pod-container-running-failed.stage.kwok.x-k8s.io"


def pod_ready(pod: Pod) -> bool:
    """Running and Ready, and not being deleted (a terminating pod is on its way out)."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return pod.get("status", {}).get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
    )


def pod_failed(pod: Pod) -> bool:
    return (pod.get("status") or {}).get("phase") == "Failed"


async def wait_for_pods(
    api: client.ApiClient,
    *,
    namespace: str,
    selector: str,
    predicate: Callable[[dict[str, Pod]], bool],
    within: float = 60.0,
    what: str = "pods",
) -> dict[str, Pod]:
    """Return the pods (by name) once ``predicate`` holds for all of them."""
    core = client.CoreV1Api(api)
    pods: dict[str, Pod] = {}

    async def watch_from(version: str) -> dict[str, Pod] | None:
        """Apply watch events until the predicate holds (the pods) or the watch fails (None)."""
        while True:
            w = watch.Watch()
            async with w.stream(
                core.list_namespaced_pod,
                namespace,
                label_selector=selector,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=30,
            ) as stream:
                async for event in stream:
                    if event["type"] == "ERROR":
                        return None  # e.g. 410 Gone: list again
                    obj = api.sanitize_for_serialization(event["object"])
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] == "BOOKMARK":
                        continue
                    name = obj["metadata"]["name"]
                    if event["type"] == "DELETED":
                        pods.pop(name, None)
                    else:
                        pods[name] = obj
                    if predicate(pods):
                        return pods

    async def run() -> dict[str, Pod]:
        while True:
            try:
                listed = await core.list_namespaced_pod(namespace, label_selector=selector)
                pods.clear()
                for item in listed.items:
                    pods[item.metadata.name] = api.sanitize_for_serialization(item)
                if predicate(pods):
                    return pods
                found = await watch_from(listed.metadata.resource_version)
                if found is not None:
                    return found
            except (ApiException, aiohttp.ClientError, ConnectionError) as exc:
                # 410 Gone, 429 or 5xx while an API server restarts, a cut stream:
                # list again within the same deadline, as an informer would.
                if isinstance(exc, ApiException) and not (
                    exc.status in (410, 429) or (exc.status or 0) >= 500
                ):
                    raise
            await asyncio.sleep(0.5)

    try:
        return await asyncio.wait_for(run(), within)
    except TimeoutError:
        summary = {
            n: (
                p.get("status", {}).get("phase"),
                pod_ready(p),
                p["metadata"].get("deletionTimestamp"),
            )
            for n, p in pods.items()
        }
        raise AssertionError(
            f"timed out after {within}s waiting for {what}; saw {summary}"
        ) from None


async def set_unschedulable(api: client.ApiClient, value: bool) -> None:
    """Cordon (or uncordon) every kwok node: new pods stay Pending meanwhile."""
    core = client.CoreV1Api(api)
    for node in (await core.list_node(label_selector="type=kwok")).items:
        await core.patch_node(node.metadata.name, {"spec": {"unschedulable": value}})
