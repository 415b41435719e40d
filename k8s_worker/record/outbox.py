"""Publishing a record's outbox: the events a pass journaled go out in order,
and only then leave the record.

The outbox is what makes notifications survive a crash (an event is written
with the change it reports, and published after); this is the other half.
A broker outage never stops a pass: what could not be published stays, in
order, and is tried again when the publisher recovers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import structlog

from k8s_worker import stages
from k8s_worker.record.model import VnfRecord
from k8s_worker.record.store import RecordStore

LOG = structlog.get_logger(__name__)

#: Outbox sizes (in outbox_cap units) past which a VNF's policies pause.
OUTBOX_POLICY_PAUSE = 4


class Publisher(Protocol):
    """The part of ``k8s_worker.notify.Notifier`` the outbox uses: it returns
    once the broker confirmed, and raises ConnectionError or OSError when it
    cannot publish."""

    async def publish(
        self,
        event_type: str,
        payload: Mapping[str, Any],
        *,
        priority: str = "INFO",
        message_id: str | None = None,
        timestamp: str | None = None,
    ) -> None: ...


class Outbox:
    """Publishes records' outboxes through ``publisher``; remembers which VNFs'
    outboxes wait for the broker (:attr:`unpublished`).  ``on_published`` (which
    must not block; its errors are ignored) sees each entry the broker confirmed,
    with its record: the Kubernetes Events of ``k8s_worker.notify.kube_events``."""

    def __init__(
        self,
        *,
        store: RecordStore,
        publisher: Publisher,
        on_published: Callable[[VnfRecord, dict[str, Any]], None] | None = None,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.on_published = on_published
        self.unpublished: set[str] = set()
        self._paused: set[str] = set()  # VNFs whose policies wait for the broker

    def recovered(self) -> set[str]:
        """The broker is back: the VNFs whose outbox waited (now forgotten)."""
        waiting, self.unpublished = self.unpublished, set()
        return waiting

    def overflowing(self, rec: VnfRecord) -> bool:
        """The broker has been away long enough for the VNF's outbox to fill:
        its automatic operations should wait (logged once per pause)."""
        overflowing = (
            rec.vnf_id in self.unpublished
            and len(rec.outbox()) >= OUTBOX_POLICY_PAUSE * VnfRecord.outbox_cap
        )
        if overflowing and rec.vnf_id not in self._paused:
            LOG.warning("policy.paused_outbox_full", vnf_id=rec.vnf_id, pending=len(rec.outbox()))
        if overflowing:
            self._paused.add(rec.vnf_id)
        else:
            self._paused.discard(rec.vnf_id)
        return overflowing

    def _published(self, rec: VnfRecord, entry: dict[str, Any]) -> None:
        if self.on_published is None:
            return
        try:
            self.on_published(rec, entry)
        except Exception as exc:  # best effort: never fails a publish
            LOG.debug("notify.on_published_failed", vnf_id=rec.vnf_id, error=repr(exc))

    async def flush(
        self, rec: VnfRecord, *, fence: Callable[[VnfRecord], None]
    ) -> VnfRecord | None:
        """Publish the outbox in sequence order, then mark what was published
        (the store leaves it out of the record from now on, and the record's
        next write removes it: no write of its own); the record without it.
        ``fence`` raises when this replica may no longer act for the VNF."""
        entries = rec.outbox()
        if not entries:
            self.unpublished.discard(rec.vnf_id)
            return rec
        fence(rec)
        last = None
        try:
            for entry in entries:
                with stages.timed("publish"):
                    await self.publisher.publish(
                        entry["eventType"],
                        entry["payload"],
                        priority=entry["priority"],
                        message_id=rec.message_id(entry),
                        timestamp=entry.get("timestamp"),  # absent in entries older than it
                    )
                stages.published()
                last = entry["sequence"]
                self._published(rec, entry)
        except (ConnectionError, OSError) as exc:
            if rec.vnf_id not in self.unpublished:
                LOG.warning(
                    "notify.outbox_waits",
                    vnf_id=rec.vnf_id,
                    pending=sum(1 for e in entries if last is None or e["sequence"] > last),
                    error=str(exc),
                )
            self.unpublished.add(rec.vnf_id)
            if last is None:
                return rec
        else:
            self.unpublished.discard(rec.vnf_id)
        assert last is not None
        self.store.mark_published(rec, last)
        return rec
