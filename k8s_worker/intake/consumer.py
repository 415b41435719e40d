"""What happens to each delivered message: decode, check, hand off, settle.

Settlement rules (see the handler module for the seam):
- bad input (envelope, method, version, arguments): a call gets oslo's failure
  reply, a cast a ``*.error`` notification; the message is rejected without
  requeue (dead-lettered where the broker has a dead-letter exchange);
- a call is acknowledged once its one reply is sent;
- a cast is acknowledged once the handler returned (its intent is durable) or
  raised ``BadRequest`` (reported); after any other failure it is parked in
  the delay queue for a backoff and acknowledged (see the parking module: it
  holds no slot and no prefetch window meanwhile, and the VNF's later casts
  wait behind it), up to ``max_delivery_attempts`` deliveries, then it is
  rejected and reported; where it cannot be parked it waits and is requeued;
- a redelivered message whose ``_unique_id`` this replica already completed is
  acknowledged without running again (the ack was lost with the connection).

The consumer sits directly on aiormq (``basic_consume``'s callback receives
the ``DeliveredMessage``): aio-pika's ``IncomingMessage`` wrapper and the
extra task it spawns per delivery cost more than everything below together.
Settling writes the frame without waiting for the socket drain
(``wait=False``): AMQP never confirms an ack anyway, and the frame is queued
in order behind everything written before it.  Nothing is logged on the path
of a valid request; log fields are only built when something goes wrong.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import structlog
from aiormq.abc import DeliveredMessage
from oslo_messaging.rpc.dispatcher import NoSuchMethod, UnsupportedVersion

from k8s_worker.intake.dispatcher import Dispatcher, Prepared, serialize_failure
from k8s_worker.intake.parking import ParkedOrder, RetryParking, parked_attempts
from k8s_worker.intake.pool import OrderedPool
from k8s_worker.intake.replies import ReplySender
from k8s_worker.intake.request import MalformedRequest, RpcRequest, peek_reply_address
from k8s_worker.notify.notifier import Notifier
from k8s_worker.wire.context import RequestContext
from k8s_worker.wire.envelope import EnvelopeError, decode, header_text
from k8s_worker.wire.redact import shorten
from rpc import contract
from rpc.exceptions import BadRequest

LOG = structlog.get_logger(__name__)

Settle = Literal["ack", "requeue", "reject"]
#: Seconds before a failed cast goes back to the queue: doubled per attempt, capped.
REQUEUE_BACKOFF = 1.0
REQUEUE_BACKOFF_MAX = 30.0
#: Bodies larger than this (or compressed) are decoded in a thread.
OFFLOAD_BYTES = 64 * 1024
_REJECTABLE = (EnvelopeError, MalformedRequest, UnsupportedVersion, NoSuchMethod, BadRequest)


class _Lru:
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: collections.OrderedDict[str, int] = collections.OrderedDict()

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str) -> int:
        return self._items.get(key, 0)

    def put(self, key: str, value: int = 1) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def pop(self, key: str) -> None:
        self._items.pop(key, None)


class Consumer:
    """Takes deliveries off the topic queues: decodes and checks each (off the event loop
    when large), runs casts in per-VNF order on the pool, replies to calls, and settles
    every delivery exactly once: acked when done, parked for a retry (or requeued) when it
    failed, dead-lettered and reported past ``max_delivery_attempts``; a redelivered cast
    already done is answered, not run again."""

    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        pool: OrderedPool,
        replies: ReplySender,
        notifier: Notifier | None,
        max_delivery_attempts: int = 3,
        dedup_cache_size: int = 4096,
        parking: RetryParking | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        self._pool = pool
        self._replies = replies
        self._notifier = notifier
        self._max_attempts = max_delivery_attempts
        self._completed = _Lru(dedup_cache_size)
        self._failures = _Lru(dedup_cache_size)
        #: Set once the latest delivery was handed on (see on_message).
        self._turn: asyncio.Future[None] | None = None
        self._parking = parking
        #: Per VNF, the casts parked for a retry, in the order they must run.
        self.order = ParkedOrder()

    async def on_message(self, message: DeliveredMessage) -> None:
        """aiormq's consume callback; returns as soon as the request is queued.

        aiormq runs one callback task per delivery; a body decoded in a thread
        (compressed or large) would let later deliveries overtake it, so each
        delivery is handed to the pool only after the one before it was."""
        previous, mine = self._turn, asyncio.get_running_loop().create_future()
        self._turn = mine
        try:
            await self._take(message, previous, mine)
        finally:
            _pass_turn(previous, mine)

    async def _take(
        self,
        message: DeliveredMessage,
        previous: asyncio.Future[None] | None,
        mine: asyncio.Future[None],
    ) -> None:
        raw: dict[str, Any] = {}
        request: RpcRequest | None = None
        try:
            properties = message.header.properties
            compression = header_text(properties.headers, "compression")
            if compression or len(message.body) > OFFLOAD_BYTES:
                # Decompressing (up to 16 MiB) and parsing a big body take tens of
                # milliseconds: not on the event loop.
                raw = await asyncio.to_thread(
                    decode,
                    message.body,
                    content_encoding=properties.content_encoding,
                    compression=compression,
                )
            else:
                raw = decode(message.body, content_encoding=properties.content_encoding)
            request = RpcRequest.from_message(raw)
            if request.unique_id and request.unique_id in self._completed:
                LOG.info("intake.duplicate_ignored", unique_id=request.unique_id)
                await _settle(message, "ack")
                return
            prepared = self._dispatcher.prepare(request)
        except _REJECTABLE as exc:
            _pass_turn(previous, mine)  # a refusal's reply must not hold later deliveries
            await self._reject(message, raw=raw, request=request, exc=exc)
            return
        except Exception as exc:
            # Input nobody foresaw: still one rejection, never an unsettled message
            # holding a prefetch slot (aiormq would only log the callback's error).
            LOG.error("intake.unreadable", error=repr(exc), exc_info=exc)
            _pass_turn(previous, mine)
            await self._reject(
                message, raw=raw, request=request, exc=MalformedRequest(f"unreadable: {exc!r}")
            )
            return
        if previous is not None and not previous.done():
            await asyncio.shield(previous)  # cancelling us must not cancel it
        self._pool.submit(prepared.vnf_id, functools.partial(self._process, message, prepared))

    async def _process(self, message: DeliveredMessage, prepared: Prepared) -> None:
        """Run one request and settle its message, whatever happens."""
        settled = False

        async def settle(how: Settle) -> None:
            nonlocal settled
            settled = True
            await _settle(message, how)

        try:
            await self._run(message, prepared, settle)
        except Exception as exc:
            LOG.error("intake.unexpected_failure", **_describe(prepared), exc_info=exc)
            if not settled:
                self._line_done(message, prepared)
                await settle("reject")

    async def _run(
        self,
        message: DeliveredMessage,
        prepared: Prepared,
        settle: Callable[[Settle], Awaitable[None]],
    ) -> None:
        request = prepared.request
        if message.channel.is_closed:
            return  # the broker hands it out again, to this replica or another
        if request.unique_id and request.unique_id in self._completed:
            # A redelivery queued behind the original (after a channel loss).
            LOG.info("intake.duplicate_ignored", unique_id=request.unique_id)
            self._line_done(message, prepared)
            await settle("ack")
            return
        line = _line_of(message, prepared)
        if not request.is_call and self.order.must_wait(*line):
            # An earlier cast of this VNF is parked: this one goes behind it.
            delay = self.order.delay_of(line[0])
            if await self._park(message, prepared, attempts=parked_attempts(message), delay=delay):
                self.order.park(*line, delay=delay, head=False)
                await settle("ack")
            else:
                await asyncio.sleep(delay)
                await settle("requeue")
            return
        try:
            if request.is_call and request.client_timeout:
                async with self._replies.call_monitor(request):
                    result = await self._dispatcher.invoke(prepared)
            else:
                result = await self._dispatcher.invoke(prepared)
        except BadRequest as exc:
            if request.is_call:
                await self._reply(request, failure=exc)
            elif not await self._notify_error(prepared.spec.name, request, prepared.kwargs, exc):
                # The conductor would never hear of it: keep the cast and try
                # again later (the attempts are counted), rather than ack it.
                attempts = self._attempts(message, request)
                if attempts < self._max_attempts:
                    await self._retry_later(message, prepared, attempts, settle)
                    _log_outcome("intake.bad_request_unreported", prepared, exc)
                    return
            self._complete(message, prepared)
            await settle("ack")
            _log_outcome("intake.bad_request", prepared, exc)
            return
        except Exception as exc:
            if request.is_call:
                await self._reply(request, failure=exc)
                self._complete(message, prepared)
                await settle("ack")
                LOG.warning(
                    "intake.call_failed", **_describe(prepared), error=repr(exc), exc_info=exc
                )
                return
            attempts = self._attempts(message, request)
            if attempts >= self._max_attempts:
                await self._notify_error(prepared.spec.name, request, prepared.kwargs, exc)
                self._line_done(message, prepared)
                await settle("reject")
                LOG.error(
                    "intake.cast_given_up",
                    **_describe(prepared),
                    attempts=attempts,
                    error=repr(exc),
                    exc_info=exc,
                )
            else:
                parked = await self._retry_later(message, prepared, attempts, settle)
                LOG.warning(
                    "intake.cast_parked" if parked else "intake.cast_requeued",
                    **_describe(prepared),
                    attempts=attempts,
                    error=repr(exc),
                )
            return
        if request.is_call:
            await self._reply(request, result=result)
        self._complete(message, prepared)
        await settle("ack")

    async def _retry_later(
        self,
        message: DeliveredMessage,
        prepared: Prepared,
        attempts: int,
        settle: Callable[[Settle], Awaitable[None]],
    ) -> bool:
        """Park a failed cast for its backoff (True), else wait and requeue it."""
        # Not at once: a short outage of the API server would use up every
        # attempt in milliseconds.
        delay = min(REQUEUE_BACKOFF_MAX, REQUEUE_BACKOFF * 2 ** (attempts - 1))
        self._failures.put(_delivery_key(message, prepared.request), attempts)
        if await self._park(message, prepared, attempts=attempts, delay=delay):
            self.order.park(*_line_of(message, prepared), delay=delay, head=True)
            await settle("ack")
            return True
        await asyncio.sleep(delay)  # the VNF's lane waits with it, in order
        await settle("requeue")
        return False

    async def _park(
        self, message: DeliveredMessage, prepared: Prepared, *, attempts: int, delay: float
    ) -> bool:
        if self._parking is None:
            return False
        try:
            await self._parking.park(message, attempts=attempts, delay=delay)
        except Exception as exc:
            LOG.warning("intake.park_failed", **_describe(prepared), error=repr(exc))
            return False
        return True

    def _line_done(self, message: DeliveredMessage, prepared: Prepared) -> None:
        self.order.done(*_line_of(message, prepared))

    def _complete(self, message: DeliveredMessage, prepared: Prepared) -> None:
        request = prepared.request
        if request.unique_id:
            self._completed.put(request.unique_id)
        self._failures.pop(_delivery_key(message, request))
        self._line_done(message, prepared)

    def _attempts(self, message: DeliveredMessage, request: RpcRequest) -> int:
        """Deliveries so far, this one included (x-delivery-count on quorum queues)."""
        headers = message.header.properties.headers or {}
        count = headers.get("x-delivery-count")
        broker = int(count) + 1 if isinstance(count, int) else 0
        local = self._failures.get(_delivery_key(message, request)) + 1
        parked = parked_attempts(message) + 1
        seen = 2 if getattr(message.delivery, "redelivered", False) else 1
        return max(broker, local, parked, seen)

    async def _reply(
        self, request: RpcRequest, *, result: Any = None, failure: BaseException | None = None
    ) -> None:
        if not request.msg_id or not request.reply_q:
            return
        await self._replies.reply(
            msg_id=request.msg_id,
            reply_q=request.reply_q,
            result=result,
            failure=serialize_failure(failure) if failure is not None else None,
        )

    async def _notify_error(
        self,
        method: str | None,
        request: RpcRequest | None,
        args: Any,
        exc: BaseException,
    ) -> bool:
        """Publish ``<op>.error`` for a refused request; whether it went out."""
        if self._notifier is None:
            return True
        args = args if isinstance(args, dict) else {}
        vnf = args.get("vnf") if isinstance(args.get("vnf"), dict) else {}
        ctx = request.ctx if request is not None else RequestContext()
        payload = {
            "vnf_id": args.get("vnf_id") or vnf.get("id"),
            "tenant_id": vnf.get("tenant_id") or ctx.project_id,
            "op_id": args.get("op_id"),
            "sequence": None,
            "method": method,
            "error": {"type": type(exc).__name__, "message": shorten(str(exc))},
        }
        try:
            await self._notifier.publish(
                contract.error_event_type(method), payload, priority="ERROR", ctx=ctx
            )
        except Exception as nexc:
            LOG.error("intake.error_notification_failed", method=method, error=repr(nexc))
            return False
        return True

    async def _reject(
        self,
        message: DeliveredMessage,
        *,
        raw: dict[str, Any],
        request: RpcRequest | None,
        exc: BaseException,
    ) -> None:
        """Bad input: report it once, then reject without requeue (never loops)."""
        msg_id, reply_q = peek_reply_address(raw)
        method = raw.get("method") if isinstance(raw.get("method"), str) else None
        if msg_id and reply_q:
            await self._replies.reply(
                msg_id=msg_id, reply_q=reply_q, failure=serialize_failure(exc)
            )
        else:
            await self._notify_error(method, request, raw.get("args"), exc)
        await _settle(message, "reject")
        LOG.warning(
            "intake.rejected",
            method=method,
            kind="call" if msg_id else "cast",
            unique_id=raw.get("_unique_id"),
            reason=type(exc).__name__,
            error=str(exc),
            ctx=request.ctx.redacted() if request is not None else None,
        )


def _pass_turn(previous: asyncio.Future[None] | None, mine: asyncio.Future[None]) -> None:
    """Let the next delivery go once this one and every one before it have:
    ``mine`` is done only after ``previous`` is."""
    if mine.done():
        return
    if previous is None or previous.done():
        mine.set_result(None)
    else:
        previous.add_done_callback(lambda _: None if mine.done() else mine.set_result(None))


def _delivery_key(message: DeliveredMessage, request: RpcRequest) -> str:
    """What counts a message's failed deliveries: its _unique_id, else its body."""
    return request.unique_id or "body:" + hashlib.sha256(message.body).hexdigest()


def _line_of(message: DeliveredMessage, prepared: Prepared) -> tuple[str, str]:
    """(VNF, cast) in the parked order: a cast without a VNF is a line of its own."""
    key = _delivery_key(message, prepared.request)
    return (prepared.vnf_id or key, key)


async def _settle(message: DeliveredMessage, how: Settle) -> None:
    """Ack, requeue or reject; a dead channel means the broker redelivers anyway."""
    tag = getattr(message.delivery, "delivery_tag", None)  # a Basic.Deliver has one
    assert tag is not None
    try:
        if how == "ack":
            await message.channel.basic_ack(tag, wait=False)
        elif how == "requeue":
            await message.channel.basic_nack(tag, requeue=True, wait=False)
        else:
            await message.channel.basic_reject(tag, requeue=False, wait=False)
    except Exception as exc:
        LOG.warning("intake.settle_failed", how=how, error=repr(exc))


def _describe(prepared: Prepared) -> dict[str, Any]:
    return {
        "method": prepared.spec.name,
        "vnf_id": prepared.vnf_id,
        "op_id": prepared.op_id,
        "unique_id": prepared.request.unique_id,
        "ctx": prepared.request.ctx.redacted(),
    }


def _log_outcome(event: str, prepared: Prepared, exc: BaseException) -> None:
    LOG.warning(event, **_describe(prepared), error=str(exc), reason=type(exc).__name__)
