"""An informer: one shared list+watch of a kind, kept as a local cache.

It lists, then watches from the list's resourceVersion with bookmarks; when the
server says the version is too old (410 Gone) it lists again and reports the
difference as ordinary events, so no change is lost or repeated; a stream the
server ended is resumed from the last version seen, and a stream that stayed
silent longer than ``inactivity_seconds`` (kopf uses 70 s) is restarted, since
a half-dead connection otherwise looks like a quiet cluster.  Handlers get
every change once, in order, with the object before and after.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from k8s_worker.jitter import jittered
from k8s_worker.kube import Kind, Kube, KubeGone, KubeUnavailable

LOG = structlog.get_logger(__name__)
Obj = dict[str, Any]
Key = tuple[str, str]


@dataclass(frozen=True)
class WatchEvent:
    """A change an informer saw: its type, the object now, and the object before (None for
    ADDED)."""

    type: str  # ADDED, MODIFIED, DELETED
    obj: Obj
    old: Obj | None

    @property
    def labels(self) -> dict[str, str]:
        return self.obj.get("metadata", {}).get("labels") or {}


Handler = Callable[[WatchEvent], None]


def key_of(obj: Obj) -> Key:
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]


class Informer:
    """List+watch of one kind (one namespace or all) with a label selector."""

    def __init__(
        self,
        kube: Kube,
        kind: Kind,
        *,
        selector: str | None = None,
        namespace: str | None = None,
        inactivity_seconds: float = 70.0,
        watch_seconds: int = 290,
        index_label: str | None = None,
        project: Callable[[Obj], Obj] | None = None,
    ) -> None:
        self.kube = kube
        #: Cache (and hand the handlers) ``project(obj)`` instead of the object
        #: (:mod:`k8s_worker.watch.projection`).
        self.project = project
        self.kind = kind
        self.selector = selector
        self.namespace = namespace
        self.inactivity_seconds = inactivity_seconds
        self.watch_seconds = watch_seconds
        self.cache: dict[Key, Obj] = {}
        self.synced = asyncio.Event()
        self.handlers: list[Handler] = []
        self.resource_version = ""
        self.restarts = 0  # watch streams restarted (metric)
        self.relists = 0
        self.index_label = index_label
        self._index: dict[str, dict[Key, Obj]] = {}

    def add_handler(self, handler: Handler) -> None:
        self.handlers.append(handler)

    def items(self) -> list[Obj]:
        return list(self.cache.values())

    def indexed(self, value: str) -> list[Obj]:
        """Cached objects whose ``index_label`` has ``value`` (e.g. one VNF's pods)."""
        return list(self._index.get(value, {}).values())

    def _reindex(self, key: Key, old: Obj | None, new: Obj | None) -> None:
        if self.index_label is None:
            return
        for obj, keep in ((old, False), (new, True)):
            if obj is None:
                continue
            value = (obj["metadata"].get("labels") or {}).get(self.index_label)
            if value is None:
                continue
            bucket = self._index.setdefault(value, {})
            if keep:
                bucket[key] = obj
            else:
                bucket.pop(key, None)
                if not bucket:
                    self._index.pop(value, None)

    def _dispatch(self, event: WatchEvent) -> None:
        for handler in self.handlers:
            try:
                handler(event)
            except Exception:  # a handler's bug must not stop the stream
                LOG.exception("informer.handler_failed", kind=self.kind.kind)

    def _apply(self, etype: str, obj: Obj) -> None:
        if self.project is not None and etype != "DELETED":
            obj = self.project(obj)
        key = key_of(obj)
        old = self.cache.get(key)
        if etype == "DELETED":
            if key not in self.cache:
                return
            del self.cache[key]
            self._reindex(key, old, None)
        else:
            if old is not None and old["metadata"].get("resourceVersion") == obj["metadata"].get(
                "resourceVersion"
            ):
                return  # already seen (a re-list or a resumed watch repeats it)
            self.cache[key] = obj
            self._reindex(key, old, obj)
            etype = "MODIFIED" if old is not None else "ADDED"
        self._dispatch(WatchEvent(etype, obj, old))

    async def _relist(self) -> None:
        items, version = await self.kube.list(
            self.kind, namespace=self.namespace, selector=self.selector
        )
        fresh = {key_of(o): o for o in items}
        for key in list(self.cache):
            if key not in fresh:
                self._apply("DELETED", self.cache[key])
        for obj in items:
            self._apply("ADDED", obj)
        self.resource_version = version
        self.relists += 1
        self.synced.set()

    async def _watch_once(self) -> None:
        stream = self.kube.watch(
            self.kind,
            namespace=self.namespace,
            selector=self.selector,
            resource_version=self.resource_version,
            timeout_seconds=self.watch_seconds,
        )
        # One deadline for the whole stream, pushed back by every event (bookmarks
        # included): no extra task per event, and cancelling the informer goes
        # straight into the stream (wait_for around anext() can strand it).
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.inactivity_seconds) as deadline:
                async for event in stream:
                    deadline.reschedule(loop.time() + self.inactivity_seconds)
                    obj = event["object"]
                    version = obj.get("metadata", {}).get("resourceVersion")
                    if event["type"] != "BOOKMARK":
                        obj.setdefault("apiVersion", self.kind.api_version)
                        obj.setdefault("kind", self.kind.kind)
                        self._apply(event["type"], obj)
                    if version:
                        self.resource_version = version
        except TimeoutError:
            LOG.warning("informer.silent", kind=self.kind.kind, seconds=self.inactivity_seconds)
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()

    async def run(self) -> None:
        """Keep the cache current until cancelled."""
        backoff = 0.2
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                await self._watch_once()
                self.restarts += 1
                backoff = 0.2
            except KubeGone:
                LOG.info("informer.gone_relist", kind=self.kind.kind)
                need_list = True
            except KubeUnavailable as exc:
                LOG.warning(
                    "informer.unavailable", kind=self.kind.kind, error=str(exc), retry_in=backoff
                )
                await asyncio.sleep(jittered(backoff))
                backoff = min(backoff * 2, 10.0)
                self.restarts += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                LOG.exception("informer.failed", kind=self.kind.kind)
                await asyncio.sleep(jittered(backoff))
                backoff = min(backoff * 2, 10.0)
                need_list = True
