"""Bodies compressed by a peer with ``kombu_compression``, as kombu writes them."""

from __future__ import annotations

import pytest
from kombu import compression as kombu_compression

from k8s_worker.wire.envelope import EnvelopeError, compress, decode, encode

MESSAGE = {"method": "get_vnf", "args": {"vnf_id": "v" * 500}, "_unique_id": "u-1"}


@pytest.mark.parametrize("codec", ["gzip", "zlib", "bzip2", "lzma", "xz"])
def test_a_body_compressed_by_kombu_decodes_to_the_message(codec: str) -> None:
    body, content_type = kombu_compression.compress(encode(MESSAGE), codec)
    assert decode(body, compression=content_type) == MESSAGE


def test_our_compression_is_what_kombu_reads() -> None:
    body, content_type = compress(encode(MESSAGE), "gzip")
    assert content_type == "application/x-gzip"
    assert len(body) < len(encode(MESSAGE))
    assert kombu_compression.decompress(body, content_type) == encode(MESSAGE)


def test_an_unknown_codec_is_named_with_the_known_ones() -> None:
    with pytest.raises(EnvelopeError, match=r"'application/x-snappy'.*cannot read.*x-gzip"):
        decode(b"...", compression="application/x-snappy")
    with pytest.raises(EnvelopeError, match=r"unknown compression 'snappy' \(known: .*x-gzip"):
        compress(b"...", "snappy")


def test_a_body_that_does_not_decompress_is_a_clear_error() -> None:
    with pytest.raises(EnvelopeError, match=r"does not decompress as 'application/x-gzip'"):
        decode(encode(MESSAGE), compression="application/x-gzip")


def test_without_the_header_the_body_is_read_as_it_is() -> None:
    assert decode(encode(MESSAGE), compression=None) == MESSAGE


@pytest.mark.parametrize("codec", ["gzip", "bzip2", "xz"])
def test_a_compression_bomb_stops_at_the_limit(codec: str) -> None:
    import tracemalloc

    from k8s_worker.wire.envelope import decompress

    bomb, content_type = kombu_compression.compress(b"\0" * (64 << 20), codec)
    assert len(bomb) < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(EnvelopeError, match="decompresses to more than 16777216 bytes"):
            decode(bomb, compression=content_type)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 48 << 20  # never the whole 64 MiB
    assert decompress(bomb, content_type, limit=64 << 20) == b"\0" * (64 << 20)
