"""The oslo message envelope codec (format 2.0, and the bare 1.0 dict).

An RPC message body is JSON ``{"oslo.version": "2.0", "oslo.message": "<json>"}``;
before envelopes existed (1.0) the body was the message dict itself.  A peer
with ``[oslo_messaging_rabbit] kombu_compression`` compresses the body and names
the codec in the ``compression`` header; kombu's own codec table reads it.
"""

from __future__ import annotations

import bz2
import json
import lzma
import zlib
from collections.abc import Mapping
from typing import Any

from kombu import compression as kombu_compression

ENVELOPE_VERSION = "2.0"
VERSION_KEY = "oslo.version"
MESSAGE_KEY = "oslo.message"
CONTENT_TYPE = "application/json"


class EnvelopeError(ValueError):
    """The body is not an oslo message this worker can read."""


def compress(body: bytes, compression: str) -> tuple[bytes, str]:
    """``body`` compressed with kombu's codec ``compression``, and the header value
    that names it (what oslo sends with ``kombu_compression``).
    """
    try:
        return kombu_compression.compress(body, compression)
    except KeyError:
        known = ", ".join(sorted(kombu_compression.encoders()))
        raise EnvelopeError(f"unknown compression {compression!r} (known: {known})") from None


#: Largest body a compressed message may expand to (a "zip bomb" stops here).
MAX_DECOMPRESSED = 16 * 1024 * 1024
#: kombu's codecs, streamed so that decompression stops at the limit.
_STREAMING: dict[str, Any] = {
    "application/x-gzip": lambda: zlib.decompressobj(),
    "application/x-bz2": bz2.BZ2Decompressor,
    "application/x-lzma": lzma.LZMADecompressor,
}


def decompress(body: bytes, compression: str, *, limit: int = MAX_DECOMPRESSED) -> bytes:
    """``body`` decompressed with kombu's codec ``compression`` (a type or an
    alias); EnvelopeError when it would expand past ``limit`` bytes."""
    ctype = getattr(kombu_compression, "_aliases", {}).get(compression, compression)
    factory = _STREAMING.get(ctype)
    if factory is not None:
        try:
            out = factory().decompress(body, limit + 1)
        except Exception as exc:  # each codec has its own error class
            raise EnvelopeError(f"body does not decompress as {compression!r}: {exc}") from None
        if len(out) > limit:
            raise EnvelopeError(f"body decompresses to more than {limit} bytes")
        return bytes(out)
    try:
        decoder = kombu_compression.get_decoder(compression)
    except KeyError:
        known = ", ".join(sorted(kombu_compression.encoders()))
        raise EnvelopeError(
            f"body is compressed with {compression!r}, which this worker cannot read "
            f"(it reads {known})"
        ) from None
    try:
        out = decoder(body)
    except Exception as exc:  # each codec has its own error class
        raise EnvelopeError(f"body does not decompress as {compression!r}: {exc}") from None
    if len(out) > limit:
        raise EnvelopeError(f"body decompresses to more than {limit} bytes")
    return out


def decode(
    body: bytes, *, content_encoding: str | None = None, compression: str | None = None
) -> dict[str, Any]:
    """The message dict inside an AMQP body, or EnvelopeError saying why not."""
    if compression:
        body = decompress(body, compression)
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


def header_text(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """An AMQP header's value as text (None when absent): kombu writes the
    ``compression`` header as a string, other clients may send bytes."""
    value = (headers or {}).get(name)
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)
