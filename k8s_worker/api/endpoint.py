"""The RPC handler of the real worker: every cast becomes a journaled intent.

A cast is durable once its operation is in the VNF record; that is all this
module does for casts (the reconciler carries the operation out), so the
intake can acknowledge the message as soon as a method returns.  A repeated
op_id changes nothing.  Calls are answered from the record and the informers'
caches.  Requests are checked against the caller's project: a tenant acts on
its own VNFs only, unless the context is an admin's.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import structlog

from k8s_worker.alerts import AlertAlarm
from k8s_worker.kube import KINDS, Kube, KubeConflict, KubeNotFound, KubeUnavailable
from k8s_worker.lifecycle.objects import TENANT_LABEL, VnfObjects
from k8s_worker.lifecycle.observe import pod_ready, workload_ready
from k8s_worker.lifecycle.sites import Sites, VimGone, VimUnavailable
from k8s_worker.packages import PackageError, PackageLimits, open_package
from k8s_worker.policy.engine import add_alarm, add_alert
from k8s_worker.record import Operation, OperationKind, RecordStore, VnfRecord
from k8s_worker.tenancy import tenant_label_value
from k8s_worker.tosca import (
    LABEL_MANAGED_BY,
    LABEL_VDU,
    LABEL_VNF_ID,
    MANAGED_BY_VALUE,
    autoscaling_problems,
    vnf_selector,
)
from k8s_worker.vims import DEFAULT_VIM_ID
from k8s_worker.vims.registry import Caller, VimRegistry
from k8s_worker.vims.store import LABEL_VIM as VIM_LABEL
from k8s_worker.wire.context import REQUEST_VERSION, RequestContext
from k8s_worker.wire.redact import split_secret_params
from rpc.contract import FAILED_TEMP_VERSION, version_is_compatible
from rpc.exceptions import (
    BadRequest,
    Forbidden,
    InvalidArguments,
    OperationInFailedTemp,
    VimNotFound,
    VnfNotFound,
)

LOG = structlog.get_logger(__name__)
#: The operations rollback_operation can undo.
ROLLBACK_KINDS = frozenset({OperationKind.INSTANTIATE, OperationKind.SCALE, OperationKind.UPDATE})
NETWORK_STATUS = "k8s.v1.cni.cncf.io/network-status"
#: Journal patches tried before a cast is retried later (each loses only to
#: another replica's journal of the same VNF in between).
JOURNAL_ATTEMPTS = 20


def _roles(ctx: RequestContext) -> list[str]:
    """The caller's roles as a list: oslo contexts send a list, some callers a
    comma-separated string; either way a role is a whole name, never a substring."""
    roles = ctx.get("roles") or []
    if isinstance(roles, str):
        roles = roles.split(",")
    if not isinstance(roles, list | tuple):
        return []
    return [str(r).strip().lower() for r in roles]


def _is_admin(ctx: RequestContext) -> bool:
    return ctx.get("is_admin") is True or "admin" in _roles(ctx)


#: How far below its limit a tenant's VNFs are counted from the records
#: informer instead of a LIST: more than the instantiates every replica can
#: have in flight at once (``[k8s_worker] concurrency``, 64 by default, times a
#: few replicas) that the informer may not show yet.
TENANT_COUNT_MARGIN = 256


class LifecycleEndpoint:
    """The RPC methods of ``rpc/contract.py``, served: each cast is validated, authorized
    for its project, bounded and journaled into the VNF's record, then the VNF is enqueued;
    calls are answered from the records and the informers' caches.  It never writes a VNF's
    objects; refusals raise the contract's exceptions (BadRequest, Forbidden, VnfNotFound,
    ...)."""

    def __init__(
        self,
        *,
        store: RecordStore,
        vnf_objects: VnfObjects,
        enqueue: Callable[[str], None],
        kube: Kube,
        max_vnfs_per_tenant: int = 1000,
        max_vnfd_bytes: int = 512 * 1024,
        max_pending_operations: int = 100,
        max_record_bytes: int = 1 << 20,
        cached_records: Callable[[], Iterable[dict[str, Any]]] | None = None,
        registry: VimRegistry | None = None,
        sites: Sites | None = None,
        package_limits: PackageLimits | None = None,
    ) -> None:
        self.package_limits = package_limits or PackageLimits()
        self.registry = registry  # None: only the default VIM (no registry served)
        self.sites = sites
        self.max_vnfd_bytes = max_vnfd_bytes
        self._tenant_locks: dict[str, asyncio.Lock] = {}
        self.max_pending_operations = max_pending_operations
        self.max_record_bytes = max_record_bytes
        self.cached_records = cached_records
        self.store = store
        self.vnf_objects = vnf_objects
        self.enqueue = enqueue  # the VNF needs a reconcile pass
        self.kube = kube
        self.max_vnfs_per_tenant = max_vnfs_per_tenant

    # -- checks ------------------------------------------------------------------
    def _cached_count(self, selector: str) -> int | None:
        """Records the informer shows with the label ``selector`` (``key=value``)
        names; None without an informer."""
        if self.cached_records is None:
            return None
        key, _, value = selector.partition("=")
        return sum(
            1
            for obj in self.cached_records()
            if (obj.get("metadata", {}).get("labels") or {}).get(key) == value
        )

    @staticmethod
    def _caller(ctx: RequestContext) -> None:
        """Forbidden unless the caller is an admin or names its project."""
        if not _is_admin(ctx) and not ctx.project_id:
            raise Forbidden("the request context names no project, and the caller is not an admin")

    @classmethod
    def _authorize(cls, ctx: RequestContext, tenant_id: str) -> None:
        """For a new VNF: the caller may create it for ``tenant_id``."""
        cls._caller(ctx)
        if _is_admin(ctx) or ctx.project_id == tenant_id:
            return
        raise Forbidden(
            f"project {ctx.project_id!r} may create VNFs only for itself", field="tenant_id"
        )

    def _too_many(self, count: int) -> BadRequest:
        return BadRequest(
            f"the tenant has {count} VNFs, the most allowed "
            f"([limits] max_vnfs_per_tenant = {self.max_vnfs_per_tenant})",
            field="vnf",
        )

    def _check_vnfd_size(self, vnfd: Any, *, field: str) -> None:
        """InvalidArguments when the VNFD is over ``[limits] max_vnfd_bytes``
        (checked before anything parses, hashes or stores it)."""
        if isinstance(vnfd, str):
            size = len(vnfd.encode("utf-8", errors="replace"))
        else:
            size = len(json.dumps(vnfd, separators=(",", ":"), default=str).encode())
        if size > self.max_vnfd_bytes:
            raise InvalidArguments(
                f"{field}: is {size} bytes, over the limit of {self.max_vnfd_bytes} "
                "([limits] max_vnfd_bytes)",
                field=field,
            )

    async def _descriptor(
        self,
        *,
        vnfd: Any,
        package: Any,
        request: dict[str, Any],
        field: str,
    ) -> tuple[Any, bool]:
        """What the VNF's record will reference: its VNFD, or its package read
        and checked (hashes, paths, ``[limits]``) with the request's package
        fields; and whether it is kept in Secrets (a package's manifests may
        hold Secrets).  InvalidArguments naming what is wrong otherwise."""
        if package is None:
            if vnfd is None:
                raise InvalidArguments(f"{field}: give a vnfd or a package", field=field)
            self._check_vnfd_size(vnfd, field=field)
            return vnfd, False
        if not isinstance(package, str | dict):
            raise InvalidArguments(
                "package: a base64 CSAR zip or a mapping of path -> text", field="package"
            )
        try:
            opened = await asyncio.to_thread(open_package, package, limits=self.package_limits)
        except PackageError as exc:
            raise InvalidArguments(f"package: {exc}", field="package") from None
        except Exception as exc:  # whatever else a hostile package breaks: a clear refusal
            raise InvalidArguments(
                f"package: cannot be read ({type(exc).__name__})", field="package"
            ) from None
        return {**opened.stored(), "request": request}, True

    async def _record(self, ctx: RequestContext, vnf_id: str) -> VnfRecord:
        """The VNF's record, if the caller may see it.  Another project's VNF is
        not found, as OpenStack answers: nothing tells that it exists or whose it is."""
        self._caller(ctx)
        rec = await self.store.get(vnf_id)
        if rec is None or not (_is_admin(ctx) or ctx.project_id == rec.tenant_id):
            raise VnfNotFound(f"no VNF {vnf_id!r}", vnf_id=vnf_id)
        return rec

    def _pending_cap_reached(self, rec: VnfRecord, op: Operation) -> BadRequest | None:
        """The refusal of a cast past the pending cap, judged from the record
        just read (a backlog of casts costs one read each, no write); the
        journal write checks again exactly."""
        if op.kind == OperationKind.TERMINATE or rec.has_seen(op.op_id):
            return None  # a terminate is always taken; a duplicate is answered as one
        waiting = sum(1 for o in rec.operations() if o.active)
        if waiting < self.max_pending_operations:
            return None
        return BadRequest(
            f"the VNF has {waiting} operations waiting, the most allowed "
            f"([limits] max_pending_operations = {self.max_pending_operations})",
            field="op_id",
        )

    @staticmethod
    def _parked_refusal(rec: VnfRecord, op: Operation) -> BadRequest | None:
        """While an operation is FAILED_TEMP the VNF takes no other (terminate
        included, as Tacker v2): retry, roll back or fail it first."""
        current = rec.current()
        if current is None or not current.parked or rec.has_seen(op.op_id):
            return None
        if current.next_action() is not None:
            return None  # retried, rolled back or failed already: it queues behind
        return OperationInFailedTemp(
            f"the VNF's {current.operation} {current.op_id} is FAILED_TEMP: "
            "retry_operation, rollback_operation or fail_operation it first "
            "(fail_operation, then terminate_vnf, removes a VNF stuck there)",
            op_id=current.op_id,
        )

    async def _journal(self, ctx: RequestContext, vnf_id: str, op: Operation) -> None:
        try:
            rec = await self._record(ctx, vnf_id)
        except VnfNotFound:
            if op.op_id in await self.store.tombstone(vnf_id):
                # A late duplicate (a terminate redelivered, say) of a VNF since
                # terminated: it changes nothing and is no error.
                LOG.info("intake.duplicate", vnf_id=vnf_id, op_id=op.op_id, operation=op.operation)
                return
            raise
        if (
            refusal := self._pending_cap_reached(rec, op) or self._parked_refusal(rec, op)
        ) is not None:
            raise refusal
        added = gone = False

        refused: BadRequest | None = None

        def add(rec: VnfRecord) -> bool:
            nonlocal added, gone, refused
            added, refused = False, None  # decided afresh on each read of the record
            if rec.terminated() and not rec.has_seen(op.op_id):
                gone = True  # only the record is left, and it is about to go
                return False
            if rec.has_seen(op.op_id):
                return False
            if (refused := self._pending_cap_reached(rec, op)) is not None:
                return False
            if (refused := self._parked_refusal(rec, op)) is not None:
                return False
            added = rec.add_operation(op)
            size = rec.size()
            if added and size > self.max_record_bytes and op.kind != OperationKind.TERMINATE:
                refused = BadRequest(
                    f"the VNF record would grow to {size} bytes, over the limit of "
                    f"{self.max_record_bytes} ([limits] max_record_bytes)",
                    field="op_id",
                )
                added = False
                return False
            return added

        current: VnfRecord | None = rec  # as just read
        for _ in range(JOURNAL_ATTEMPTS):
            if current is None:
                break
            patch = current.journal_patch(op)
            if patch is None:  # a record of an earlier version: compare-and-swap
                current = await self.store.mutate(vnf_id, add)
                break
            if not add(current):
                break  # nothing to write: a duplicate, refused, or terminated
            try:
                if await self.store.journal(current, patch) is not None:
                    break
            except KubeNotFound:
                current = None
                break
            current = await self.store.get(vnf_id)  # another journal came first
        else:
            raise KubeConflict(
                f"VNF record {vnf_id}: journaling still raced after {JOURNAL_ATTEMPTS} attempts",
                status=409,
            )
        if current is None or gone:
            raise VnfNotFound(f"no VNF {vnf_id!r} (it was terminated)", vnf_id=vnf_id)
        if refused is not None:
            raise refused
        LOG.info(
            "intake.journaled" if added else "intake.duplicate",
            vnf_id=vnf_id,
            op_id=op.op_id,
            operation=op.operation,
        )
        self.enqueue(vnf_id)

    # -- casts -------------------------------------------------------------------
    async def instantiate_vnf(
        self,
        ctx: RequestContext,
        *,
        vnf: dict[str, Any],
        op_id: str,
        vim_id: str | None = None,
        vim_connection_info: dict[str, Any] | None = None,
        package: str | dict[str, Any] | None = None,
        flavour_id: str | None = None,
        instantiation_level_id: str | None = None,
        additional_params: dict[str, Any] | None = None,
    ) -> None:
        vnf_id = str(vnf["id"])
        tenant_id = str(vnf["tenant_id"])
        self._authorize(ctx, tenant_id)
        autoscaling = _autoscaling(additional_params)
        descriptor = await self._descriptor(
            vnfd=vnf.get("vnfd"),
            package=package,
            request=_package_request(
                flavour_id=flavour_id,
                instantiation_level_id=instantiation_level_id,
                additional_params=additional_params,
            ),
            field="vnf.vnfd",
        )
        op = _operation(ctx, op_id=op_id, kind=OperationKind.INSTANTIATE)
        if await self.store.get(vnf_id) is None:
            if op_id in await self.store.tombstone(vnf_id):
                # A late duplicate of a VNF since terminated: answered, not re-run.
                LOG.info("intake.duplicate", vnf_id=vnf_id, op_id=op_id, operation="instantiate")
                return
            placed_on = await self._vim_of(
                ctx,
                tenant_id=tenant_id,
                vim_id=vim_id,
                vim_connection_info=vim_connection_info,
                # A package's namespace (additionalParams) is the VNF's too.
                namespace=vnf.get("namespace") or (additional_params or {}).get("namespace"),
            )
            tenant_label = tenant_label_value(tenant_id)
            labels = {LABEL_MANAGED_BY: MANAGED_BY_VALUE, TENANT_LABEL: tenant_label}
            if len(vnf_id) <= 63:
                labels[LABEL_VNF_ID] = vnf_id
            if placed_on:
                labels[VIM_LABEL] = tenant_label_value(placed_on)
            # One tenant's instantiates are counted and created one at a time on
            # this replica, so the count is exact here; across replicas the
            # recount after the create makes the newest step back.
            # (One small lock per tenant seen, kept: dropping one while a waiter
            # is about to take it would let a newcomer in beside it.)
            async with self._tenant_locks.setdefault(tenant_label, asyncio.Lock()):
                if await self.store.get(vnf_id) is None:
                    await self._create_record(
                        vnf=vnf,
                        descriptor=descriptor,
                        vnf_id=vnf_id,
                        tenant_id=tenant_id,
                        labels=labels,
                        selector=f"{TENANT_LABEL}={tenant_label}",
                        vim_id=placed_on,
                        autoscaling=autoscaling,
                    )
        await self._journal(ctx, vnf_id, op)

    async def _create_record(
        self,
        *,
        vnf: dict[str, Any],
        descriptor: tuple[Any, bool],
        vnf_id: str,
        tenant_id: str,
        labels: dict[str, str],
        selector: str,
        vim_id: str | None = None,
        autoscaling: dict[str, Any] | None = None,
    ) -> None:
        """Create the VNF's record (without its operation), within the tenant's
        limit; BadRequest past it.

        Counted from the records informer while the tenant is far from its
        limit (more than ``TENANT_COUNT_MARGIN`` below it: no number of creates
        in flight on the replicas, unseen by this informer, could reach it), by
        a LIST of the tenant's records near it, with a recount after the create.
        A LIST per instantiate of every record of its tenant made instantiates
        slower the more VNFs the tenant had (bench scale: 29 s per batch of 100
        at 100 VNFs, 92 s at 600)."""
        cached = self._cached_count(selector)
        exact = cached is None or cached + TENANT_COUNT_MARGIN >= self.max_vnfs_per_tenant
        if exact:
            count = len(await self.store.list(selector=selector))
        else:
            assert cached is not None
            count = cached
        if count >= self.max_vnfs_per_tenant:
            raise self._too_many(count)
        # Secret-looking parameters go into a Secret beside the record, never its spec.
        public, secret = split_secret_params(dict(vnf.get("params") or {}))
        # The descriptor first (by content, apart from the record), then the
        # record that references it.
        vnfd_ref = await self.store.descriptors.put(descriptor[0], secret=descriptor[1])
        rec = VnfRecord.new(
            namespace=self.store.namespace,
            vnf_id=vnf_id,
            name=str(vnf.get("name") or ""),
            tenant_id=tenant_id,
            vnf_namespace=vnf.get("namespace"),
            vnfd_ref=vnfd_ref,
            params=public,
            labels=labels,
            vim_id=vim_id,
            autoscaling=autoscaling,
        )
        # Created without its operation: the instantiate is journaled only once
        # the tenant's count allows it, so a record that steps back below was
        # never one any replica could start on.
        try:
            created = await self.store.create(rec, secret_params=secret)
        except KubeConflict:
            pass  # created meanwhile (a redelivery racing us): journal below
        else:
            if not exact:
                return
            # Counted again now that it exists: of instantiates racing each other
            # (here or on other replicas), the ones created last step back.
            tenant_records = await self.store.list(selector=selector)
            order = sorted(
                tenant_records,
                key=lambda r: (r.obj["metadata"].get("creationTimestamp") or "", r.name),
            )
            rank = next((i for i, r in enumerate(order) if r.name == created.name), 0)
            if rank >= self.max_vnfs_per_tenant:
                await self.store.withdraw(created)
                raise self._too_many(len(tenant_records) - 1)

    async def _vim_of(
        self,
        ctx: RequestContext,
        *,
        tenant_id: str,
        vim_id: str | None,
        vim_connection_info: dict[str, Any] | None,
        namespace: str | None,
    ) -> str | None:
        """The registered VIM a new VNF goes on (None: the default VIM); a
        ``vim_connection_info`` with credentials registers or refreshes it."""
        if vim_id in (None, DEFAULT_VIM_ID) and not vim_connection_info:
            return None
        if self.registry is None:
            raise BadRequest("this worker serves no registered VIMs", field="vim_id")
        caller = Caller(tenant_id=ctx.project_id, admin=_is_admin(ctx))
        if vim_connection_info:
            named = await self.registry.from_connection_info(
                caller, vim_connection_info, tenant_id=tenant_id, namespace=namespace
            )
            if vim_id and vim_id != named:
                raise InvalidArguments(
                    "vim_id: names another VIM than vim_connection_info", field="vim_id"
                )
            vim_id = named
        assert vim_id is not None
        vim = await self.registry.usable(vim_id, caller)
        if not vim.registration.usable_by(tenant_id, admin=False):
            # An admin places a tenant's VNF only on a VIM that tenant may use.
            raise VimNotFound(f"no VIM {vim_id!r} for tenant {tenant_id!r}", vim_id=vim_id)
        return vim_id

    # -- the VIM registry (calls, 1.1) ------------------------------------------
    def _registry(self, ctx: RequestContext) -> tuple[VimRegistry, Caller]:
        self._caller(ctx)
        if self.registry is None:
            raise BadRequest("this worker serves no VIM registry")
        return self.registry, Caller(tenant_id=ctx.project_id, admin=_is_admin(ctx))

    async def register_vim(self, ctx: RequestContext, **args: Any) -> dict[str, Any]:
        registry, caller = self._registry(ctx)
        return await registry.register(caller, args)

    async def update_vim(self, ctx: RequestContext, **args: Any) -> dict[str, Any]:
        registry, caller = self._registry(ctx)
        return await registry.update(caller, args)

    async def deregister_vim(self, ctx: RequestContext, *, vim_id: str) -> None:
        registry, caller = self._registry(ctx)
        await registry.deregister(caller, vim_id)

    async def get_vim(self, ctx: RequestContext, *, vim_id: str) -> dict[str, Any]:
        registry, caller = self._registry(ctx)
        return await registry.get(caller, vim_id)

    async def list_vims(self, ctx: RequestContext) -> list[dict[str, Any]]:
        registry, caller = self._registry(ctx)
        return await registry.list(caller)

    # -- a parked operation: retry, roll back, fail (1.2) -----------------------------
    async def retry_operation(
        self, ctx: RequestContext, *, vnf_id: str, op_id: str, target_op_id: str
    ) -> None:
        await self._act_on_parked(ctx, vnf_id, op_id=op_id, target=target_op_id, action="retry")

    async def rollback_operation(
        self, ctx: RequestContext, *, vnf_id: str, op_id: str, target_op_id: str
    ) -> None:
        await self._act_on_parked(ctx, vnf_id, op_id=op_id, target=target_op_id, action="rollback")

    async def fail_operation(
        self, ctx: RequestContext, *, vnf_id: str, op_id: str, target_op_id: str
    ) -> None:
        await self._act_on_parked(ctx, vnf_id, op_id=op_id, target=target_op_id, action="fail")

    async def _act_on_parked(
        self, ctx: RequestContext, vnf_id: str, *, op_id: str, target: str, action: str
    ) -> None:
        """Ask the FAILED_TEMP operation ``target`` to retry, roll back or fail;
        a repeated ``op_id`` changes nothing, also once the VNF is terminated
        (a redelivery after the terminate: the target is in its tombstone)."""
        try:
            await self._record(ctx, vnf_id)
        except VnfNotFound:
            if target in await self.store.tombstone(vnf_id):
                LOG.info(
                    "intake.duplicate",
                    vnf_id=vnf_id,
                    op_id=op_id,
                    operation=action,
                    detail="the VNF was terminated since",
                )
                return
            raise
        refused: BadRequest | None = None
        duplicate = False

        def ask(rec: VnfRecord) -> bool:
            nonlocal refused, duplicate
            refused, duplicate = None, False
            op = rec.find(target)
            if op is not None and op.took_action(op_id):
                duplicate = True
                return False
            if op is None:
                refused = BadRequest(f"the VNF has no operation {target!r}", field="target_op_id")
            elif not op.parked or op.next_action() is not None:
                refused = BadRequest(
                    f"operation {target} is {op.state}, not FAILED_TEMP"
                    + (" (an action on it is pending)" if op.next_action() else ""),
                    field="target_op_id",
                )
            elif action == "rollback" and op.kind not in ROLLBACK_KINDS:
                refused = BadRequest(
                    f"a {op.operation} cannot be rolled back (only instantiate, scale and "
                    "update); retry or fail it",
                    field="target_op_id",
                )
            if refused is not None:
                return False
            assert op is not None
            op.request_action(action, op_id=op_id)
            rec.save_operation(op)
            return True

        await self.store.mutate(vnf_id, ask)
        if refused is not None:
            raise refused
        LOG.info(
            "intake.duplicate" if duplicate else "intake.operation_action",
            vnf_id=vnf_id,
            op_id=op_id,
            target_op_id=target,
            action=action,
        )
        self.enqueue(vnf_id)

    async def terminate_vnf(
        self, ctx: RequestContext, *, vnf_id: str, op_id: str, graceful_timeout: int | None = None
    ) -> None:
        args = {"graceful_timeout": graceful_timeout} if graceful_timeout is not None else {}
        await self._journal(
            ctx,
            vnf_id,
            _operation(ctx, op_id=op_id, kind=OperationKind.TERMINATE, args=args),
        )

    async def scale_vnf(
        self,
        ctx: RequestContext,
        *,
        vnf_id: str,
        op_id: str,
        policy: str,
        type: str,
        steps: int = 1,
    ) -> None:
        await self._journal(
            ctx,
            vnf_id,
            _operation(
                ctx,
                op_id=op_id,
                kind=OperationKind.SCALE,
                args={"policy": policy, "type": type, "steps": steps},
            ),
        )

    async def heal_vnf(
        self,
        ctx: RequestContext,
        *,
        vnf_id: str,
        op_id: str,
        vdus: list[str] | None = None,
        cause: str | None = None,
        vnfc_ids: list[str] | None = None,
        all: bool | None = None,
    ) -> None:
        """Heal pods: those not ready (default), of ``vdus``, the ones
        ``vnfc_ids`` name (pod names or uids; 1.2), or ``all``: the VNF's objects
        recreated (Tacker's heal of the entire VNF; 1.2)."""
        if sum(bool(x) for x in (vdus, vnfc_ids, all)) > 1:
            raise InvalidArguments("heal_vnf: give one of vdus, vnfc_ids and all", field="vnfc_ids")
        args: dict[str, Any] = {"vdus": vdus or [], "cause": cause}
        if vnfc_ids:
            args["vnfc_ids"] = vnfc_ids
        if all:
            args["all"] = True
        await self._journal(
            ctx, vnf_id, _operation(ctx, op_id=op_id, kind=OperationKind.HEAL, args=args)
        )

    async def update_vnf(
        self,
        ctx: RequestContext,
        *,
        vnf_id: str,
        op_id: str,
        vnfd: str | dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        package: str | dict[str, Any] | None = None,
        flavour_id: str | None = None,
        instantiation_level_id: str | None = None,
        additional_params: dict[str, Any] | None = None,
    ) -> None:
        if vnfd is None and package is None and not config:
            raise BadRequest("update_vnf needs a vnfd, a package or a config")
        if package is not None:
            await self._record(ctx, vnf_id)  # the caller's VNF, before its package is read
        args: dict[str, Any] = {"vnfd": None, "config": config}
        if vnfd is not None or package is not None:
            stored, secret = await self._descriptor(
                vnfd=vnfd,
                package=package,
                request=_package_request(
                    flavour_id=flavour_id,
                    instantiation_level_id=instantiation_level_id,
                    additional_params=additional_params,
                ),
                field="vnfd",
            )
            # Stored before it is journaled; the operation keeps its reference.
            args["vnfdRef"] = await self.store.descriptors.put(stored, secret=secret)
        await self._journal(
            ctx,
            vnf_id,
            _operation(ctx, op_id=op_id, kind=OperationKind.UPDATE, args=args),
        )

    async def alarm(
        self,
        ctx: RequestContext,
        *,
        vnf_id: str,
        policy: str,
        trigger: str,
        state: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Queue the alarm in the record; the policy engine decides on it."""
        await self._record(ctx, vnf_id)
        now = time.time()

        def queue_alarm(rec: VnfRecord) -> bool:
            add_alarm(rec, policy=policy, trigger=trigger, state=state, details=details, now=now)
            return True

        await self.store.mutate(vnf_id, queue_alarm)
        LOG.info("intake.alarm", vnf_id=vnf_id, policy=policy, trigger=trigger, state=state)
        self.enqueue(vnf_id)

    async def alert(self, alarm: AlertAlarm) -> str:
        """An Alertmanager alert (the webhook, authenticated by its token, so
        for any tenant's VNF): journaled like ``alarm``, once per alert;
        "accepted" or "duplicate"; VnfNotFound when there is no such VNF."""
        if await self.store.get(alarm.vnf_id) is None:
            raise VnfNotFound(f"no VNF {alarm.vnf_id!r}", vnf_id=alarm.vnf_id)
        now = time.time()
        queued: list[bool] = []

        def queue_alert(rec: VnfRecord) -> bool:
            queued[:] = [
                add_alert(
                    rec,
                    key=alarm.key,
                    policy=alarm.policy,
                    trigger=alarm.trigger,
                    state=alarm.state,
                    details=alarm.details,
                    now=now,
                )
            ]
            return queued[0]

        await self.store.mutate(alarm.vnf_id, queue_alert)
        if not queued or not queued[0]:
            return "duplicate"
        self.enqueue(alarm.vnf_id)
        return "accepted"

    # -- calls ---------------------------------------------------------------------
    async def get_vnf(self, ctx: RequestContext, *, vnf_id: str) -> dict[str, Any]:
        rec = await self._record(ctx, vnf_id)
        return await self.describe(rec, detail=True)

    async def list_vnfs(
        self, ctx: RequestContext, *, tenant_id: str | None = None
    ) -> list[dict[str, Any]]:
        self._caller(ctx)
        if not _is_admin(ctx):
            tenant_id = ctx.project_id  # a project sees its own VNFs, whatever it asks
        if self.cached_records is not None:
            # From the records informer: no LIST of every record (descriptors and
            # all) per call.
            records = [VnfRecord(obj) for obj in self.cached_records()]
        else:
            records = await self.store.list()
        return [
            await self.describe(r, detail=False)
            for r in records
            if tenant_id is None or r.tenant_id == tenant_id
        ]

    async def describe(self, rec: VnfRecord, *, detail: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": rec.vnf_id,
            "name": rec.spec.get("name"),
            "tenant_id": rec.tenant_id,
            "namespace": rec.placed_namespace or rec.vnf_namespace or None,
            "status": rec.status,
            "reason": rec.reason,
            "last_operation": ops[-1].summary() if (ops := rec.operations()) else None,
            "vim_id": rec.vim_id or DEFAULT_VIM_ID,
        }
        objects = await self._objects_of(rec, open_site=detail)
        deployments = {
            (d["metadata"].get("labels") or {}).get(LABEL_VDU): d
            for d in (objects.vnf_workloads(rec.vnf_id, rec.placed_namespace) if objects else [])
        }
        pods = objects.vnf_pods(rec.vnf_id, rec.placed_namespace) if objects else []
        vdus = []
        for name, desired in sorted(rec.desired_replicas.items()):
            dep = deployments.get(name) or {}
            status = dep.get("status") or {}
            vdus.append(
                {
                    "name": name,
                    "desired_replicas": desired,
                    "ready_replicas": int(
                        status.get("readyReplicas", status.get("numberReady", 0))
                    ),
                    "deployment": (dep.get("metadata") or {}).get("name"),
                    "kind": dep.get("kind") or ("Deployment" if dep else None),
                    "ready": bool(dep) and workload_ready(dep),
                    "pods": sorted(
                        p["metadata"]["name"]
                        for p in (
                            objects.vnf_pods(rec.vnf_id, rec.placed_namespace) if objects else []
                        )
                        if (p["metadata"].get("labels") or {}).get(LABEL_VDU) == name
                    ),
                }
            )
        out["vdus"] = vdus
        if not detail:
            return out
        out["objects"] = rec.applied_objects
        out["pods"] = [
            {
                "name": p["metadata"]["name"],
                "vdu": (p["metadata"].get("labels") or {}).get(LABEL_VDU),
                "phase": (p.get("status") or {}).get("phase"),
                "ready": pod_ready(p),
                "ip": (p.get("status") or {}).get("podIP"),
                "node": (p.get("spec") or {}).get("nodeName"),
                "restart_count": sum(
                    int(c.get("restartCount", 0))
                    for c in (p.get("status") or {}).get("containerStatuses") or []
                ),
                "networks": _networks(p),
            }
            for p in sorted(pods, key=lambda p: p["metadata"]["name"])
        ]
        out["operations"] = [op.summary() for op in rec.operations()[-10:]]
        out["vim_status"] = await self._vim_status(rec)
        out["connection_points"] = await self._connection_points(rec, objects)
        return out

    async def _objects_of(self, rec: VnfRecord, *, open_site: bool) -> VnfObjects | None:
        """The VNF's objects as this replica sees them (None: its VIM is not
        open here, or cannot be reached now)."""
        if not rec.vim_id or self.sites is None:
            return self.vnf_objects
        try:
            if open_site:
                return (await self.sites.prepare(rec.vim_id)).objects
            return self.sites.of(rec.vim_id).objects
        except (VimUnavailable, VimGone):
            return None

    async def _vim_status(self, rec: VnfRecord) -> str:
        if not rec.vim_id:
            return "REACHABLE"
        if self.registry is None:
            return "UNKNOWN"
        vim = await self.registry.store.get(rec.vim_id)
        return str(vim.health) if vim is not None else "NOT_REGISTERED"

    async def _connection_points(
        self, rec: VnfRecord, objects: VnfObjects | None
    ) -> list[dict[str, Any]]:
        ns = rec.placed_namespace
        if not ns or objects is None:
            return []
        try:
            services, _ = await objects.kube.list(
                KINDS["Service"], namespace=ns, selector=vnf_selector(rec.vnf_id)
            )
        except KubeUnavailable:
            return []  # its VIM away: the rest of the answer still stands
        return [
            {
                "vdu": (s["metadata"].get("labels") or {}).get(LABEL_VDU),
                "service": s["metadata"]["name"],
                "mgmt_ip_address": s.get("spec", {}).get("clusterIP"),
                "type": s.get("spec", {}).get("type"),
                "ports": [
                    {
                        "port": p.get("port"),
                        "target_port": p.get("targetPort"),
                        "protocol": p.get("protocol"),
                        "node_port": p.get("nodePort"),
                    }
                    for p in s.get("spec", {}).get("ports", [])
                ],
            }
            for s in services
        ]


def _operation(
    ctx: RequestContext, *, op_id: str, kind: OperationKind, args: dict[str, Any] | None = None
) -> Operation:
    """The journal entry of a cast, carrying its request id for the logs."""
    return Operation.new(
        request_id=ctx.request_id,
        op_id=op_id,
        operation=str(kind),
        args=args or {},
        parks=version_is_compatible(REQUEST_VERSION.get(), FAILED_TEMP_VERSION),
    )


def _networks(pod: dict[str, Any]) -> list[dict[str, Any]]:
    raw = (pod["metadata"].get("annotations") or {}).get(NETWORK_STATUS)
    if not raw:
        return []
    try:
        entries = json.loads(raw)
    except ValueError:
        return []
    return [
        {"name": e.get("name"), "interface": e.get("interface"), "ips": e.get("ips", [])}
        for e in entries
        if isinstance(e, dict)
    ]


def _autoscaling(additional_params: Any) -> dict[str, Any] | None:
    """``additionalParams.autoscaling`` (per scaling policy or aspect: its CPU
    target, cooldown, scale-in stabilization and tolerance), checked;
    InvalidArguments naming what is wrong."""
    if not isinstance(additional_params, dict) or "autoscaling" not in additional_params:
        return None
    value = additional_params["autoscaling"]
    problems = autoscaling_problems(value)
    if problems:
        raise InvalidArguments(
            "additional_params: " + "; ".join(problems[:5]), field="additional_params"
        )
    return dict(value)


def _package_request(
    *,
    flavour_id: str | None,
    instantiation_level_id: str | None,
    additional_params: dict[str, Any] | None,
) -> dict[str, Any]:
    """Tacker v2's request fields a package is read with."""
    if additional_params is not None and not isinstance(additional_params, dict):
        raise InvalidArguments("additional_params: expected a mapping", field="additional_params")
    request: dict[str, Any] = {"additionalParams": dict(additional_params or {})}
    if flavour_id:
        request["flavourId"] = str(flavour_id)
    if instantiation_level_id:
        request["instantiationLevelId"] = str(instantiation_level_id)
    return request
