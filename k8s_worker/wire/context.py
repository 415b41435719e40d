"""The request context: who asked, from the ``_context_*`` keys of a message.

oslo.messaging packs the caller's context as ``_context_<key>`` entries; the
worker keeps all of them (the handler may need ``request_id`` or
``project_id``) but never shows ``auth_token`` or anything secret-looking.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from k8s_worker.wire.redact import redact

#: The contract version the RPC being served was sent at (set by the intake):
#: what the caller understands (a 1.2 caller can retry a FAILED_TEMP operation).
REQUEST_VERSION: contextvars.ContextVar[str] = contextvars.ContextVar(
    "rpc_request_version", default="1.0"
)

CONTEXT_PREFIX = "_context_"


@dataclass(frozen=True, repr=False)
class RequestContext:
    """The caller's context; ``values`` holds every key, repr hides secrets."""

    values: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> RequestContext:
        return cls(
            {
                k[len(CONTEXT_PREFIX) :]: v
                for k, v in message.items()
                if k.startswith(CONTEXT_PREFIX)
            }
        )

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    @property
    def request_id(self) -> str | None:
        return self.values.get("request_id")

    @property
    def global_request_id(self) -> str | None:
        """The request id that spans services (oslo.context's, set by the API)."""
        return self.values.get("global_request_id")

    @property
    def user_id(self) -> str | None:
        return self.values.get("user_id") or self.values.get("user")

    @property
    def project_id(self) -> str | None:
        return self.values.get("project_id") or self.values.get("tenant")

    @property
    def auth_token(self) -> str | None:
        return self.values.get("auth_token")

    def redacted(self) -> dict[str, Any]:
        """The context safe to log or notify."""
        return redact(self.values)  # a new dict already: no copy first

    def __repr__(self) -> str:
        return f"RequestContext({self.redacted()!r})"

    __str__ = __repr__
