"""The oslo message envelope codec (format 2.0, and the bare 1.0 dict).

An RPC message body is JSON ``{"oslo.version": "2.0", "oslo.message": "<json>"}``;
before envelopes existed (1.0) the body was the message dict itself.
"""

from __future__ import annotations

import json
from typing import Any

ENVELOPE_VERSION = "2.0"
VERSION_KEY = "oslo.version"
MESSAGE_KEY = "oslo.message"
CONTENT_TYPE = "application/json"


class EnvelopeError(ValueError):
    """The body is not an oslo message this worker can read."""


def decode(body: bytes, *, content_encoding: str | None = None) -> dict[str, Any]:
    """The message dict inside an AMQP body, or EnvelopeError saying why not."""
    try:
        outer = json.loads(body.decode(content_encoding or "utf-8"))
    except (UnicodeDecodeError, LookupError) as exc:
        raise EnvelopeError(f"body is not text: {exc}") from None
    except json.JSONDecodeError as exc:
        raise EnvelopeError(f"body is not JSON: {exc.msg} at {exc.pos}") from None
    if not isinstance(outer, dict):
        raise EnvelopeError(f"body is a JSON {type(outer).__name__}, not an object")
    if VERSION_KEY not in outer or MESSAGE_KEY not in outer:
        return outer  # the bare 1.0 form
    version = outer[VERSION_KEY]
    if version != ENVELOPE_VERSION:
        major, _, minor = str(version).partition(".")
        if major != "2" or not minor.isdigit() or int(minor) > 0:
            raise EnvelopeError(f"unsupported envelope version {version!r}")
    inner = outer[MESSAGE_KEY]
    if not isinstance(inner, str):
        raise EnvelopeError("oslo.message is not a JSON string")
    try:
        message = json.loads(inner)
    except json.JSONDecodeError as exc:
        raise EnvelopeError(f"oslo.message is not JSON: {exc.msg} at {exc.pos}") from None
    if not isinstance(message, dict):
        raise EnvelopeError("oslo.message is not a JSON object")
    return message


def encode(message: dict[str, Any]) -> bytes:
    """The 2.0 envelope of ``message`` as an AMQP body."""
    return json.dumps(
        {VERSION_KEY: ENVELOPE_VERSION, MESSAGE_KEY: json.dumps(message, default=str)}
    ).encode()
