"""A loopback proxy that can hold a client's traffic, as a network that stops
delivering would, and release it later; or refuse it (an outage: open
connections cut, new ones closed at once) until it accepts again.

It may terminate TLS (``server_ssl``, and ``upstream_ssl`` towards the real
server), so that :meth:`HoldingProxy.hold_on` can start the hold at the very
request a test wants caught in flight (a Deployment's scale, say).

While held, bytes read from either side are buffered, not forwarded.  On
release, each connection whose client is still waiting gets its bytes
delivered (late); a connection its client gave up on meanwhile (closed) is
dropped with whatever it had buffered, as a request abandoned in a stalled
network is.  So what reaches the server late is exactly what the client
still wanted: the fenced client must have given up on writes past its lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl


class HoldingProxy:
    """Forwards 127.0.0.1:<port> to ``upstream``; :meth:`hold` / :meth:`release`."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        server_ssl: ssl.SSLContext | None = None,
        upstream_ssl: ssl.SSLContext | None = None,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.server_ssl = server_ssl
        self.upstream_ssl = upstream_ssl
        self.trigger: bytes | None = None
        self.triggered = asyncio.Event()
        self.port = 0
        self.held = 0  # connections that had bytes held
        self.dropped = 0  # connections abandoned by their client while held
        self.delivered_late = 0  # connections whose held bytes were delivered
        self._released = asyncio.Event()
        self._released.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.refusing = False

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.server_ssl)
        self.port = self._server.sockets[0].getsockname()[1]

    def hold(self) -> None:
        self._released.clear()

    def hold_on(self, pattern: bytes) -> None:
        """Hold everything from the first client bytes containing ``pattern``
        (those bytes included); :attr:`triggered` is set then."""
        self.triggered.clear()
        self.trigger = pattern

    def _check_trigger(self, window: bytes) -> None:
        if self.trigger is not None and self.trigger in window:
            self.trigger = None
            self.hold()
            self.triggered.set()

    def release(self) -> None:
        self._released.set()

    def refuse(self) -> None:
        """An outage: every open connection is cut, and new ones are closed as
        soon as they are accepted, until :meth:`accept`."""
        self.refusing = True
        for task in list(self._tasks):
            task.cancel()

    def accept(self) -> None:
        self.refusing = False

    async def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.refusing:
            client_w.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            server_r, server_w = await asyncio.open_connection(
                *self.upstream,
                ssl=self.upstream_ssl,
                server_hostname=self.upstream[0] if self.upstream_ssl else None,
            )
        except OSError:
            client_w.close()
            self._tasks.discard(task)
            return
        conn = _Connection()
        try:
            await asyncio.gather(
                self._pump(client_r, server_w, conn=conn, from_client=True),
                self._pump(server_r, client_w, conn=conn, from_client=False),
            )
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for writer in (client_w, server_w):
                writer.close()
            self._tasks.discard(task)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        conn: _Connection,
        from_client: bool,
    ) -> None:
        """Copy ``reader`` to ``writer``; while held, buffer instead."""
        buffered = bytearray()
        changed = asyncio.Event()
        eof = False

        async def read_all() -> None:
            nonlocal eof
            tail = b""
            while data := await reader.read(65536):
                if from_client and self.trigger is not None:  # armed: look for it
                    self._check_trigger(tail + data)
                    tail = data[-256:]
                buffered.extend(data)
                if not self._released.is_set() and not conn.late:
                    conn.late = True
                    self.held += 1
                changed.set()
            eof = True
            if from_client and not self._released.is_set():
                conn.abandoned = True  # the client gave up while held
                self.dropped += 1
            conn.wake()
            changed.set()

        reading = asyncio.create_task(read_all())
        conn.wakers.append(changed)
        try:
            while True:
                await changed.wait()
                changed.clear()
                await self._released.wait()
                if conn.abandoned:
                    return  # what it had sent is never delivered
                if buffered:
                    if conn.late and not conn.delivered:
                        conn.delivered = True
                        self.delivered_late += 1
                    data = bytes(buffered)
                    buffered.clear()
                    writer.write(data)
                    await writer.drain()
                if eof and not buffered:
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                    return
        finally:
            reading.cancel()


class _Connection:
    """What the two directions of one proxied connection share."""

    def __init__(self) -> None:
        self.abandoned = False
        self.late = False  # it had bytes held
        self.delivered = False  # its held bytes were delivered
        self.wakers: list[asyncio.Event] = []

    def wake(self) -> None:
        for event in self.wakers:
            event.set()
