"""What this replica must keep open and report of the registered VIMs, judged
every few seconds from the records it caches: a site for every VIM one of its
VNFs lives on, and for every VIM in use whose health it owns (by rendezvous);
the others are closed.  The owner reports a VIM it cannot even open as
UNREACHABLE after two tries, and re-publishes what a VIM's outbox still holds
once the broker is back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import structlog

from k8s_worker.lifecycle.sites import PROBE_FAILURES, Sites, VimGone, VimUnavailable
from k8s_worker.vims import VimHealth
from k8s_worker.vims.health import VimHealthReporter, owner_key

LOG = structlog.get_logger(__name__)


class VimDuties:
    """``run`` keeps the sites this replica needs open (see the module
    docstring) until cancelled; ``tick`` is one round of it."""

    def __init__(
        self,
        *,
        sites: Sites,
        reporter: VimHealthReporter,
        records: Callable[[], Iterable[dict[str, Any]]],
        owns: Callable[[str], bool],
        every: float = 5.0,
    ) -> None:
        self.sites = sites
        self.reporter = reporter
        self.records = records
        self.owns = owns
        self.every = every
        self._open_failures: dict[str, int] = {}

    def needed(self) -> tuple[set[str], set[str]]:
        """(VIMs this replica needs open, VIMs whose health it owns)."""
        in_use: set[str] = set()
        mine: set[str] = set()
        for obj in self.records():
            spec = obj.get("spec") or {}
            vim_id = spec.get("vimId")
            if not vim_id:
                continue
            in_use.add(vim_id)
            if self.owns(str(spec.get("vnfId") or "")):
                mine.add(vim_id)
        health = {v for v in in_use if self.owns(owner_key(v))}
        return mine | health, health

    async def tick(self) -> None:
        needed, health = self.needed()
        await self.sites.close_unused(needed)
        for vim_id in sorted(health):
            try:
                await self.sites.prepare(vim_id)
            except VimGone:
                continue
            except VimUnavailable as exc:
                count = self._open_failures.get(vim_id, 0) + 1
                self._open_failures[vim_id] = count
                if count >= PROBE_FAILURES:
                    await self.reporter.report(vim_id, VimHealth.UNREACHABLE, str(exc))
                continue
            self._open_failures.pop(vim_id, None)
            # The VIM's health as its site sees it now (a no-op when recorded so;
            # it repairs a transition whose write failed or that another replica,
            # not owning the VIM then, saw).
            site = self.sites.of(vim_id)
            now = VimHealth.REACHABLE if site.reachable else VimHealth.UNREACHABLE
            await self.reporter.report(vim_id, now, site.detail or "probe answered")
            try:
                record = await self.sites.vim(vim_id)
            except VimGone:
                continue
            if record.outbox:
                await self.reporter.flush(record)

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the home API server away: next round
                LOG.warning("vim.duties_failed", error=str(exc))
            await asyncio.sleep(self.every)
