"""The three consumers the intake benchmark times, each run in a fresh process.

(a) ``raw``: an aio-pika ``queue.consume`` callback that decodes the oslo 2.0
    envelope with the stdlib (``json.loads`` twice) and awaits
    ``message.ack()``: the floor any aio-pika-based intake pays.
(b) ``ours``: ``IntakeService`` (decode, validate against the contract,
    de-duplicate, per-VNF ordered pool, ack after the handler returned) with a
    no-op handler and no notifier (valid casts never notify).
(c) ``oslo``: oslo.messaging's own RPC server, ``executor="threading"`` (the
    only executor besides eventlet, which is not monkey-patched here: the
    import alone patches nothing, and the child checks it), a no-op endpoint,
    oslo's defaults otherwise: ``rabbit_qos_prefetch_count = 0`` (unlimited),
    ``executor_thread_pool_size = 64``, the heartbeat thread on.  It acks in
    the consumer thread *before* dispatch (at-most-once), so its last endpoint
    call ends after its last ack.

One clock for all: it starts when the first delivery reaches the client
library (aiormq's ``Channel._on_deliver_frame`` for (a) and (b), oslo's
``RpcAMQPListener.__call__`` for (c); the probe is removed after that first
call) and stops when the last message has been handled *and* acknowledged
(the ``count``-th return of aiormq's ``Channel.basic_ack`` for (a) and (b),
the ``count``-th endpoint return for (c)).  The same probe counts both (a)
and (b), so its small per-ack cost is paid equally.  (b) settles with
``wait=False`` (the ack frame is queued in order for aiormq's writer, not
awaited until drained), so for the very last message the clock may stop a
loop iteration before its frame reaches the socket; the depth check after
the run proves every ack arrived.  CPU seconds of the
whole process (every thread) over the same window are reported too: with
other work on the machine they vary less than wall time.
Logging is the worker's production setup at INFO for all three.

Several processes on one queue (``--processes``): each child is started with
``count`` 0 and ``idle`` seconds, prints READY once it is connected and
waits for a line on stdin before it consumes, so every competing consumer
starts together; it then stops after ``idle`` seconds without a message and
reports its first delivery and last ack on the system-wide monotonic clock,
which the parent combines into one window.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import aio_pika
import aiormq.channel
from oslo_config import cfg

from k8s_worker import conf as worker_conf
from k8s_worker import logs
from k8s_worker.amqp.options import register_oslo_opts

MODES = ("raw", "ours", "oslo")


@dataclass
class Result:
    mode: str
    count: int
    seconds: float
    cpu_seconds: float
    note: str = ""
    started: float = 0.0  # time.monotonic() of the first delivery (comparable across processes)
    ended: float = 0.0  # ... and of the last ack

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def cpu_us_per_msg(self) -> float:
        return 1e6 * self.cpu_seconds / self.count


class _Window:
    """First delivery -> last ack, in wall and process CPU time.

    ``count`` 0: no fixed count; every ack moves the end (see ``until_idle``).
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self.handled = 0
        self.t0 = self.c0 = self.t1 = self.c1 = self.m0 = self.m1 = 0.0

    def start(self) -> None:
        self.t0, self.c0, self.m0 = time.perf_counter(), time.process_time(), time.monotonic()

    def stop(self) -> None:
        self.t1, self.c1, self.m1 = time.perf_counter(), time.process_time(), time.monotonic()

    def handled_one(self) -> bool:
        """Count an ack; True when it was the last one of a fixed count."""
        self.handled += 1
        if not self.count:
            self.stop()
            return False
        if self.handled == self.count:
            self.stop()
            return True
        return False

    def idle_for(self, seconds: float) -> bool:
        return self.handled > 0 and time.perf_counter() - self.t1 > seconds

    def result(self, mode: str, note: str = "") -> Result:
        return Result(
            mode,
            self.handled if not self.count else self.count,
            self.t1 - self.t0,
            self.c1 - self.c0,
            note,
            started=self.m0,
            ended=self.m1,
        )


async def until_idle(window: _Window, idle: float, done: asyncio.Event) -> None:
    """Set ``done`` once messages came and none has for ``idle`` seconds."""
    while not window.idle_for(idle):  # noqa: ASYNC110 (idleness is a time, not an event)
        await asyncio.sleep(0.05)
    done.set()


async def barrier() -> None:
    """READY on stdout, then wait for the parent's line on stdin."""
    print("READY", flush=True)
    await asyncio.to_thread(sys.stdin.readline)


class AiormqProbe:
    """Patches aiormq's Channel: first delivery (once) and every basic_ack."""

    def __init__(self, count: int) -> None:
        self.window = _Window(count)
        self.done = asyncio.Event()
        self._saved: dict[str, Any] = {}

    def install(self) -> AiormqProbe:
        cls = aiormq.channel.Channel
        deliver, ack = cls._on_deliver_frame, cls.basic_ack
        self._saved = {"_on_deliver_frame": deliver, "basic_ack": ack}
        window, done = self.window, self.done

        async def on_deliver(channel: Any, frame: Any) -> None:
            window.start()
            cls._on_deliver_frame = deliver  # type: ignore[method-assign]
            await deliver(channel, frame)

        async def basic_ack(
            channel: Any, delivery_tag: int, multiple: bool = False, wait: bool = True
        ) -> None:
            await ack(channel, delivery_tag, multiple, wait)
            if window.handled_one():
                done.set()

        cls._on_deliver_frame = on_deliver  # type: ignore[method-assign]
        cls.basic_ack = basic_ack  # type: ignore[method-assign]
        return self

    def uninstall(self) -> None:
        for name, value in self._saved.items():
            setattr(aiormq.channel.Channel, name, value)


def bench_conf(url: str, *, prefetch: int | None = None) -> cfg.ConfigOpts:
    """The worker's options for a bench run (fanout queues expire 60 s after use)."""
    conf = cfg.ConfigOpts()
    worker_conf.register_opts(conf)
    conf([], project="bench", default_config_files=[])
    conf.set_override("transport_url", transport_url(url))
    conf.set_override("rabbit_transient_queues_ttl", 60, group="oslo_messaging_rabbit")
    if prefetch is not None:
        conf.set_override("prefetch_count", prefetch, group="intake")
    return conf


def transport_url(url: str) -> str:
    return "rabbit://" + url.split("://", 1)[1]


async def drain_raw(
    url: str, *, queue: str, count: int, prefetch: int, idle: float = 0.0
) -> Result:
    loads = json.loads
    probe = AiormqProbe(count).install()
    try:
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=prefetch)
            source = await channel.get_queue(queue, ensure=False)

            async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                loads(loads(message.body)["oslo.message"])
                await message.ack()

            if not count:
                await barrier()
                watcher = asyncio.create_task(until_idle(probe.window, idle, probe.done))
            await source.consume(on_message)
            await probe.done.wait()
            if not count:
                await watcher
    finally:
        probe.uninstall()
    return probe.window.result("raw", f"prefetch {prefetch}")


async def drain_ours(
    url: str, *, topic: str, host: str, count: int, prefetch: int, idle: float = 0.0
) -> tuple[Result, list[str]]:
    from k8s_worker.intake.service import IntakeService, IntakeSettings
    from tests.doubles.intake import NoopHandler

    conf = bench_conf(url, prefetch=prefetch)
    handler = NoopHandler()
    handler.target = count
    service = IntakeService(IntakeSettings.from_conf(conf, topic=topic, host=host), handler, None)
    probe = AiormqProbe(count).install()
    stop = asyncio.Event()
    try:
        if not count:
            await barrier()
            watcher = asyncio.create_task(until_idle(probe.window, idle, probe.done))
        runner = asyncio.create_task(service.run(stop))
        await probe.done.wait()
        if not count:
            await watcher
        stop.set()
        await runner
    finally:
        probe.uninstall()
    note = f"prefetch {service.prefetch}, concurrency {conf.k8s_worker.concurrency}"
    return probe.window.result("ours", note), service.queues


class _OsloEndpoint:
    """A no-op instantiate_vnf that stops the clock at the count-th call."""

    def __init__(self, window: _Window) -> None:
        self.window = window
        self.done = threading.Event()
        self._lock = threading.Lock()

    def instantiate_vnf(self, ctxt: dict[str, Any], **kwargs: Any) -> None:
        with self._lock:
            if self.window.handled_one():
                self.done.set()


def drain_oslo(
    url: str,
    *,
    topic: str,
    host: str,
    count: int,
    prefetch: int | None,
    timeout: float,
    idle: float = 0.0,
) -> Result:
    import oslo_messaging
    from oslo_messaging._drivers import amqpdriver
    from oslo_utils import eventletutils

    register_oslo_opts(cfg.CONF)
    cfg.CONF([], project="bench", default_config_files=[])
    cfg.CONF.set_override("rabbit_transient_queues_ttl", 60, group="oslo_messaging_rabbit")
    if prefetch is not None:
        cfg.CONF.set_override("rabbit_qos_prefetch_count", prefetch, group="oslo_messaging_rabbit")
    if eventletutils.is_monkey_patched("thread") or eventletutils.is_monkey_patched("socket"):
        raise RuntimeError("eventlet monkey-patched this process: not oslo's threading executor")
    window = _Window(count)
    listener_cls = amqpdriver.RpcAMQPListener
    call = listener_cls.__call__

    def first_call(listener: Any, message: Any) -> None:
        window.start()
        listener_cls.__call__ = call  # type: ignore[method-assign]
        call(listener, message)

    listener_cls.__call__ = first_call  # type: ignore[method-assign]
    transport = oslo_messaging.get_rpc_transport(cfg.CONF, url=transport_url(url))
    endpoint = _OsloEndpoint(window)
    server = oslo_messaging.get_rpc_server(
        transport, oslo_messaging.Target(topic=topic, server=host), [endpoint], executor="threading"
    )
    try:
        if not count:
            asyncio.run(barrier())
        server.start()
        if not count:
            deadline = time.monotonic() + timeout
            while not window.idle_for(idle) and time.monotonic() < deadline:
                time.sleep(0.05)
        elif not endpoint.done.wait(timeout):
            raise TimeoutError(f"oslo handled {window.handled} of {count} in {timeout} s")
    finally:
        listener_cls.__call__ = call  # type: ignore[method-assign]
        server.stop()
        server.wait()
        transport.cleanup()
    rabbit = cfg.CONF.oslo_messaging_rabbit
    note = (
        f"rabbit_qos_prefetch_count {rabbit.rabbit_qos_prefetch_count}"
        f" (0 = unlimited), executor threading x{cfg.CONF.executor_thread_pool_size},"
        f" heartbeat {rabbit.heartbeat_timeout_threshold} s"
    )
    return window.result("oslo", note)


def main(args: Any) -> int:
    """Child entry: drain one pre-loaded queue, print the Result as one JSON line."""
    logs.configure(fmt="json", level="INFO", stream=sys.stderr)
    extra: dict[str, Any] = {}
    if args.mode == "raw":
        result = asyncio.run(
            drain_raw(
                args.url, queue=args.topic, count=args.count, prefetch=args.prefetch, idle=args.idle
            )
        )
    elif args.mode == "ours":
        result, queues = asyncio.run(
            drain_ours(
                args.url,
                topic=args.topic,
                host=args.host,
                count=args.count,
                prefetch=args.prefetch,
                idle=args.idle,
            )
        )
        extra["queues"] = queues
    else:
        result = drain_oslo(
            args.url,
            topic=args.topic,
            host=args.host,
            count=args.count,
            prefetch=args.oslo_prefetch,
            timeout=args.timeout,
            idle=args.idle,
        )
    print(json.dumps({**asdict(result), **extra}), flush=True)
    return 0
