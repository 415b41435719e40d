"""The chaos test's holding proxy does what its verdict relies on: held bytes
reach the server only if their client still waits at release."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.functional.tcp_hold import HoldingProxy


async def _recording_server() -> tuple[asyncio.Server, list[bytes]]:
    got: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            got.append(data)
            writer.write(b"ack:" + data)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0), got


@pytest.fixture
async def proxied() -> AsyncIterator[tuple[HoldingProxy, list[bytes]]]:
    """A proxy in front of a server that acks and records what reaches it."""
    server, got = await _recording_server()
    proxy = HoldingProxy("127.0.0.1", server.sockets[0].getsockname()[1])
    await proxy.start()
    try:
        yield proxy, got
    finally:
        await proxy.stop()
        server.close()


async def test_held_bytes_are_delivered_late_to_a_client_that_still_waits(
    proxied: tuple[HoldingProxy, list[bytes]],
) -> None:
    proxy, got = proxied
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"one")
    assert await reader.read(1024) == b"ack:one"
    proxy.hold()
    writer.write(b"two")
    await asyncio.sleep(0.2)
    assert got == [b"one"], "nothing passes while held"
    proxy.release()
    assert await asyncio.wait_for(reader.read(1024), 5) == b"ack:two"
    writer.close()
    assert got == [b"one", b"two"]
    assert proxy.delivered_late == 1 and proxy.dropped == 0


async def test_bytes_of_a_client_that_gave_up_while_held_are_never_delivered(
    proxied: tuple[HoldingProxy, list[bytes]],
) -> None:
    proxy, got = proxied
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"one")
    assert await reader.read(1024) == b"ack:one"
    proxy.hold()
    writer.write(b"stale write")
    await asyncio.sleep(0.1)
    writer.close()  # its timeout passed: the client gives up
    await asyncio.sleep(0.2)
    proxy.release()
    await asyncio.sleep(0.3)
    assert got == [b"one"]
    assert proxy.dropped == 1


async def test_the_hold_starts_at_the_request_it_waits_for(
    proxied: tuple[HoldingProxy, list[bytes]],
) -> None:
    proxy, got = proxied
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    proxy.hold_on(b"/scale")
    writer.write(b"GET /pods")
    assert await reader.read(1024) == b"ack:GET /pods"
    writer.write(b"PATCH /deployments/d/scale")
    await asyncio.wait_for(proxy.triggered.wait(), 5)
    await asyncio.sleep(0.2)
    writer.close()
    await asyncio.sleep(0.2)
    proxy.release()
    await asyncio.sleep(0.3)
    assert got == [b"GET /pods"], "the scale was held, and dropped with its client"


async def _closed(reader: asyncio.StreamReader) -> bool:
    """The proxy closed the connection (an end of stream, or a reset)."""
    try:
        return await asyncio.wait_for(reader.read(1024), 5) == b""
    except ConnectionResetError:
        return True


async def test_an_outage_cuts_open_connections_and_refuses_new_ones_until_it_ends(
    proxied: tuple[HoldingProxy, list[bytes]],
) -> None:
    proxy, got = proxied
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"before")
    assert await reader.read(1024) == b"ack:before"
    proxy.refuse()
    assert await _closed(reader), "cut"
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"during")
    assert await _closed(reader), "refused"
    proxy.accept()
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"after")
    assert await asyncio.wait_for(reader.read(1024), 5) == b"ack:after"
    writer.close()
    assert b"during" not in got
