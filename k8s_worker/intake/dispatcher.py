"""Matching a request to the contract and invoking the handler.

The checks are oslo's RPCDispatcher's: a namespace or version the worker
does not serve raises oslo's ``UnsupportedVersion``, an unknown method its
``NoSuchMethod`` (so the client rebuilds the same classes); arguments are then
validated with the contract.  ``oslo_rpc_server_ping`` answers ``"pong"``.

Per message only the arguments are validated: the outcome of the namespace,
version and method checks is remembered per (namespace, version, method)
that passed them (a bounded table), and the handler's bound method and the
VNF key are looked up once, when the request is prepared.
"""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from oslo_messaging.rpc.dispatcher import NoSuchMethod, UnsupportedVersion

from k8s_worker.intake.handler import Handler
from k8s_worker.intake.request import RpcRequest
from k8s_worker.wire.context import REQUEST_VERSION
from rpc import contract

_REMOTE_POSTFIX = "_Remote"
#: How many distinct (namespace, version, method) outcomes are remembered.
_CHECKED_MAX = 256

Method = Callable[..., Awaitable[Any]]


@dataclass(slots=True)
class Prepared:
    """A request that passed every check: ready for the handler."""

    request: RpcRequest
    spec: contract.MethodSpec
    kwargs: dict[str, Any]
    #: The VNF the request is about: the key of per-VNF ordering.
    vnf_id: str | None = None
    #: The handler's bound method (None for the ping).
    method: Method | None = None

    @property
    def op_id(self) -> str | None:
        value = self.kwargs.get("op_id")
        return value if isinstance(value, str) else None


async def _pong(ctx: Any) -> str:
    return "pong"


class Dispatcher:
    """Checks a request against ``rpc/contract.py`` (namespace, version, method, arguments)
    and calls the handler's method; raises a contract exception on the first thing wrong."""

    def __init__(self, handler: Handler, *, served_version: str = contract.SERVED_VERSION) -> None:
        self._handler = handler
        self._served = served_version
        self._checked: dict[tuple[str | None, str, str], tuple[contract.MethodSpec, Method]] = {}

    def prepare(self, request: RpcRequest) -> Prepared:
        """Check namespace, version, method and arguments (raises on the first bad one)."""
        key = (request.namespace, request.version, request.method)
        checked = self._checked.get(key)
        if checked is None:
            checked = self._check(request)
            if len(self._checked) < _CHECKED_MAX:
                self._checked[key] = checked
        spec, method = checked
        kwargs = spec.validate(request.args)
        return Prepared(request, spec, kwargs, spec.vnf_id(kwargs), method)

    def _check(self, request: RpcRequest) -> tuple[contract.MethodSpec, Method]:
        if request.namespace != contract.NAMESPACE or not contract.version_is_compatible(
            self._served, request.version
        ):
            raise UnsupportedVersion(request.version, method=request.method)
        spec = contract.METHODS.get(request.method)
        if spec is None:
            raise NoSuchMethod(request.method)
        if spec.name == contract.PING_METHOD:
            method: Method = _pong
        else:
            method = getattr(self._handler, spec.name, None)  # type: ignore[assignment]
            if method is None:
                raise NoSuchMethod(request.method)
        if not contract.version_is_compatible(request.version, spec.since):
            raise UnsupportedVersion(request.version, method=request.method)
        return spec, method

    async def invoke(self, prepared: Prepared) -> Any:
        assert prepared.method is not None
        token = REQUEST_VERSION.set(prepared.request.version)
        try:
            return await prepared.method(prepared.request.ctx, **prepared.kwargs)
        finally:
            REQUEST_VERSION.reset(token)


def serialize_failure(exc: BaseException) -> dict[str, Any]:
    """oslo's serialize_remote_exception (before its final json.dumps)."""
    cls_name = type(exc).__name__
    mod_name = type(exc).__module__
    if cls_name.endswith(_REMOTE_POSTFIX) and mod_name.endswith(_REMOTE_POSTFIX):
        cls_name, mod_name = cls_name[: -len(_REMOTE_POSTFIX)], mod_name[: -len(_REMOTE_POSTFIX)]
    kwargs = getattr(exc, "kwargs", None)
    return {
        "class": cls_name,
        "module": mod_name,
        "message": str(exc),
        "tb": traceback.format_exception(type(exc), exc, exc.__traceback__),
        "args": list(exc.args),
        "kwargs": dict(kwargs) if isinstance(kwargs, Mapping) else {},
    }
