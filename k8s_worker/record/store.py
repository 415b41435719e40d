"""Reading and writing VNF records with compare-and-swap.

Every write carries the resourceVersion it read, so two writers (two replicas,
or a replica racing its own stale view) can never overwrite each other: the
loser gets a conflict, re-reads and decides again.  ``mutate`` is that loop.

Two things spare the API server a request on the reconciler's path:

- a cached read (``get(cached=True)``) copies the records informer's copy
  when it is at least as new as what this replica last wrote of the record
  (by resourceVersion), or else decodes that write's answer as the API server
  sent it (the informer has not shown it yet: a few milliseconds, longer
  under load); it reads the API server when it has neither, or after a
  compare-and-swap of the record lost;
- outbox entries the broker confirmed are *marked* published here
  (:meth:`mark_published`) instead of being removed by a write of their own:
  every record this store hands out leaves them out, and the next write of the
  record removes them for good.  A record that no other write comes to is
  settled by one write ``SETTLE_SECONDS`` later (:meth:`settle_in`).  A
  replica that takes a VNF over before then publishes those entries again,
  under the same message_id (at-least-once, as after a crash).
"""

from __future__ import annotations

import base64
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from k8s_worker import stages
from k8s_worker.kube import KINDS, Kube, KubeConflict, KubeNotFound, KubeRejected
from k8s_worker.kube.resources import JsonPatch
from k8s_worker.record import conditions
from k8s_worker.record.descriptors import COLLECT_GRACE, DescriptorStore, is_ref
from k8s_worker.record.model import (
    FINALIZER,
    SEEN_OPS_KEEP,
    VnfRecord,
    legacy_record_name,
    params_secret_name,
    record_name,
)

LOG = structlog.get_logger(__name__)
VNF = KINDS["Vnf"]
SECRET = KINDS["Secret"]
PARAMS_KEY = "params.json"
SECRET_PARAMS_FIELD = "paramsSecret"
CONFIGMAP = KINDS["ConfigMap"]
TOMBSTONE_LABEL = "tacker.openstack.org/vnf-tombstone"
TOMBSTONE_EXPIRES = "tacker.openstack.org/expires"
#: How long a terminated VNF's op_ids are remembered (a day).
TOMBSTONE_TTL = 86400.0
#: Seconds after a publish until a record still holding the published entries
#: is written just to remove them (when no other write came first).
SETTLE_SECONDS = 30.0
#: Records whose last written version is remembered at most.
VERSIONS_KEPT = 50_000

Lookup = Callable[[str], dict[str, Any] | None]


def _version(obj: dict[str, Any] | None) -> int | None:
    try:
        return int((obj or {}).get("metadata", {}).get("resourceVersion") or "")
    except ValueError:
        return None


def _copy(obj: Any) -> Any:
    """A deep copy of decoded JSON (dicts, lists and scalars): twice as fast as
    ``copy.deepcopy`` or a JSON round trip."""
    kind = type(obj)
    if kind is dict:
        return {k: _copy(v) for k, v in obj.items()}
    if kind is list:
        return [_copy(v) for v in obj]
    return obj


def tombstone_name(vnf_id: str) -> str:
    return f"{record_name(vnf_id)}.tombstone"


Mutation = Callable[[VnfRecord], bool | Awaitable[bool]]


class RecordStore:
    """The VNF records of one namespace (the worker's record namespace).

    A record's secret-looking parameters never enter its spec: they live in a
    Secret beside it (``<record>-params``, owned by the record so that deleting
    the record collects it), written before the record that names it.
    """

    def __init__(self, kube: Kube, *, namespace: str, finalizer: bool = False) -> None:
        self.kube = kube
        self.namespace = namespace
        #: Put FINALIZER on new records: deleting one by hand then runs its
        #: terminate first ([kubernetes] record_finalizer).
        self.finalizer = finalizer
        self._secret_params: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        #: The records' descriptors, stored apart from them by content.
        self.descriptors = DescriptorStore(kube, namespace=namespace)
        self._lookup: Lookup | None = None  # record name -> the informer's copy
        #: record name -> the newest resourceVersion this replica wrote or read,
        #: while the informer has not shown it yet
        self._versions: dict[str, int] = {}
        #: record name -> the API server's answer to that write (bytes: kept as
        #: they came, decoded only when a read needs them)
        self._answers: dict[str, bytes] = {}
        self._stale: set[str] = set()  # names whose next cached read goes to the API
        #: vnf id -> (record uid, highest sequence the broker confirmed)
        self._published: dict[str, tuple[str, int]] = {}
        #: vnf id -> monotonic time of its oldest confirmed entry still stored
        self._unsettled: dict[str, float] = {}

    # -- the reconciler's cache ---------------------------------------------------
    def use_cache(self, lookup: Lookup) -> None:
        """Serve cached reads from ``lookup`` (the records informer's cache by
        record name); :meth:`observed` must see that informer's events."""
        self._lookup = lookup

    def observed(self, obj: dict[str, Any], *, deleted: bool) -> None:
        """The records informer saw ``obj`` (or its deletion): a version of
        ours it has now shown is forgotten."""
        name = obj.get("metadata", {}).get("name", "")
        if deleted:
            self._stale.discard(name)  # (gone from the informer too: reads ask the API)
        mine = self._versions.get(name)
        if mine is None:
            return
        seen = _version(obj)
        if deleted or seen is None or seen >= mine:
            self._versions.pop(name, None)
            self._answers.pop(name, None)

    def _keep(self, obj: dict[str, Any], answer: list[bytes] | None = None) -> None:
        """This replica wrote or read ``obj`` (the API server's ``answer``):
        no cached read older than it."""
        name = obj["metadata"]["name"]
        self._stale.discard(name)
        self._answers.pop(name, None)
        version = _version(obj)
        if version is None:
            self._stale.add(name)  # not comparable: the next cached read asks the API
            return
        if len(self._versions) >= VERSIONS_KEPT:
            self._versions.clear()  # (then the informer's copies are trusted as they come)
            self._answers.clear()
        self._versions[name] = version
        if answer:
            self._answers[name] = answer[-1]

    def _forget(self, record: VnfRecord) -> None:
        """The record is deleted: until the informer shows it gone, cached reads
        of it ask the API server (its copy there would bring back entries
        published before the delete, and publish them again)."""
        self._versions.pop(record.name, None)
        self._answers.pop(record.name, None)
        self._stale.add(record.name)
        self._published.pop(record.vnf_id, None)
        self._unsettled.pop(record.vnf_id, None)

    def _cached(self, vnf_id: str) -> dict[str, Any] | None:
        name = record_name(vnf_id)
        if self._lookup is None or name in self._stale:
            return None
        shared = self._lookup(name)
        mine = self._versions.get(name)
        if shared is None or mine is None:
            return None if shared is None else _copy(shared)
        seen = _version(shared)
        if seen is not None and seen >= mine:
            return _copy(shared)
        answer = self._answers.get(name)  # the informer is behind this replica's write
        if answer is not None:
            decoded: dict[str, Any] = json.loads(answer)
            if _version(decoded) == mine:
                return decoded
        return None  # ask the API server

    # -- published outbox entries ---------------------------------------------------
    def mark_published(self, record: VnfRecord, sequence: int) -> None:
        """The broker confirmed the record's outbox up to ``sequence``: records
        handed out from now on leave those entries out, and the next write
        removes them."""
        uid = str(record.obj["metadata"].get("uid") or "")
        self._published[record.vnf_id] = (uid, sequence)
        self._unsettled.setdefault(record.vnf_id, time.monotonic())
        record.drop_published(sequence)

    def settle_in(self, vnf_id: str) -> float | None:
        """Seconds until the VNF's record should be written to remove entries
        already published (0: now; None: nothing to remove)."""
        since = self._unsettled.get(vnf_id)
        if since is None:
            return None
        return max(0.0, since + SETTLE_SECONDS - time.monotonic())

    def _view(self, record: VnfRecord) -> VnfRecord:
        """The record without the outbox entries the broker confirmed."""
        mark = self._published.get(record.vnf_id)
        if mark is not None:
            uid, sequence = mark
            if uid == str(record.obj["metadata"].get("uid") or ""):
                record.drop_published(sequence)
            else:  # another record of the same VNF id (terminated, instantiated anew)
                self._published.pop(record.vnf_id, None)
                self._unsettled.pop(record.vnf_id, None)
        return record

    def _written(
        self, obj: dict[str, Any], *, status: bool, answer: list[bytes] | None = None
    ) -> VnfRecord:
        """A record as a write returned it: kept, and (a status write removed
        every published entry) settled."""
        self._keep(obj, answer)
        record = VnfRecord(obj)
        if status:
            self._unsettled.pop(record.vnf_id, None)
        return self._view(record)

    async def descriptor(self, record: VnfRecord) -> Any:
        """The record's descriptor: by its reference, or inline (older records)."""
        ref = record.spec.get("vnfdRef")
        if is_ref(ref):
            return await self.descriptors.get(ref)
        return record.spec.get("vnfd")

    async def collect_descriptors(self, *, grace: float = COLLECT_GRACE) -> int:
        """Delete the stored descriptors no record references (current, previous
        or of a pending update); how many chunks went."""
        referenced: set[str] = set()
        for record in await self.list():
            refs = [record.spec.get("vnfdRef"), record.spec.get("previousVnfdRef")]
            refs += [op.args.get("vnfdRef") for op in record.operations()]
            referenced.update(str(r["sha256"]) for r in refs if is_ref(r))
        return await self.descriptors.collect(referenced, grace=grace)

    async def get(self, vnf_id: str, *, cached: bool = False) -> VnfRecord | None:
        """The VNF's record (None: none).  ``cached``: from the cache when it is
        there (see the module docstring), else read from the API server."""
        with stages.timed("record_read"):
            if cached and (obj := self._cached(vnf_id)) is not None:
                if (obj.get("spec") or {}).get("vnfId") == vnf_id:
                    return self._view(VnfRecord(obj))
            return await self._get(vnf_id)

    async def _get(self, vnf_id: str) -> VnfRecord | None:
        obj = await self.kube.get_or_none(VNF, name=record_name(vnf_id), namespace=self.namespace)
        if obj is None and (legacy := legacy_record_name(vnf_id)):
            obj = await self.kube.get_or_none(VNF, name=legacy, namespace=self.namespace)
        if obj is None or (obj.get("spec") or {}).get("vnfId") != vnf_id:
            return None  # a record of another id under this name is not this VNF's
        if obj["metadata"].get("name") == record_name(vnf_id):
            self._keep(obj)
        return self._view(VnfRecord(obj))

    async def list(self, *, selector: str | None = None) -> list[VnfRecord]:
        items, _ = await self.kube.list(VNF, namespace=self.namespace, selector=selector)
        return [VnfRecord(o) for o in items]

    async def create(
        self, record: VnfRecord, *, secret_params: dict[str, Any] | None = None
    ) -> VnfRecord:
        """Create the record (its status is written by a second, CAS write);
        ``secret_params`` go into the record's Secret first, and only the
        Secret's name into the spec."""
        if secret_params:
            name = params_secret_name(record.name)
            record.spec[SECRET_PARAMS_FIELD] = name
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": name,
                    "namespace": self.namespace,
                    "labels": dict(record.obj["metadata"].get("labels") or {}),
                },
                "type": "Opaque",
                "stringData": {PARAMS_KEY: json.dumps(secret_params, sort_keys=True)},
            }
            try:
                await self.kube.create(body)
            except KubeConflict:
                # Left by an earlier attempt of this intake, or by a racing one.
                # Overwritten only while no record owns it: a live VNF's
                # parameters are never replaced by another request's.
                existing = await self.kube.get_or_none(
                    VNF, name=record.name, namespace=self.namespace
                )
                if existing is not None:
                    raise
                await self.kube.apply(body)
        status = record.obj.get("status") or {}
        fresh: dict[str, Any] = {k: v for k, v in record.obj.items() if k != "status"}
        if self.finalizer:
            fresh["metadata"] = {**record.obj["metadata"], "finalizers": [FINALIZER]}
        created = self._written(await self.kube.create(fresh), status=False)
        if secret_params:
            await self._own_secret(created)
        if status:
            created.obj["status"] = status
            created = await self.write_status(created)
        return created

    async def _own_secret(self, record: VnfRecord) -> None:
        """Make the record the Secret's owner (the garbage collector then removes
        it with the record); best effort, ``delete`` removes it anyway."""
        meta = record.obj["metadata"]
        ref = {
            "apiVersion": record.obj["apiVersion"],
            "kind": "Vnf",
            "name": meta["name"],
            "uid": meta["uid"],
        }
        try:
            await self.kube.patch(
                SECRET,
                name=record.spec[SECRET_PARAMS_FIELD],
                namespace=self.namespace,
                patch={"metadata": {"ownerReferences": [ref]}},
            )
        except Exception as exc:  # the record exists: never fail its intake for this
            LOG.warning(
                "record.secret_owner_failed", vnf_id=record.vnf_id, error=type(exc).__name__
            )

    async def secret_params(self, record: VnfRecord) -> dict[str, Any]:
        """The record's secret-looking parameters ({} when it has none)."""
        name = record.spec.get(SECRET_PARAMS_FIELD)
        if not name:
            return {}
        key = (str(record.obj["metadata"].get("uid")), name)
        cached = self._secret_params.get(key)
        if cached is not None:
            self._secret_params.move_to_end(key)
            return cached
        obj = await self.kube.get_or_none(SECRET, name=name, namespace=self.namespace)
        if obj is None:
            raise KubeNotFound(f"the Secret {name} of the VNF's parameters is missing", status=404)
        raw = base64.b64decode((obj.get("data") or {}).get(PARAMS_KEY, "") or b"e30=")
        params = json.loads(raw)
        self._secret_params[key] = params
        while len(self._secret_params) > 1024:
            self._secret_params.popitem(last=False)
        return params

    async def write_status(self, record: VnfRecord) -> VnfRecord:
        """CAS write of the status (its conditions refreshed from it first); raises
        KubeConflict when the record moved on."""
        self._view(record)
        conditions.refresh(record)
        answer: list[bytes] = []
        try:
            with stages.timed("record_write"):
                stored = await self.kube.replace(record.obj, subresource="status", answer=answer)
        except KubeConflict:
            self._stale.add(record.name)
            raise
        return self._written(stored, status=True, answer=answer)

    async def write_spec(self, record: VnfRecord) -> VnfRecord:
        """CAS write of the spec (and metadata)."""
        answer: list[bytes] = []
        try:
            with stages.timed("record_write"):
                stored = await self.kube.replace(record.obj, answer=answer)
        except KubeConflict:
            self._stale.add(record.name)
            raise
        return self._written(stored, status=False, answer=answer)

    async def delete(self, record: VnfRecord) -> None:
        """Delete the record, only if nobody changed it since it was read (its
        finalizer taken off first: this is the worker's own delete)."""
        self._forget(record)
        if FINALIZER in record.finalizers:
            record.obj["metadata"]["finalizers"] = [f for f in record.finalizers if f != FINALIZER]
            try:
                record = VnfRecord(await self.kube.replace(record.obj))
            except KubeNotFound:  # it was being deleted, and that was its last finalizer
                await self._delete_params_secret(record)
                return
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
        await self._delete_params_secret(record)

    async def _delete_params_secret(self, record: VnfRecord) -> None:
        """Delete the record's params Secret, if it has one (gone already: fine)."""
        if secret := record.spec.get(SECRET_PARAMS_FIELD):
            await self.kube.delete(SECRET, name=secret, namespace=self.namespace)

    async def bury(self, record: VnfRecord, *, ttl_seconds: float = TOMBSTONE_TTL) -> None:
        """Leave a tombstone of a terminated VNF (its op_ids, for ``ttl_seconds``),
        then delete its record: late duplicates of its casts are then answered
        as duplicates instead of bringing the VNF back or failing."""
        ops = sorted({o.op_id for o in record.operations()} | set(record.st.get("seenOps", [])))
        expires = time.time() + ttl_seconds
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": tombstone_name(record.vnf_id),
                "namespace": self.namespace,
                "labels": {TOMBSTONE_LABEL: "true"},
                "annotations": {TOMBSTONE_EXPIRES: str(int(expires))},
            },
            "data": {"vnfId": record.vnf_id, "ops": json.dumps(ops[-SEEN_OPS_KEEP:])},
        }
        await self.kube.apply(body)
        await self.delete(record)

    async def tombstone(self, vnf_id: str) -> set[str]:
        """The op_ids of a VNF terminated lately (empty: no tombstone)."""
        obj = await self.kube.get_or_none(
            CONFIGMAP, name=tombstone_name(vnf_id), namespace=self.namespace
        )
        data = (obj or {}).get("data") or {}
        if data.get("vnfId") != vnf_id:
            return set()
        try:
            return set(json.loads(data.get("ops") or "[]"))
        except ValueError:
            return set()

    async def collect_tombstones(self) -> int:
        """Delete the expired tombstones; how many."""
        items, _ = await self.kube.list(
            CONFIGMAP, namespace=self.namespace, selector=f"{TOMBSTONE_LABEL}=true"
        )
        now, gone = time.time(), 0
        for obj in items:
            try:
                expires = float(
                    (obj["metadata"].get("annotations") or {}).get(TOMBSTONE_EXPIRES, 0)
                )
            except ValueError:
                expires = 0
            if expires <= now:
                await self.kube.delete(
                    CONFIGMAP, name=obj["metadata"]["name"], namespace=self.namespace
                )
                gone += 1
        return gone

    async def withdraw(self, record: VnfRecord) -> None:
        """Delete a record just created and never acted on (its intake was
        refused after all), and its Secret, whatever was written to it since."""
        self._forget(record)
        if FINALIZER in record.finalizers:
            # update (not patch): the verbs the worker's Role grants on vnfs
            for _ in range(5):
                current = await self.get(record.vnf_id)
                if current is None or FINALIZER not in current.finalizers:
                    break
                current.obj["metadata"]["finalizers"] = [
                    f for f in current.finalizers if f != FINALIZER
                ]
                try:
                    await self.kube.replace(current.obj)
                    break
                except KubeConflict:
                    continue
        await self.kube.delete(VNF, name=record.name, namespace=self.namespace)
        await self._delete_params_secret(record)

    async def journal(self, record: VnfRecord, patch: JsonPatch) -> VnfRecord | None:
        """Apply a journal patch (:meth:`VnfRecord.journal_patch` of the record
        as read); the record as stored, or None when another journal came first
        (read it again and decide again)."""
        seq = patch[0]["value"]  # the journalSeq it was made against
        vnf_id = record.vnf_id
        answer: list[bytes] = []
        try:
            with stages.timed("record_write"):
                patched = await self.kube.json_patch(
                    VNF,
                    name=record.name,
                    namespace=self.namespace,
                    ops=patch,
                    subresource="status",
                    answer=answer,
                )
            return self._written(patched, status=False, answer=answer)
        except KubeRejected as exc:
            if exc.status != 422:  # a failed "test" is 422; so is an invalid patch
                raise
            self._stale.add(record.name)
            current = await self.get(vnf_id)
            if current is None or current.st.get("journalSeq") != seq:
                LOG.debug("record.journal_moved", vnf_id=vnf_id)
                return None
            raise

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
