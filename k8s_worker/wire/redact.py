"""Removal of secrets before anything is logged or notified.

The RPC context carries the caller's ``auth_token``; VNF parameters may carry
passwords.  Any key that looks like a secret is replaced by ``***``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"
# Substrings of secret-looking keys: ours, and every key of oslo.utils'
# mask_dict_password (passphrase, admin_pass, sslkey, encrypted_key, fernetkey,
# the ceph/pacemaker/designate/heat "...key" family, rabbitcookie...).
_SECRET = re.compile(
    r"(auth_?token|token|password|passwd|pswd|passphrase|secret|credential|"
    r"private_?key|api_?key|encrypted_?key|fernet_?key|ssl_?key|client_?key|admin_?key|"
    r"auth_?key|heartbeat_?key|rndc_?key|encryption_?key|cookie|configdrive|"
    r"(^|[_-])pass($|[_-])|adminpass|admin_pass|new_pass)",
    re.I,
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


def split_secret_params(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``params`` as (public, secret): a parameter is secret when its key looks
    like one, or when a key anywhere inside its value does."""
    public: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for key, value in params.items():
        if is_secret_key(str(key)) or redact(value) != value:
            secret[str(key)] = value
        else:
            public[str(key)] = value
    return public, secret


def secret_values(params: Mapping[str, Any]) -> set[str]:
    """Every scalar inside ``params`` as text (what must not leak from them)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for v in value.values():
                walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)
        elif value is not None and value != "":
            found.add(str(value))

    walk(params)
    return found


#: Longest error message stored in a record, a notification or a log line.
MESSAGE_MAX = 2000


def shorten(message: str, limit: int = MESSAGE_MAX) -> str:
    """``message`` cut to about ``limit`` characters, saying how much was cut."""
    if len(message) <= limit:
        return message
    return f"{message[:limit]}... ({len(message) - limit} more characters)"


_SEPARATORS = re.compile(r"[\s:=,;\"'{}\[\]()]+")


def secret_fragments(values: set[str]) -> list[str]:
    """What must not appear in a message about ``values``: each value, each of
    its lines and each word of 4 characters or more (a parser quoting one line
    of a secret config text must not show it); longest first."""
    found: set[str] = set()
    for value in values:
        found.add(value)
        for line in value.splitlines():
            if line.strip():
                found.add(line.strip())
        found.update(w for w in _SEPARATORS.split(value) if len(w) >= 4)
    return sorted(found, key=len, reverse=True)


def scrub(text: str, fragments: list[str]) -> str:
    """``text`` with every fragment replaced by ``***``."""
    for fragment in fragments:
        if fragment in text:
            text = text.replace(fragment, MASK)
    return text
