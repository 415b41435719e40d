"""Answering calls the way oslo.messaging's RPC server does.

One reply per call, ``{"result", "failure", "ending": true, "_msg_id",
"_unique_id"}`` in the 2.0 envelope, published to the default exchange with
routing key ``_reply_q`` and the mandatory flag; while the reply queue is
missing it is retried every 0.25 s for ``kombu_missing_consumer_retry_timeout``
seconds, then abandoned (the caller is gone).  When the caller sent
``_timeout``, a call-monitor heartbeat (``ending: false``) goes out every
``_timeout / 2`` seconds until the reply.  As oslo's
``ObsoleteReplyQueuesCache`` does, a reply queue found missing is remembered
for a minute and later replies to it are dropped at once, so a restarted
conductor's pending calls do not each hold a worker slot for a minute.  A
result that cannot be encoded is answered with a failure instead.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import structlog
import tenacity
from aio_pika.abc import AbstractChannel

from k8s_worker.intake.dispatcher import serialize_failure
from k8s_worker.intake.request import RpcRequest
from k8s_worker.wire.envelope import CONTENT_TYPE, encode

LOG = structlog.get_logger(__name__)

#: oslo's ObsoleteReplyQueuesCache: how many missing reply queues, for how long.
OBSOLETE_SIZE = 200
OBSOLETE_TTL = 60.0


class ReplySender:
    """Sends a call's reply (and its ending message) to the caller's reply queue, in
    oslo.messaging's format; a reply queue that does not exist is retried for
    ``missing_queue_timeout`` and then dropped, as oslo does."""

    def __init__(
        self,
        channel: Callable[[], AbstractChannel | None],
        *,
        missing_queue_timeout: float = 60.0,
    ) -> None:
        self._channel = channel
        self._missing_queue_timeout = missing_queue_timeout
        self._obsolete: collections.OrderedDict[str, float] = collections.OrderedDict()

    def _is_obsolete(self, reply_q: str) -> bool:
        since = self._obsolete.get(reply_q)
        if since is None:
            return False
        if time.monotonic() - since > OBSOLETE_TTL:
            del self._obsolete[reply_q]
            return False
        return True

    def _mark_obsolete(self, reply_q: str) -> None:
        self._obsolete[reply_q] = time.monotonic()
        self._obsolete.move_to_end(reply_q)
        while len(self._obsolete) > OBSOLETE_SIZE:
            self._obsolete.popitem(last=False)

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
        if self._is_obsolete(reply_q):
            LOG.info("intake.reply_dropped_obsolete_queue", msg_id=msg_id, reply_q=reply_q)
            return False
        message = {
            "result": result,
            "failure": json.dumps(failure, default=str) if failure else None,
            "ending": ending,
            "_msg_id": msg_id,
            "_unique_id": uuid.uuid4().hex,
        }
        try:
            body = encode(message)
        except (TypeError, ValueError) as exc:  # a result JSON cannot carry
            LOG.error("intake.reply_unencodable", msg_id=msg_id, error=str(exc))
            message["result"] = None
            message["failure"] = json.dumps(
                serialize_failure(ValueError(f"the result could not be encoded: {exc}"))
            )
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
            if isinstance(exc, aio_pika.exceptions.DeliveryError):
                self._mark_obsolete(reply_q)  # returned unroutable: the caller is gone
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
