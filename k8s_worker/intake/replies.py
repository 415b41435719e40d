"""Answering calls the way oslo.messaging's RPC server does.

One reply per call, ``{"result", "failure", "ending": true, "_msg_id",
"_unique_id"}`` in the 2.0 envelope, published to the default exchange with
routing key ``_reply_q`` and the mandatory flag; while the reply queue is
missing it is retried every 0.25 s for ``kombu_missing_consumer_retry_timeout``
seconds, then abandoned (the caller is gone).  When the caller sent
``_timeout``, a call-monitor heartbeat (``ending: false``) goes out every
``_timeout / 2`` seconds until the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import structlog
import tenacity
from aio_pika.abc import AbstractChannel

from k8s_worker.intake.envelope import CONTENT_TYPE, encode
from k8s_worker.intake.request import RpcRequest

LOG = structlog.get_logger(__name__)


class ReplySender:
    def __init__(
        self,
        channel: Callable[[], AbstractChannel | None],
        *,
        missing_queue_timeout: float = 60.0,
    ) -> None:
        self._channel = channel
        self._missing_queue_timeout = missing_queue_timeout

    async def reply(
        self,
        *,
        msg_id: str,
        reply_q: str,
        result: Any = None,
        failure: dict[str, Any] | None = None,
        ending: bool = True,
    ) -> bool:
        """Send one reply; False when it had to be abandoned."""
        message = {
            "result": result,
            "failure": json.dumps(failure, default=str) if failure else None,
            "ending": ending,
            "_msg_id": msg_id,
            "_unique_id": uuid.uuid4().hex,
        }
        body = encode(message)
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_delay(self._missing_queue_timeout),
            wait=tenacity.wait_fixed(0.25),
            retry=tenacity.retry_if_exception_type(Exception),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    channel = self._channel()
                    if channel is None or channel.is_closed:
                        raise ConnectionError("no open reply channel")
                    await channel.default_exchange.publish(
                        aio_pika.Message(body, content_type=CONTENT_TYPE, content_encoding="utf-8"),
                        routing_key=reply_q,
                        mandatory=True,
                    )
        except Exception as exc:
            LOG.error("intake.reply_abandoned", msg_id=msg_id, reply_q=reply_q, error=str(exc))
            return False
        return True

    @contextlib.asynccontextmanager
    async def call_monitor(self, request: RpcRequest) -> AsyncIterator[None]:
        """Heartbeats every _timeout/2 s while the body runs (oslo's _watchdog)."""
        interval = _heartbeat_interval(request.client_timeout)
        if not interval or not request.msg_id or not request.reply_q:
            yield
            return
        msg_id, reply_q = request.msg_id, request.reply_q

        async def beat() -> None:
            while True:
                await asyncio.sleep(interval)
                LOG.debug("intake.call_monitor_heartbeat", msg_id=msg_id)
                await self.reply(msg_id=msg_id, reply_q=reply_q, ending=False)

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _heartbeat_interval(client_timeout: Any) -> float | None:
    if not client_timeout:
        return None
    try:
        interval = int(client_timeout) / 2
    except (TypeError, ValueError):
        return None
    return interval if interval >= 1 else None
