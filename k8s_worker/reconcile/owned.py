"""A VNF record's writes by its owner, and only by it: every write (and every
publish of its outbox) first checks that this replica still owns the VNF."""

from __future__ import annotations

from collections.abc import Callable

from k8s_worker.record import RecordStore, VnfRecord
from k8s_worker.record.outbox import Outbox


class NotOwner(Exception):
    """This replica does not own the VNF (any more): it must not act or publish."""


class OwnedRecords:
    """The owner's side of the records: ``fence`` raises NotOwner once the VNF
    is another replica's; ``write`` is a CAS write of the status (KubeConflict
    when the record moved on); ``flush`` publishes the outbox (see
    :class:`k8s_worker.record.outbox.Outbox`)."""

    def __init__(self, *, store: RecordStore, outbox: Outbox, owns: Callable[[str], bool]) -> None:
        self.store = store
        self.outbox = outbox
        self.owns = owns

    def fence(self, rec: VnfRecord) -> None:
        if not self.owns(rec.vnf_id):
            raise NotOwner(rec.vnf_id)

    async def write(self, rec: VnfRecord) -> VnfRecord:
        self.fence(rec)
        return await self.store.write_status(rec)

    async def flush(self, rec: VnfRecord) -> VnfRecord | None:
        return await self.outbox.flush(rec, fence=self.fence)
