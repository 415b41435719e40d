"""The seam between the intake and the rest of the worker.

The intake decodes and validates; a ``Handler`` does the work, one async
method per RPC method, called with the request context and the validated
keyword arguments.  For a cast, returning means "the intent is durable" (the
VNF record is written): only then is the message acknowledged.  Raising
``rpc.exceptions.BadRequest`` (or a subclass such as ``VnfNotFound``) means the
request can never succeed: the cast is acknowledged and reported.  Any other
exception leaves the cast unacknowledged so another replica retries it.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from k8s_worker.wire.context import RequestContext


@runtime_checkable
class Handler(Protocol):
    """What the intake calls for each RPC method of ``rpc/contract.py`` (the worker's
    endpoint, or a test double); casts return None, calls their reply; errors are the
    contract's exceptions."""

    async def instantiate_vnf(
        self,
        ctx: RequestContext,
        *,
        vnf: dict[str, Any],
        op_id: str,
        vim_id: str | None,
        vim_connection_info: dict[str, Any] | None,
        package: str | dict[str, Any] | None,
        flavour_id: str | None,
        instantiation_level_id: str | None,
        additional_params: dict[str, Any] | None,
    ) -> None: ...

    async def terminate_vnf(
        self, ctx: RequestContext, *, vnf_id: str, op_id: str, graceful_timeout: int | None
    ) -> None: ...

    async def scale_vnf(
        self,
        ctx: RequestContext,
        *,
        vnf_id: str,
        op_id: str,
        policy: str,
        type: str,
        steps: int,
    ) -> None: ...

    async def heal_vnf(
        self,
        ctx: RequestContext,
        *,
        vnf_id: str,
        op_id: str,
        vdus: list[str] | None,
        cause: str | None,
        vnfc_ids: list[str] | None,
        all: bool | None,
    ) -> None: ...

    async def update_vnf(
        self,
        ctx: RequestContext,
        *,
        vnf_id: str,
        op_id: str,
        vnfd: str | dict[str, Any] | None,
        config: dict[str, Any] | None,
        package: str | dict[str, Any] | None,
        flavour_id: str | None,
        instantiation_level_id: str | None,
        additional_params: dict[str, Any] | None,
    ) -> None: ...

    async def alarm(
        self,
        ctx: RequestContext,
        *,
        vnf_id: str,
        policy: str,
        trigger: str,
        state: str,
        details: dict[str, Any] | None,
    ) -> None: ...

    async def get_vnf(self, ctx: RequestContext, *, vnf_id: str) -> dict[str, Any]: ...

    async def list_vnfs(
        self, ctx: RequestContext, *, tenant_id: str | None
    ) -> list[dict[str, Any]]: ...

    # A FAILED_TEMP operation (1.2).
    async def retry_operation(
        self, ctx: RequestContext, *, vnf_id: str, op_id: str, target_op_id: str
    ) -> None: ...

    async def rollback_operation(
        self, ctx: RequestContext, *, vnf_id: str, op_id: str, target_op_id: str
    ) -> None: ...

    async def fail_operation(
        self, ctx: RequestContext, *, vnf_id: str, op_id: str, target_op_id: str
    ) -> None: ...

    # The VIM registry (1.1): register_vim and update_vim take the contract's
    # fields as keywords (validated before the call).
    async def register_vim(self, ctx: RequestContext, **args: Any) -> dict[str, Any]: ...

    async def update_vim(self, ctx: RequestContext, **args: Any) -> dict[str, Any]: ...

    async def deregister_vim(self, ctx: RequestContext, *, vim_id: str) -> None: ...

    async def get_vim(self, ctx: RequestContext, *, vim_id: str) -> dict[str, Any]: ...

    async def list_vims(self, ctx: RequestContext) -> list[dict[str, Any]]: ...
