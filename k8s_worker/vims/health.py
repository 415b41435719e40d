"""A VIM's health as the fleet reports it: one replica (the VIM's owner by
rendezvous) writes each transition into the ``Vim`` resource with the VIM's
next sequence number and its event into the resource's outbox, then publishes
``vim.status.update`` and drops what reached the broker.  An event is thus
published at least once, in order, and numbered without gaps; consumers
de-duplicate on ``(vim_id, sequence)``."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import structlog

from k8s_worker.kube import KubeError
from k8s_worker.record.model import utcnow
from k8s_worker.record.outbox import Publisher
from k8s_worker.vims.model import VimHealth, VimRecord
from k8s_worker.vims.store import VimStore

LOG = structlog.get_logger(__name__)
EVENT_TYPE = "vim.status.update"
_NS = uuid.UUID("0f6f2a4e-3c1d-4a7b-9f39-5b8f6f1e7a21")


def owner_key(vim_id: str) -> str:
    """The rendezvous key of a VIM (apart from every VNF id)."""
    return f"vim:{vim_id}"


class VimHealthReporter:
    """``report`` a VIM's health (only when ``owns(owner_key(vim_id))``), and
    ``flush`` what an outbox still holds (the broker away at the time)."""

    def __init__(
        self, *, store: VimStore, publisher: Publisher, owns: Callable[[str], bool]
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.owns = owns

    async def report(self, vim_id: str, health: VimHealth, reason: str) -> None:
        if not self.owns(owner_key(vim_id)):
            return
        now = utcnow()
        changed: list[dict] = []

        def change(record: VimRecord) -> bool:
            changed.clear()
            event = record.set_health(health, reason=reason or None, now=now)
            if event is not None:
                changed.append(event)
            return event is not None

        try:
            record = await self.store.mutate(vim_id, change, status=True)
        except KubeError as exc:
            LOG.warning("vim.health_not_recorded", vim_id=vim_id, error=str(exc))
            return
        if record is None:
            return
        if changed:
            LOG.info("vim.status_changed", vim_id=vim_id, status=str(health), reason=reason)
        await self.flush(record)

    async def flush(self, record: VimRecord) -> None:
        """Publish the outbox in order; stop at the first failure (kept for later)."""
        last = 0
        for event in record.outbox:
            sequence = int(event.get("sequence", 0))
            try:
                await self.publisher.publish(
                    EVENT_TYPE,
                    event,
                    priority="WARN" if event.get("status") == "UNREACHABLE" else "INFO",
                    message_id=str(uuid.uuid5(_NS, f"{record.vim_id}:{sequence}")),
                )
            except (ConnectionError, OSError) as exc:
                LOG.info("vim.publish_later", vim_id=record.vim_id, error=str(exc))
                break
            last = sequence
        if not last:
            return

        def drop(rec: VimRecord) -> bool:
            before = len(rec.outbox)
            rec.published(last)
            return len(rec.outbox) != before

        try:
            await self.store.mutate(record.vim_id, drop, status=True)
        except KubeError as exc:  # published again later: consumers de-duplicate
            LOG.info("vim.outbox_not_trimmed", vim_id=record.vim_id, error=str(exc))
