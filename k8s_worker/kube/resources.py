"""Generic access to Kubernetes objects as plain dicts.

The typed models of kubernetes_asyncio are slow to build and hide fields the
worker needs as they are (status, annotations, unknown kinds).  ``Kube`` speaks
JSON dicts over the ApiClient's own connection pool and auth, and applies one
retry policy to every request: transient failures (429, 5xx, timeouts, lost
connections) are retried with exponential backoff and jitter; everything else
is raised at once as a ``KubeError`` subclass the caller can act on.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator
from typing import Any

import structlog
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from k8s_worker import stages
from k8s_worker.kube import fence
from k8s_worker.kube.errors import (
    KubeError,
    KubeNotFound,
    KubeUnavailable,
    classify,
    from_api_exception,
)
from k8s_worker.kube.kinds import Kind, kind_of

LOG = structlog.get_logger(__name__)

FIELD_MANAGER = "tacker-k8s-worker"
Obj = dict[str, Any]
JsonPatch = list[Obj]  # RFC 6902 operations
#: Receives a response's bytes as they came (``Kube.request(answer=...)``).
Answer = list[bytes]


class Kube:
    """Requests to the API server for any Kind of ``k8s_worker.kube.kinds``."""

    def __init__(
        self, api: ApiClient, *, retry_seconds: float = 30.0, request_timeout: float = 30.0
    ) -> None:
        self.api = api
        self.retry_seconds = retry_seconds
        self.request_timeout = request_timeout

    # -- transport ---------------------------------------------------------
    async def _once(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, Any]] | None,
        body: Any,
        content_type: str,
        request_seconds: float | None,
        answer: Answer | None = None,
    ) -> Any:
        start, status = time.monotonic(), 0
        try:
            response = await self.api.call_api(
                path,
                method,
                query_params=query or [],
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=request_seconds or self.request_timeout,
            )
            async with response:
                data = await response.read()
                status = response.status
        except BaseException as exc:
            mapped = classify(exc, what=f"{method} {path}")
            if mapped is None:
                raise
            raise mapped from exc
        finally:
            stages.api_request(method, path, time.monotonic() - start, status)
        if not 200 <= status <= 299:
            raise from_api_exception(
                ApiException(status=status, reason=_reason(data)),
                what=f"{method} {path}",
                body=data,
            )
        if answer is not None:
            answer.append(data)
        return json.loads(data) if data else None

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        request_seconds: float | None = None,
        retry: bool = True,
        answer: Answer | None = None,
    ) -> Any:
        """One API request, retried while the server is unavailable.

        A write inside a fence (see :mod:`k8s_worker.kube.fence`) is checked
        before each attempt, and neither an attempt nor the retries outlast the
        fence's deadline.  ``answer`` receives the response's bytes as they came.
        """
        write = method != "GET"
        if write:
            left = fence.remaining()
            if left is not None:
                request_seconds = min(request_seconds or self.request_timeout, left)
        if not retry:
            return await self._once(
                method,
                path,
                query=query,
                body=body,
                content_type=content_type,
                request_seconds=request_seconds,
                answer=answer,
            )
        retry_for = self.retry_seconds
        if write and (left := fence.remaining()) is not None:
            retry_for = min(retry_for, left)
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(KubeUnavailable),
            wait=wait_exponential_jitter(initial=0.2, max=5.0),
            stop=stop_after_delay(retry_for),
            reraise=True,
        ):
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    LOG.info(
                        "kube.retry",
                        method=method,
                        path=path,
                        attempt=attempt.retry_state.attempt_number,
                    )
                    if write and (left := fence.remaining()) is not None:
                        request_seconds = min(request_seconds or self.request_timeout, left)
                return await self._once(
                    method,
                    path,
                    query=query,
                    body=body,
                    content_type=content_type,
                    request_seconds=request_seconds,
                    answer=answer,
                )
        raise AssertionError("unreachable")  # pragma: no cover

    # -- objects -------------------------------------------------------------
    async def get(self, kind: Kind, *, name: str, namespace: str | None = None) -> Obj:
        return await self.request("GET", kind.path(namespace=namespace, name=name))

    async def get_or_none(
        self, kind: Kind, *, name: str, namespace: str | None = None
    ) -> Obj | None:
        try:
            return await self.get(kind, name=name, namespace=namespace)
        except KubeNotFound:
            return None

    async def list(
        self, kind: Kind, *, namespace: str | None = None, selector: str | None = None
    ) -> tuple[list[Obj], str]:
        """All matching objects and the list's resourceVersion (to watch from)."""
        query: list[tuple[str, Any]] = []
        if selector:
            query.append(("labelSelector", selector))
        items: list[Obj] = []
        cont = None
        while True:
            page = query + [("limit", 500)] + ([("continue", cont)] if cont else [])
            result = await self.request("GET", kind.path(namespace=namespace), query=page)
            for item in result.get("items", []):
                item.setdefault("apiVersion", kind.api_version)
                item.setdefault("kind", kind.kind)
                items.append(item)
            cont = result.get("metadata", {}).get("continue")
            if not cont:
                return items, result.get("metadata", {}).get("resourceVersion", "")

    async def create(self, obj: Obj) -> Obj:
        kind = kind_of(obj)
        ns = obj.get("metadata", {}).get("namespace")
        return await self.request("POST", kind.path(namespace=ns), body=obj)

    async def replace(
        self, obj: Obj, *, subresource: str | None = None, answer: Answer | None = None
    ) -> Obj:
        """PUT: compare-and-swap when ``metadata.resourceVersion`` is set (409 on a race);
        ``answer`` receives the stored object's JSON as the server sent it."""
        kind = kind_of(obj)
        meta = obj["metadata"]
        path = kind.path(namespace=meta.get("namespace"), name=meta["name"])
        if subresource:
            path += f"/{subresource}"
        return await self.request("PUT", path, body=obj, answer=answer)

    async def apply(self, obj: Obj, *, dry_run: bool = False, force: bool = True) -> Obj:
        """Server-side apply: the worker owns the fields it sets, and only those."""
        kind = kind_of(obj)
        meta = obj["metadata"]
        query: list[tuple[str, Any]] = [("fieldManager", FIELD_MANAGER)]
        if force:
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        return await self.request(
            "PATCH",
            kind.path(namespace=meta.get("namespace"), name=meta["name"]),
            query=query,
            body=obj,
            content_type="application/apply-patch+yaml",
        )

    async def patch(
        self,
        kind: Kind,
        *,
        name: str,
        namespace: str | None = None,
        patch: Obj,
        subresource: str | None = None,
    ) -> Obj:
        """JSON merge patch."""
        path = kind.path(namespace=namespace, name=name)
        if subresource:
            path += f"/{subresource}"
        return await self.request(
            "PATCH", path, body=patch, content_type="application/merge-patch+json"
        )

    async def json_patch(
        self,
        kind: Kind,
        *,
        name: str,
        namespace: str | None = None,
        ops: JsonPatch,
        subresource: str | None = None,
        answer: Answer | None = None,
    ) -> Obj:
        """JSON Patch (RFC 6902): applied by the API server to the object as it
        is then, so ``test`` operations, not the resourceVersion, guard it."""
        path = kind.path(namespace=namespace, name=name)
        if subresource:
            path += f"/{subresource}"
        return await self.request(
            "PATCH", path, body=ops, content_type="application/json-patch+json", answer=answer
        )

    async def scale(self, kind: Kind, *, name: str, namespace: str, replicas: int) -> Obj:
        """Set replicas through the scale subresource (only that field changes)."""
        return await self.patch(
            kind,
            name=name,
            namespace=namespace,
            patch={"spec": {"replicas": replicas}},
            subresource="scale",
        )

    async def delete(
        self,
        kind: Kind,
        *,
        name: str,
        namespace: str | None = None,
        propagation: str = "Foreground",
        grace_seconds: int | None = None,
        missing_ok: bool = True,
    ) -> Obj | None:
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if grace_seconds is not None:
            body["gracePeriodSeconds"] = grace_seconds
        try:
            return await self.request(
                "DELETE", kind.path(namespace=namespace, name=name), body=body
            )
        except KubeNotFound:
            if missing_ok:
                return None
            raise

    # -- watch ---------------------------------------------------------------
    async def watch(
        self,
        kind: Kind,
        *,
        namespace: str | None = None,
        selector: str | None = None,
        resource_version: str,
        timeout_seconds: int = 290,
    ) -> AsyncGenerator[Obj, None]:
        """Raw watch events ({type, object}) from ``resource_version``, bookmarks included.

        The stream ends when the server closes it (``timeout_seconds``); a 410
        (as an HTTP status or an ERROR event) raises ``KubeGone``.
        """
        query: list[tuple[str, Any]] = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", timeout_seconds),
        ]
        if selector:
            query.append(("labelSelector", selector))
        path = kind.path(namespace=namespace)
        try:
            response = await self.api.call_api(
                path,
                "GET",
                query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=None,
            )
        except BaseException as exc:
            mapped = classify(exc, what=f"WATCH {path}")
            if mapped is None:
                raise
            raise mapped from exc
        # Not ``async with response``: its graceful release waits for the server
        # to end the stream (up to timeoutSeconds); an abandoned watch (cancelled,
        # silent, or closed by the caller) must drop its connection at once.
        try:
            if not 200 <= response.status <= 299:
                data = await response.read()
                raise from_api_exception(
                    ApiException(status=response.status, reason=_reason(data)),
                    what=f"WATCH {path}",
                    body=data,
                )
            try:
                async for line in response.content:
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object", {})
                        failure = ApiException(
                            status=status.get("code", 500), reason=status.get("reason", "")
                        )
                        failure.body = json.dumps(status).encode()
                        raise classify(failure, what=f"WATCH {path}")  # type: ignore[misc]
                    yield event
            except KubeError:
                raise
            except BaseException as exc:
                mapped = classify(exc, what=f"WATCH {path}")
                if mapped is None:
                    raise
                raise mapped from exc
        finally:
            response.close()


def _reason(data: bytes) -> str:
    try:
        return str(json.loads(data).get("reason", ""))
    except (ValueError, AttributeError):
        return ""
