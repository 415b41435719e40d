"""Matching a request to the contract and invoking the handler.

The checks are oslo's RPCDispatcher's: a namespace or version the worker
does not serve raises oslo's ``UnsupportedVersion``, an unknown method its
``NoSuchMethod`` (so the client rebuilds the same classes); arguments are then
validated with the contract.  ``oslo_rpc_server_ping`` answers ``"pong"``.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

from oslo_messaging.rpc.dispatcher import NoSuchMethod, UnsupportedVersion

from k8s_worker.intake.handler import Handler
from k8s_worker.intake.request import RpcRequest
from rpc import contract

_REMOTE_POSTFIX = "_Remote"


@dataclass(frozen=True)
class Prepared:
    """A request that passed every check: ready for the handler."""

    request: RpcRequest
    spec: contract.MethodSpec
    kwargs: dict[str, Any]

    @property
    def vnf_id(self) -> str | None:
        return self.spec.vnf_id(self.kwargs)

    @property
    def op_id(self) -> str | None:
        value = self.kwargs.get("op_id")
        return value if isinstance(value, str) else None


class Dispatcher:
    def __init__(self, handler: Handler, *, served_version: str = contract.SERVED_VERSION) -> None:
        self._handler = handler
        self._served = served_version

    def prepare(self, request: RpcRequest) -> Prepared:
        """Check namespace, version, method and arguments (raises on the first bad one)."""
        if request.namespace != contract.NAMESPACE or not contract.version_is_compatible(
            self._served, request.version
        ):
            raise UnsupportedVersion(request.version, method=request.method)
        spec = contract.METHODS.get(request.method)
        if spec is None or (
            spec.name != contract.PING_METHOD and not hasattr(self._handler, spec.name)
        ):
            raise NoSuchMethod(request.method)
        if not contract.version_is_compatible(request.version, spec.since):
            raise UnsupportedVersion(request.version, method=request.method)
        return Prepared(request=request, spec=spec, kwargs=spec.validate(request.args))

    async def invoke(self, prepared: Prepared) -> Any:
        if prepared.spec.name == contract.PING_METHOD:
            return "pong"
        method = getattr(self._handler, prepared.spec.name)
        return await method(prepared.request.ctx, **prepared.kwargs)


def serialize_failure(exc: BaseException) -> dict[str, Any]:
    """oslo's serialize_remote_exception (before its final json.dumps)."""
    cls_name = type(exc).__name__
    mod_name = type(exc).__module__
    if cls_name.endswith(_REMOTE_POSTFIX) and mod_name.endswith(_REMOTE_POSTFIX):
        cls_name, mod_name = cls_name[: -len(_REMOTE_POSTFIX)], mod_name[: -len(_REMOTE_POSTFIX)]
    return {
        "class": cls_name,
        "module": mod_name,
        "message": str(exc),
        "tb": traceback.format_exception(type(exc), exc, exc.__traceback__),
        "args": list(exc.args),
        "kwargs": dict(getattr(exc, "kwargs", {}) or {}),
    }
