"""What a Kubernetes API failure means for the caller.

Callers decide by class, never by parsing messages: ``KubeUnavailable`` (429,
5xx, timeouts, a dead connection) is worth retrying with backoff;
``KubeConflict`` (409) means re-read and try again; ``KubeGone`` (410) means a
watch must re-list; ``KubeNotFound`` is often an answer, not a failure; and
``KubeRejected`` (400, 401, 403, 422, ...) will not get better by retrying, so
it fails at once with the API server's own message.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException


class KubeError(Exception):
    """A Kubernetes API request failed; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class KubeUnavailable(KubeError):
    """The API server did not answer usefully (429, 5xx, timeout, connection lost)."""


class KubeConflict(KubeError):
    """409: the object changed (resourceVersion) or already exists."""


class KubeGone(KubeError):
    """410: the resourceVersion is too old; a watch must re-list."""


class KubeNotFound(KubeError):
    """404: no such object (or no such resource type)."""


class KubeRejected(KubeError):
    """A 4xx that retrying cannot fix: invalid object, forbidden, unauthorized."""


def _status_message(body: Any) -> tuple[str, str]:
    """The ``message`` and ``reason`` of a Kubernetes Status body, if it is one."""
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return body.strip()[:500], ""
    if isinstance(body, dict):
        return str(body.get("message", "")), str(body.get("reason", ""))
    return "", ""


def from_api_exception(exc: ApiException, *, what: str, body: Any = None) -> KubeError:
    status = int(exc.status or 0)
    message, reason = _status_message(body if body is not None else exc.body)
    text = f"{what}: {message or exc.reason or 'HTTP ' + str(status)}"
    if status == 409:
        return KubeConflict(text, status=status, reason=reason)
    if status == 410:
        return KubeGone(text, status=status, reason=reason)
    if status == 404:
        return KubeNotFound(text, status=status, reason=reason)
    if status == 413 or "request is too large" in message.lower():
        # etcd's limit (a 500 from the API server): retrying cannot help.
        return KubeRejected(text, status=status, reason="RequestTooLarge")
    if status == 429 or status >= 500 or status == 0:
        return KubeUnavailable(text, status=status, reason=reason)
    return KubeRejected(text, status=status, reason=reason)


def classify(exc: BaseException, *, what: str) -> KubeError | None:
    """Map a low-level exception to a KubeError, or None if it is not an API failure."""
    if isinstance(exc, KubeError):
        return exc
    if isinstance(exc, ApiException):
        return from_api_exception(exc, what=what)
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | ConnectionError | OSError):
        return KubeUnavailable(f"{what}: {type(exc).__name__}: {exc}")
    return None
