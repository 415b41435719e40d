"""An RPC request as oslo.messaging's RPC server sees it.

From the decoded message dict: method, args, version, namespace, the
de-duplication key ``_unique_id``, and for calls ``_msg_id``, ``_reply_q`` and
the call-monitor ``_timeout``; the rest (``_context_*``) is the context.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from k8s_worker.wire.context import RequestContext


class MalformedRequest(ValueError):
    """The message is an object but not an RPC request."""


@dataclass(frozen=True)
class RpcRequest:
    """One decoded oslo.messaging request: method, arguments, version, reply address and
    context (its token redacted wherever it is shown)."""

    method: str
    args: Mapping[str, Any]
    version: str
    namespace: str | None
    unique_id: str | None
    msg_id: str | None
    reply_q: str | None
    client_timeout: Any
    ctx: RequestContext

    @property
    def is_call(self) -> bool:
        return bool(self.msg_id and self.reply_q)

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> RpcRequest:
        method = message.get("method")
        if not isinstance(method, str) or not method:
            raise MalformedRequest("no 'method' string in the message")
        args = message.get("args", {})
        if args is None:
            args = {}
        if not isinstance(args, Mapping):
            raise MalformedRequest("'args' is not an object")
        for key in ("_unique_id", "_msg_id", "_reply_q", "namespace"):
            value = message.get(key)
            if value is not None and not isinstance(value, str):
                raise MalformedRequest(f"'{key}' is a {type(value).__name__}, not a string")
        timeout = message.get("_timeout")
        numeric = isinstance(timeout, int | float) and not isinstance(timeout, bool)
        if timeout is not None and not numeric:
            raise MalformedRequest(f"'_timeout' is a {type(timeout).__name__}, not a number")
        if not isinstance(message.get("version") or "1.0", str | int | float):
            raise MalformedRequest("'version' is not a string")
        return cls(
            method=method,
            args=args,
            version=str(message.get("version") or "1.0"),
            namespace=message.get("namespace"),
            unique_id=message.get("_unique_id"),
            msg_id=message.get("_msg_id"),
            reply_q=message.get("_reply_q"),
            client_timeout=message.get("_timeout"),
            ctx=RequestContext.from_message(message),
        )


def peek_reply_address(message: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(msg_id, reply_q) of a message even when it is not a valid request."""
    msg_id, reply_q = message.get("_msg_id"), message.get("_reply_q")
    return (
        msg_id if isinstance(msg_id, str) else None,
        reply_q if isinstance(reply_q, str) else None,
    )
