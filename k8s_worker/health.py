"""The worker's HTTP endpoint: /healthz, /readyz and /metrics (aiohttp).

``/healthz`` (liveness) answers as long as the event loop serves requests: a
replica that cannot answer it is wedged and should be restarted.  ``/readyz``
runs the readiness checks registered by the service (broker connected and
consuming, Kubernetes API reachable with synced caches, leases held) and
answers 503 naming each failing check; a replica that is not ready keeps
running and recovers by itself (the broker comes back, the API server
answers again).  ``/metrics`` is prometheus_client's aiohttp exposition of
``k8s_worker.metrics`` (the OpenMetrics format when the scraper asks for it,
gzip when it accepts it).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

import structlog
from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from k8s_worker.metrics import Metrics

LOG = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one readiness check, with a detail for /readyz."""

    ok: bool
    detail: str = ""


Check = Callable[[], CheckResult | Awaitable[CheckResult]]


class Readiness:
    """Named readiness checks; each returns a CheckResult (sync or async)."""

    def __init__(self, *, check_timeout: float = 2.0) -> None:
        self._checks: dict[str, Check] = {}
        self._timeout = check_timeout

    def add(self, name: str, check: Check) -> None:
        self._checks[name] = check

    async def run(self) -> dict[str, CheckResult]:
        if not self._checks:
            return {"started": CheckResult(False, "the worker is starting")}
        names = list(self._checks)
        results = await asyncio.gather(*(self._one(self._checks[n]) for n in names))
        return dict(zip(names, results, strict=True))

    async def _one(self, check: Check) -> CheckResult:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await asyncio.wait_for(result, self._timeout)
            return result
        except TimeoutError:
            return CheckResult(False, f"no answer within {self._timeout:g}s")
        except Exception as exc:
            return CheckResult(False, f"{type(exc).__name__}: {exc}")


def event_check(event: asyncio.Event, *, what: str) -> Check:
    """Ready while ``event`` is set (for example the intake's ``ready``)."""

    def check() -> CheckResult:
        return CheckResult(True, what) if event.is_set() else CheckResult(False, f"not {what}")

    return check


def kubernetes_check(
    probe: Callable[[], Awaitable[Any]],
    *,
    informers: Callable[[], Iterable[Any]],
    cache_seconds: float = 2.0,
) -> Check:
    """Ready when the API server answers ``probe`` and every informer is synced.

    A successful probe is reused for ``cache_seconds`` so frequent scrapes do
    not turn into API load.
    """
    last_ok = 0.0

    async def check() -> CheckResult:
        nonlocal last_ok
        pending = [
            f"{i.kind.kind}@{i.namespace or '*'}" for i in informers() if not i.synced.is_set()
        ]
        if pending:
            return CheckResult(False, "caches not synced: " + ", ".join(pending))
        if time.monotonic() - last_ok > cache_seconds:
            await probe()
            last_ok = time.monotonic()
        return CheckResult(True, "API server reachable, caches synced")

    return check


def lease_check(membership: Any) -> Check:
    """Ready while this replica's membership lease is renewed and it is a member.

    ``membership`` is a ``k8s_worker.fleet.membership.Membership`` (its
    ``valid()``, ``host`` and ``members``).
    """

    def check() -> CheckResult:
        members = ", ".join(membership.members) or "none"
        if not membership.valid():
            return CheckResult(False, f"lease of {membership.host} not renewed; members: {members}")
        if membership.host not in membership.members:
            return CheckResult(False, f"{membership.host} is not a member yet; members: {members}")
        return CheckResult(True, f"lease held; members: {members}")

    return check


class HealthServer:
    """aiohttp server of /healthz, /readyz and /metrics on ``host:port``."""

    def __init__(
        self, *, host: str, port: int, readiness: Readiness, metrics: Metrics | None
    ) -> None:
        self.host = host
        self.port = port
        self.readiness = readiness
        self.metrics = metrics
        self._exposition = make_aiohttp_handler(metrics.registry) if metrics else None
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/livez", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        # the bound socket tells the real port when 0 was asked
        server = cast("asyncio.Server | None", site._server)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        LOG.info("http.listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    async def _readyz(self, _: web.Request) -> web.Response:
        results = await self.readiness.run()
        ready = all(r.ok for r in results.values())
        body = {
            "ready": ready,
            "checks": {n: {"ok": r.ok, "detail": r.detail} for n, r in results.items()},
        }
        return web.json_response(body, status=200 if ready else 503)

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        if self._exposition is None:
            raise web.HTTPNotFound()
        # Rendered on the loop: the collector reads live caches the loop mutates,
        # and a render is a few hundred microseconds.
        return await self._exposition(request)
