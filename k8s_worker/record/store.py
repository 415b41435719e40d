"""Reading and writing VNF records with compare-and-swap.

Every write carries the resourceVersion it read, so two writers (two replicas,
or a replica racing its own stale view) can never overwrite each other: the
loser gets a conflict, re-reads and decides again.  ``mutate`` is that loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from k8s_worker.kube import KINDS, Kube, KubeConflict, KubeNotFound
from k8s_worker.record.model import VnfRecord, record_name

LOG = structlog.get_logger(__name__)
VNF = KINDS["Vnf"]

Mutation = Callable[[VnfRecord], bool | Awaitable[bool]]


class RecordStore:
    """The VNF records of one namespace (the worker's record namespace)."""

    def __init__(self, kube: Kube, *, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace

    async def get(self, vnf_id: str) -> VnfRecord | None:
        obj = await self.kube.get_or_none(VNF, name=record_name(vnf_id), namespace=self.namespace)
        return VnfRecord(obj) if obj else None

    async def list(self, *, selector: str | None = None) -> list[VnfRecord]:
        items, _ = await self.kube.list(VNF, namespace=self.namespace, selector=selector)
        return [VnfRecord(o) for o in items]

    async def create(self, record: VnfRecord) -> VnfRecord:
        """Create the record (its status is written by a second, CAS write)."""
        status = record.obj.get("status") or {}
        body = {k: v for k, v in record.obj.items() if k != "status"}
        created = VnfRecord(await self.kube.create(body))
        if status:
            created.obj["status"] = status
            created = await self.write_status(created)
        return created

    async def write_status(self, record: VnfRecord) -> VnfRecord:
        """CAS write of the status; raises KubeConflict when the record moved on."""
        return VnfRecord(await self.kube.replace(record.obj, subresource="status"))

    async def write_spec(self, record: VnfRecord) -> VnfRecord:
        """CAS write of the spec (and metadata)."""
        return VnfRecord(await self.kube.replace(record.obj))

    async def delete(self, record: VnfRecord) -> None:
        """Delete the record, only if nobody changed it since it was read."""
        body = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "preconditions": {"resourceVersion": record.resource_version},
        }
        try:
            await self.kube.request(
                "DELETE", VNF.path(namespace=self.namespace, name=record.name), body=body
            )
        except KubeNotFound:
            pass

    async def mutate(
        self, vnf_id: str, change: Mutation, *, attempts: int = 20
    ) -> VnfRecord | None:
        """Read, change, CAS-write the status; repeat on conflict.

        ``change`` edits the record in place and returns whether to write.
        Returns the record as stored, or None when there is no record.
        """
        for _ in range(attempts):
            record = await self.get(vnf_id)
            if record is None:
                return None
            result = change(record)
            if not isinstance(result, bool):
                result = await result
            if not result:
                return record
            try:
                return await self.write_status(record)
            except KubeConflict:
                LOG.debug("record.conflict", vnf_id=vnf_id)
        raise KubeConflict(
            f"VNF record {vnf_id}: still conflicting after {attempts} attempts", status=409
        )
