"""Exceptions that cross the wire: raised by the worker, rebuilt by the conductor.

oslo.messaging serializes a failed call as class, module, message, args and
kwargs; an RPC client rebuilds the same class when this module is listed in
its transport's ``allowed_remote_exmods`` (see ``rpc.client.get_transport``).
Every class here takes ``(message, **kwargs)`` so that rebuild works.
"""

from __future__ import annotations

from typing import Any


class WorkerError(Exception):
    """Base of every error the worker reports to its RPC peer."""

    def __init__(self, message: str = "", **kwargs: Any) -> None:
        super().__init__(message)
        self.kwargs: dict[str, Any] = kwargs

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class BadRequest(WorkerError):
    """The request can never succeed as sent; retrying it changes nothing."""


class InvalidArguments(BadRequest):
    """An argument is missing, of the wrong type or out of range (kwargs: field)."""


class VnfNotFound(BadRequest):
    """The worker fleet manages no VNF with this id (kwargs: vnf_id)."""


class Forbidden(BadRequest):
    """The caller's project may not act on this VNF or tenant (kwargs: tenant_id)."""


class VimNotFound(BadRequest):
    """No VIM with this id is registered, or the caller may not use it (another
    tenant's VIM is not found either: nothing tells that it exists) (kwargs: vim_id)."""


class VimRefused(BadRequest):
    """A VIM registration (or refresh) was refused; nothing was registered or changed.
    kwargs: ``reason`` (Unauthorized, PermissionMissing, EndpointNotAllowed,
    CertificateRequired, CredentialsRefused, Unreachable, InvalidCredentials,
    NamespaceNotGranted, VimExists), ``vim_id``, and for PermissionMissing ``missing``
    (the permissions, as text)."""


class VimInUse(BadRequest):
    """The VIM cannot be deregistered while VNFs use it (kwargs: vim_id, vnfs: how many)."""


class OperationInFailedTemp(BadRequest):
    """The VNF's current operation is FAILED_TEMP: it takes no other operation until
    that one is retried, rolled back or failed (kwargs: op_id, the parked one)."""
