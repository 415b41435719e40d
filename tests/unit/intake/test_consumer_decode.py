"""Compressed and large bodies are decoded off the event loop, without reordering."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

from kombu import compression as kombu_compression

from k8s_worker.intake import consumer as consumer_module
from k8s_worker.intake.consumer import Consumer
from k8s_worker.intake.dispatcher import Dispatcher
from k8s_worker.intake.pool import OrderedPool
from k8s_worker.wire.envelope import encode
from tests.doubles.intake import InMemoryHandler


class _Channel:
    is_closed = False

    def __init__(self) -> None:
        self.settled: list[tuple[str, int]] = []

    async def basic_ack(self, tag: int, wait: bool = True) -> None:
        self.settled.append(("ack", tag))

    async def basic_nack(self, tag: int, requeue: bool = True, wait: bool = True) -> None:
        self.settled.append(("nack", tag))

    async def basic_reject(self, tag: int, requeue: bool = False, wait: bool = True) -> None:
        self.settled.append(("reject", tag))


def _delivery(channel: _Channel, tag: int, body: bytes, compression: str | None) -> Any:
    headers = {"compression": compression} if compression else {}
    props = SimpleNamespace(
        content_encoding="utf-8", headers=headers, content_type="application/json"
    )
    return SimpleNamespace(
        body=body,
        header=SimpleNamespace(properties=props),
        delivery=SimpleNamespace(delivery_tag=tag, redelivered=False),
        channel=channel,
    )


def _cast(op_id: str, padding: int = 0) -> bytes:
    args = {"vnf_id": "v1", "op_id": op_id, "vdus": None, "cause": None}
    message = {"method": "heal_vnf", "args": args, "_unique_id": op_id}
    return encode({**message, "_context_note": "x" * padding})


async def test_a_compressed_body_is_decoded_in_a_thread_and_keeps_its_place(
    monkeypatch: Any,
) -> None:
    loop_thread = threading.get_ident()
    decoded_on: dict[str, int] = {}
    real_decode = consumer_module.decode

    def spying_decode(body: bytes, **kwargs: Any) -> dict[str, Any]:
        message = real_decode(body, **kwargs)
        decoded_on[message["args"]["op_id"]] = threading.get_ident()
        return message

    monkeypatch.setattr(consumer_module, "decode", spying_decode)
    handler = InMemoryHandler()
    consumer = Consumer(
        dispatcher=Dispatcher(handler),  # type: ignore[arg-type]
        pool=OrderedPool(concurrency=4),
        replies=None,  # type: ignore[arg-type]
        notifier=None,
    )
    channel = _Channel()
    big, ctype = kombu_compression.compress(_cast("first", padding=1000), "gzip")
    deliveries = [
        _delivery(channel, 1, big, ctype),
        _delivery(channel, 2, _cast("second"), None),
        _delivery(channel, 3, _cast("third", padding=100 * 1024), None),
        _delivery(channel, 4, _cast("fourth"), None),
    ]
    # As aiormq does: one task per delivery, started in delivery order.
    await asyncio.gather(*(consumer.on_message(d) for d in deliveries))
    for _ in range(100):
        if len(channel.settled) == 4:
            break
        await asyncio.sleep(0.01)
    assert [c.kwargs["op_id"] for c in handler.calls] == ["first", "second", "third", "fourth"]
    assert channel.settled == [("ack", 1), ("ack", 2), ("ack", 3), ("ack", 4)]
    assert decoded_on["first"] != loop_thread and decoded_on["third"] != loop_thread
    assert decoded_on["second"] == loop_thread  # a small plain body stays on the loop


async def test_a_refused_delivery_does_not_let_a_later_one_overtake_a_slow_decode() -> None:
    handler = InMemoryHandler()
    consumer = Consumer(
        dispatcher=Dispatcher(handler),  # type: ignore[arg-type]
        pool=OrderedPool(concurrency=4),
        replies=None,  # type: ignore[arg-type]
        notifier=None,
    )
    channel = _Channel()
    big, ctype = kombu_compression.compress(_cast("first", padding=4 << 20), "gzip")
    deliveries = [
        _delivery(channel, 1, big, ctype),
        _delivery(channel, 2, b"this is not json", None),
        _delivery(channel, 3, _cast("third"), None),
    ]
    await asyncio.gather(*(consumer.on_message(d) for d in deliveries))
    for _ in range(100):
        if len(channel.settled) == 3:
            break
        await asyncio.sleep(0.01)
    assert [c.kwargs["op_id"] for c in handler.calls] == ["first", "third"]
    assert ("reject", 2) in channel.settled
