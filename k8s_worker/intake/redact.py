"""Removal of secrets before anything is logged or notified.

The RPC context carries the caller's ``auth_token``; VNF parameters may carry
passwords.  Any key that looks like a secret is replaced by ``***``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"
_SECRET = re.compile(
    r"(auth_?token|token|password|passwd|secret|credential|private_?key|api_?key)", re.I
)


def is_secret_key(key: str) -> bool:
    return bool(_SECRET.search(key))


def redact(value: Any) -> Any:
    """A copy of ``value`` whose secret-looking keys are masked, at any depth."""
    if isinstance(value, Mapping):
        return {
            k: (MASK if isinstance(k, str) and is_secret_key(k) and v is not None else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value
