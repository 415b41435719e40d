"""Where each VNF's objects live: its VIM, as a *site* (a Kubernetes client,
the informers of the VNF objects there, the namespace rules of that VIM).

The default site is the worker's own cluster (its kubeconfig), built at
start-up.  A registered VIM's site is opened when this replica first needs it
(it owns a VNF there, or owns the VIM's health), from the ``Vim`` resource and
its credentials Secret, and closed when nothing here needs it; new credentials
open a fresh site whose informers are synced before it replaces the old one
(the caches are state, so a swap loses or repeats no event).  Each open site is
probed every ``probe_interval``; two failures in a row mark it unreachable, and
while it is, nothing is decided from its (stale) caches.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog

from k8s_worker.kube import KINDS, Kube, KubeError, KubeNotFound, KubeRejected, KubeUnavailable
from k8s_worker.kube.client import make_endpoint_client
from k8s_worker.lifecycle.objects import VnfObjects
from k8s_worker.lifecycle.workloads import WorkloadWatch
from k8s_worker.tenancy import NamespaceRules
from k8s_worker.tosca import LABEL_VNF_ID, WATCH_SELECTOR
from k8s_worker.vims import DEFAULT_VIM_ID, VimHealth, VimRecord, VimStore
from k8s_worker.watch import Informer, WatchEvent
from k8s_worker.watch.projection import project_pod, project_workload

LOG = structlog.get_logger(__name__)
#: Seconds a new site's informers get for their first list.
SYNC_SECONDS = 5.0
#: Failed probes in a row that make a VIM unreachable.
PROBE_FAILURES = 2
#: Seconds a VIM that could not be opened is not tried again (every pass of
#: each of its VNFs would otherwise wait for it).
OPEN_BACKOFF = 5.0


class VimUnavailable(KubeUnavailable):
    """The VNF's VIM cannot be reached now (or its site could not be opened):
    transient for the controller, but an operation waits for it only up to its
    timeout and then fails ``VimUnreachable`` naming the VIM."""

    def __init__(self, vim_id: str, detail: str) -> None:
        super().__init__(f"VIM {vim_id} is unreachable: {detail}")
        self.vim_id = vim_id


class VimGone(Exception):
    """The VNF names a VIM that is not registered (any more)."""

    def __init__(self, vim_id: str) -> None:
        super().__init__(f"VIM {vim_id} is not registered")
        self.vim_id = vim_id


class VimKube(Kube):
    """A registered VIM's client: every failure names the VIM (a revoked token
    fails an operation with a message that says which VIM refused it)."""

    def __init__(self, api: Any, *, vim_id: str, retry_seconds: float) -> None:
        super().__init__(api, retry_seconds=retry_seconds, request_timeout=10.0)
        self.vim_id = vim_id

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return await super().request(method, path, **kwargs)
        except KubeError as exc:
            if str(exc).startswith(f"VIM {self.vim_id}"):
                raise
            exc.args = (f"VIM {self.vim_id}: {exc}",)
            raise


@dataclass
class Site:
    """One VIM as this replica reaches it."""

    vim_id: str
    kube: Kube
    objects: VnfObjects
    rules: NamespaceRules
    informers: list[Informer]
    managed: tuple[str, ...] = ()
    generation: str = ""
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    failures: int = 0
    reachable: bool = True
    detail: str = ""
    used_at: float = field(default_factory=time.monotonic)
    closeable: bool = True
    record: VimRecord | None = None  # the registration (None: the default VIM)
    told: bool = False  # its first health was published

    async def close(self) -> None:
        if self.objects.workloads is not None:
            await self.objects.workloads.close()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.closeable:
            with contextlib.suppress(Exception):
                await self.kube.api.close()


def _generation(record: VimRecord) -> str:
    spec = record.obj.get("spec") or {}
    return "|".join(
        str(spec.get(k) or "")
        for k in ("authUrl", "sslCaCert", "credentialsGeneration", "insecure")
    )


HealthListener = Callable[[str, VimHealth, str], None]


class Sites:
    """The sites of this replica: ``of(vim_id)`` (sync, for the caches) after
    ``prepare(vim_id)`` (opens it if needed; VimUnavailable when it cannot be
    reached, VimGone when the VIM is not registered)."""

    def __init__(
        self,
        *,
        default: Site,
        store: VimStore | None,
        route: Callable[[WatchEvent], None],
        base_rules: NamespaceRules,
        host: str | None = None,
        probe_interval: float = 5.0,
        inactivity_seconds: float = 70.0,
        admit: Callable[[VimRecord], None] | None = None,
    ) -> None:
        """``admit`` raises (any Exception, its message the reason) when a stored
        registration may not be connected to under today's settings (an endpoint
        no longer allowed, an insecure VIM no longer accepted)."""
        self.admit = admit
        self._failed: dict[str, tuple[float, str]] = {}
        self.default = default
        self.store = store
        self.route = route
        self.base_rules = base_rules
        self.host = host
        self.probe_interval = probe_interval
        self.inactivity_seconds = inactivity_seconds
        self._sites: dict[str, Site] = {}
        self._opening: dict[str, asyncio.Lock] = {}
        self.health_listeners: list[HealthListener] = []

    # -- lookup ------------------------------------------------------------------
    def of(self, vim_id: str | None) -> Site:
        if not vim_id or vim_id == DEFAULT_VIM_ID:
            return self.default
        site = self._sites.get(vim_id)
        if site is None:
            raise VimUnavailable(vim_id, "not connected yet")
        site.used_at = time.monotonic()
        return site

    def open_sites(self) -> list[Site]:
        return list(self._sites.values())

    def reachable(self, vim_id: str | None) -> bool:
        if not vim_id or vim_id == DEFAULT_VIM_ID:
            return True
        site = self._sites.get(vim_id)
        return site is not None and site.reachable

    def rules_for(self, record: VimRecord, tenant_id: str) -> NamespaceRules:
        """A registered VIM's namespace rules for a tenant: only what its
        registration grants (its default namespace to the registering tenant),
        ``forbidden_namespaces`` and the record namespace always refused."""
        reg = record.registration
        return NamespaceRules(
            record_namespace=self.base_rules.record_namespace,
            prefix="",
            forbidden=self.base_rules.forbidden,
            grants=((tenant_id, reg.namespaces_of(tenant_id)),),
            registered=True,
            default=reg.default_namespace if tenant_id == reg.tenant_id else None,
        )

    def rules(self, vim_id: str | None, tenant_id: str) -> NamespaceRules:
        """The namespace rules of the VNF's VIM for its tenant."""
        site = self.of(vim_id)
        if site.record is None:
            return self.base_rules
        return self.rules_for(site.record, tenant_id)

    async def vim(self, vim_id: str) -> VimRecord:
        if self.store is None:
            raise VimGone(vim_id)
        record = await self.store.get(vim_id)
        if record is None:
            raise VimGone(vim_id)
        return record

    # -- opening and closing ------------------------------------------------------
    async def prepare(self, vim_id: str | None) -> Site:
        if not vim_id or vim_id == DEFAULT_VIM_ID:
            return self.default
        site = self._sites.get(vim_id)
        if site is not None:
            site.used_at = time.monotonic()
            return site
        failed = self._failed.get(vim_id)
        if failed is not None and time.monotonic() - failed[0] < OPEN_BACKOFF:
            raise VimUnavailable(vim_id, failed[1])
        async with self._opening.setdefault(vim_id, asyncio.Lock()):
            site = self._sites.get(vim_id)
            if site is None:
                record = await self.vim(vim_id)
                try:
                    site = await self._open(record)
                except VimUnavailable as exc:
                    self._failed[vim_id] = (time.monotonic(), str(exc).split(": ", 1)[-1])
                    raise
                self._failed.pop(vim_id, None)
                self._sites[vim_id] = site
        return site

    async def _open(self, record: VimRecord) -> Site:
        vim_id = record.vim_id
        assert self.store is not None
        if self.admit is not None:
            try:
                self.admit(record)
            except Exception as exc:
                raise VimUnavailable(vim_id, f"not admitted: {exc}") from None
        try:
            creds = await self.store.credentials(record)
        except KubeNotFound:
            raise VimGone(vim_id) from None
        try:
            api = await make_endpoint_client(creds, host=self.host)
        except Exception as exc:
            raise VimUnavailable(
                vim_id, f"its CA or key cannot be used ({type(exc).__name__})"
            ) from None
        kube = VimKube(api, vim_id=vim_id, retry_seconds=3.0)
        pods = Informer(
            kube,
            KINDS["Pod"],
            selector=WATCH_SELECTOR,
            inactivity_seconds=self.inactivity_seconds,
            index_label=LABEL_VNF_ID,
            project=project_pod,
        )
        deployments = Informer(
            kube,
            KINDS["Deployment"],
            selector=WATCH_SELECTOR,
            inactivity_seconds=self.inactivity_seconds,
            index_label=LABEL_VNF_ID,
            project=project_workload,
        )
        for informer in (pods, deployments):
            informer.add_handler(self.route)
        site = Site(
            vim_id=vim_id,
            kube=kube,
            objects=VnfObjects(
                kube=kube,
                pods=[pods],
                deployments=[deployments],
                workloads=WorkloadWatch(
                    kube=kube,
                    route=self.route,
                    inactivity_seconds=self.inactivity_seconds,
                    label=vim_id,
                ),
            ),
            rules=self.base_rules,
            informers=[pods, deployments],
            generation=_generation(record),
            record=record,
        )
        site.tasks = [
            asyncio.create_task(i.run(), name=f"vim-{vim_id}-{i.kind.kind}") for i in site.informers
        ]
        try:
            async with asyncio.timeout(SYNC_SECONDS):
                await asyncio.gather(*(i.synced.wait() for i in site.informers))
        except TimeoutError:
            await site.close()
            raise VimUnavailable(
                vim_id, f"its first list did not finish in {SYNC_SECONDS:g} s"
            ) from None
        except BaseException:  # cancelled meanwhile: nothing may be left running
            await asyncio.shield(site.close())
            raise
        site.tasks.append(asyncio.create_task(self._probe(site), name=f"vim-{vim_id}-probe"))
        LOG.info("vim.connected", vim_id=vim_id)
        return site

    async def refresh(self, record: VimRecord) -> None:
        """The VIM's registration changed: an open site with other credentials
        is replaced by a synced new one (then the old one closes)."""
        old = self._sites.get(record.vim_id)
        if old is None:
            return
        if old.generation == _generation(record):
            old.record = record  # grants or names changed: no new connection
            return
        async with self._opening.setdefault(record.vim_id, asyncio.Lock()):
            old = self._sites.get(record.vim_id)  # as it is now, under the lock
            if old is None or old.generation == _generation(record):
                return  # closed meanwhile, or another refresh did it
            try:
                new = await self._open(record)
            except (VimUnavailable, VimGone) as exc:
                LOG.warning("vim.refresh_failed", vim_id=record.vim_id, error=str(exc))
                return
            self._sites[record.vim_id] = new
        await old.close()
        LOG.info("vim.credentials_rotated", vim_id=record.vim_id)
        for informer in new.informers:
            for obj in informer.items():
                self.route(WatchEvent("MODIFIED", obj, obj))

    async def close_unused(self, needed: Iterable[str], *, idle: float = 30.0) -> None:
        """Close the sites no VNF or health duty of this replica needs (and that
        no call used in the last ``idle`` seconds)."""
        keep = set(needed)
        now = time.monotonic()
        for vim_id in [
            v for v, s in self._sites.items() if v not in keep and now - s.used_at > idle
        ]:
            async with self._opening.setdefault(vim_id, asyncio.Lock()):
                site = self._sites.pop(vim_id, None)
            if site is not None:
                await site.close()
                LOG.info("vim.disconnected", vim_id=vim_id)

    async def close(self) -> None:
        for site in list(self._sites.values()):
            await site.close()
        self._sites.clear()

    # -- health ---------------------------------------------------------------------
    async def _probe(self, site: Site) -> None:
        while True:
            await asyncio.sleep(self.probe_interval)
            try:
                await site.kube.request(
                    "GET", "/version", retry=False, request_seconds=min(self.probe_interval, 3.0)
                )
            except KubeRejected as exc:
                self._judge(site, ok=False, detail=f"credentials refused ({exc.status})")
            except KubeError as exc:
                self._judge(site, ok=False, detail=_short(exc))
            else:
                self._judge(site, ok=True, detail="")

    def _judge(self, site: Site, *, ok: bool, detail: str) -> None:
        if ok:
            site.failures = 0
            if not site.reachable:
                site.reachable = True
                site.detail = ""
                LOG.info("vim.reachable", vim_id=site.vim_id)
                self._tell(site.vim_id, VimHealth.REACHABLE, "probe answered")
                # A re-list happened (or will): every VNF there gets a look.
                for informer in site.informers:
                    for obj in informer.items():
                        self.route(WatchEvent("MODIFIED", obj, obj))
            elif not site.told:
                site.told = True
                self._tell(site.vim_id, VimHealth.REACHABLE, "probe answered")
            return
        site.failures += 1
        site.detail = detail
        if site.reachable and site.failures >= PROBE_FAILURES:
            site.reachable = False
            LOG.warning("vim.unreachable", vim_id=site.vim_id, error=detail)
            self._tell(site.vim_id, VimHealth.UNREACHABLE, detail)

    def _tell(self, vim_id: str, health: VimHealth, reason: str) -> None:
        for listener in self.health_listeners:
            listener(vim_id, health, reason)


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text.split(": ", 2)[-1][:200] if text else type(exc).__name__
