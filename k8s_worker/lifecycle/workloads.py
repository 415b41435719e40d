"""Informers of the kinds only packages bring (StatefulSets, DaemonSets,
ReplicaSets, Jobs, PersistentVolumeClaims), started on a VIM the first time a
VNF there needs one.

A worker whose VNFs are all TOSCA-made (Deployments) watches nothing more than
before, and a VIM whose credentials cannot list a kind is told so when a VNF
needs it (``PermissionMissing``), not when the VIM is opened.  Once started, an
informer runs until its site closes; its events go to the same route as the
pods' and Deployments' (the VNF id label), so readiness of every kind comes
from the watch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import structlog

from k8s_worker.kube import KINDS, Kube, KubeRejected
from k8s_worker.lifecycle.outcome import OperationFailed
from k8s_worker.tosca import LABEL_VNF_ID, WATCH_SELECTOR
from k8s_worker.watch import Informer, WatchEvent

LOG = structlog.get_logger(__name__)
#: The kinds watched on demand (pods and Deployments are always watched).
WATCHED_ON_DEMAND = ("StatefulSet", "DaemonSet", "ReplicaSet", "Job", "PersistentVolumeClaim")
SYNC_SECONDS = 5.0

Obj = dict[str, Any]


class WorkloadWatch:
    """The on-demand informers of one VIM: ``ensure(kinds)`` starts (and waits
    for the first list of) those not running yet, OperationFailed
    ("PermissionMissing") when the VIM's credentials may not list one;
    ``of_vnf(kind, vnf_id, namespace)`` reads the cache (empty until started)."""

    def __init__(
        self,
        *,
        kube: Kube,
        route: Callable[[WatchEvent], None],
        namespaces: Sequence[str | None] = (None,),
        inactivity_seconds: float = 70.0,
        label: str = "",
    ) -> None:
        self.kube = kube
        self.route = route
        self.namespaces = list(namespaces) or [None]
        self.inactivity_seconds = inactivity_seconds
        self.label = label  # whose (a VIM id), for logs
        self.informers: dict[str, list[Informer]] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()

    def started(self, kind: str) -> bool:
        return kind in self.informers

    async def ensure(self, kinds: Iterable[str]) -> None:
        wanted = [k for k in dict.fromkeys(kinds) if k in WATCHED_ON_DEMAND]
        if all(k in self.informers for k in wanted):
            return
        async with self._lock:
            for kind_name in wanted:
                if kind_name not in self.informers:
                    await self._start(kind_name)

    async def _start(self, kind_name: str) -> None:
        kind = KINDS[kind_name]
        for ns in self.namespaces:
            try:
                await self.kube.request(
                    "GET",
                    kind.path(namespace=ns),
                    query=[("labelSelector", WATCH_SELECTOR), ("limit", 1)],
                )
            except KubeRejected as exc:
                where = f"in namespace {ns}" if ns else "in all namespaces"
                raise OperationFailed(
                    "PermissionMissing",
                    f"the worker may not list {kind.plural} {where}{self._on()}: {exc}",
                    vnf_status=None,
                ) from None
        informers = []
        for ns in self.namespaces:
            informer = Informer(
                self.kube,
                kind,
                selector=WATCH_SELECTOR,
                namespace=ns,
                inactivity_seconds=self.inactivity_seconds,
                index_label=LABEL_VNF_ID,
            )
            informer.add_handler(self.route)
            informers.append(informer)
            self.tasks.append(
                asyncio.create_task(informer.run(), name=f"watch-{self.label}-{kind_name}")
            )
        try:
            async with asyncio.timeout(SYNC_SECONDS):
                await asyncio.gather(*(i.synced.wait() for i in informers))
        except TimeoutError:
            LOG.warning("watch.slow_first_list", kind=kind_name, vim=self.label)
        self.informers[kind_name] = informers
        LOG.info("watch.started", kind=kind_name, vim=self.label or "default")

    def _on(self) -> str:
        return f" on VIM {self.label}" if self.label else ""

    def of_vnf(self, kind: str, vnf_id: str, namespace: str | None) -> list[Obj]:
        if not namespace:
            return []
        return [
            o
            for informer in self.informers.get(kind, ())
            for o in informer.indexed(vnf_id)
            if o["metadata"].get("namespace") == namespace
        ]

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()
        self.informers.clear()
