"""A VNF record's writes by its owner, and only by it: every write (and every
publish of its outbox) first checks that this replica still owns the VNF."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from k8s_worker.record import RecordStore, VnfRecord
from k8s_worker.record.outbox import Outbox


class NotOwner(Exception):
    """This replica does not own the VNF (any more): it must not act or publish."""


class OwnedRecords:
    """The owner's side of the records: ``fence`` raises NotOwner once the VNF
    is another replica's; ``write`` is a CAS write of the status (KubeConflict
    when the record moved on); ``flush`` publishes the outbox (see
    :class:`k8s_worker.record.outbox.Outbox`)."""

    #: Own writes remembered for :meth:`echo` at most.
    ECHOES = 10_000

    def __init__(self, *, store: RecordStore, outbox: Outbox, owns: Callable[[str], bool]) -> None:
        self.store = store
        self.outbox = outbox
        self.owns = owns
        self._written: dict[str, str] = {}  # record name -> resourceVersion it wrote last

    def echo(self, obj: dict[str, Any]) -> bool:
        """``obj`` (a records informer event) is this replica's own last write of
        the record: the pass that wrote it decided what follows, so it needs no
        new pass (every other change of the record does)."""
        meta = obj.get("metadata", {})
        name, version = meta.get("name", ""), meta.get("resourceVersion")
        if version is None or self._written.get(name) != version:
            return False
        del self._written[name]
        return True

    def fence(self, rec: VnfRecord) -> None:
        if not self.owns(rec.vnf_id):
            raise NotOwner(rec.vnf_id)

    async def write(self, rec: VnfRecord) -> VnfRecord:
        self.fence(rec)
        stored = await self.store.write_status(rec)
        if len(self._written) >= self.ECHOES:
            self._written.clear()
        if stored.resource_version:
            self._written[stored.name] = stored.resource_version
        return stored

    async def flush(self, rec: VnfRecord) -> VnfRecord | None:
        return await self.outbox.flush(rec, fence=self.fence)
