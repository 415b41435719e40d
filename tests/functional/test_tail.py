"""``k8s-worker-tail`` against a real broker and real notifications.

The tool runs as a subprocess (``python -m k8s_worker.cmd.tail``) on an
exchange and topic of its own; notifications come from the worker's
``Notifier`` and from an unmodified oslo.messaging ``Notifier`` (messagingv2);
the tests parse what the tool prints, as a script or an operator would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import re
import shutil
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aio_pika
import oslo_messaging
import pytest
from oslo_config import cfg
from oslo_context.context import RequestContext

from k8s_worker.amqp.options import register_oslo_opts
from k8s_worker.notify.notifier import PRIORITIES, Notifier, NotifierSettings
from tests.doubles.intake import oslo_rpc_client

ROOT = pathlib.Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
VNF_A = "3f2a9c1e-7d41-4b7e-9d1c-2a5b8e6f0c11"
VNF_B = "b7c0d2e4-1111-2222-3333-444455556666"


def _payload(vnf_id: str, sequence: int, *, tenant: str = "tenant-a", **extra: Any) -> dict:
    return {"vnf_id": vnf_id, "tenant_id": tenant, "sequence": sequence, **extra}


class TailProcess:
    """The tool as a subprocess; stdout is a pipe unless a pty fd is given."""

    def __init__(self, *args: str, stdout: int | None = None) -> None:
        self.argv = [sys.executable, "-m", "k8s_worker.cmd.tail", *args]
        self._stdout = stdout
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr: list[str] = []
        self.listening: dict[str, Any] = {}
        self._drain: asyncio.Task[None] | None = None
        self._read: list[str] = []

    async def start(self, *, within: float = 30.0) -> TailProcess:
        env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdout=asyncio.subprocess.PIPE if self._stdout is None else self._stdout,
            stderr=asyncio.subprocess.PIPE,
            cwd=ROOT,
            env=env,
        )
        await asyncio.wait_for(self._until_listening(), within)
        self._drain = asyncio.create_task(self._read_stderr())
        return self

    async def _until_listening(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while True:
            raw = await self.proc.stderr.readline()
            if not raw:
                raise RuntimeError("tail exited before listening:\n" + "\n".join(self.stderr))
            line = raw.decode().rstrip()
            self.stderr.append(line)
            record = _json_or_none(line)
            if record is not None and record.get("event") == "tail.listening":
                self.listening = record
                return

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.stderr.append(raw.decode().rstrip())

    async def read_until(self, text: str, *, within: float = 30.0) -> None:
        """Read stdout lines until one contains ``text``; ``finish`` still returns them."""
        assert self.proc is not None and self.proc.stdout is not None
        while not self._read or text not in self._read[-1]:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), within)
            if not raw:
                raise AssertionError(f"tail exited before printing {text!r}: {self._read}")
            self._read.append(raw.decode().rstrip("\n"))

    async def finish(self, *, within: float = 30.0) -> tuple[int, list[str]]:
        """Wait for the exit; the return code and the stdout lines."""
        assert self.proc is not None
        out = b""
        if self._stdout is None:
            assert self.proc.stdout is not None
            out = await asyncio.wait_for(self.proc.stdout.read(), within)
        code = await asyncio.wait_for(self.proc.wait(), within)
        if self._drain is not None:
            await asyncio.wait_for(self._drain, within)
        return code, self._read + out.decode().splitlines()

    def send(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


def _json_or_none(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@pytest.fixture
async def names(amqp_url: str) -> AsyncIterator[dict[str, str]]:
    """An exchange, topic and queue name for one test; all deleted afterwards."""
    suffix = uuid.uuid4().hex[:8]
    names = {
        "exchange": f"tkw_tail_x_{suffix}",
        "topic": f"tkw_tail_{suffix}",
        "queue": f"tkw_tail_q_{suffix}",
    }
    yield names
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        # the publishers' default queues (one per priority), the tool's kept queue
        for queue in [f"{names['topic']}.{p.lower()}" for p in PRIORITIES] + [names["queue"]]:
            channel = await connection.channel()
            await channel.queue_delete(queue)
        channel = await connection.channel()
        await channel.exchange_delete(names["exchange"])


@pytest.fixture
async def tails() -> AsyncIterator[list[TailProcess]]:
    """Every tool started by a test; any still running is killed (by its pid)."""
    started: list[TailProcess] = []
    yield started
    for tail in started:
        await tail.kill()


def worker_notifier(transport_url: str, names: dict[str, str], **rabbit: Any) -> Notifier:
    """The worker's own publisher on the test's exchange and topic (``rabbit``:
    [oslo_messaging_rabbit] overrides)."""
    conf = cfg.ConfigOpts()
    register_oslo_opts(conf)
    conf([], project="k8s_worker", default_config_files=[])
    conf.set_override("transport_url", transport_url)
    conf.set_override("control_exchange", names["exchange"])
    conf.set_override("topics", [names["topic"]], group="oslo_messaging_notifications")
    for option, value in rabbit.items():
        conf.set_override(option, value, group="oslo_messaging_rabbit")
    return Notifier(NotifierSettings.from_conf(conf, publisher_id="k8s_worker.tail-test"))


@pytest.fixture
async def notifier(transport_url: str, names: dict[str, str]) -> AsyncIterator[Notifier]:
    publisher = worker_notifier(transport_url, names)
    yield publisher
    await publisher.close()


@pytest.fixture
def oslo_notifier(transport_url: str, names: dict[str, str]) -> Iterator[Any]:
    """An unmodified oslo.messaging Notifier (messagingv2) on the same exchange and topic."""
    oslo_rpc_client(transport_url, topic=names["topic"], exchange=names["exchange"])  # cfg.CONF
    cfg.CONF.set_override("control_exchange", names["exchange"])
    try:
        transport = oslo_messaging.get_notification_transport(cfg.CONF, url=transport_url)
    finally:
        cfg.CONF.clear_override("control_exchange")
    yield oslo_messaging.Notifier(
        transport, publisher_id="oslo.peer", driver="messagingv2", topics=[names["topic"]]
    )
    transport.cleanup()


def _broker_args(transport_url: str, names: dict[str, str]) -> list[str]:
    return [
        *("--transport-url", transport_url),
        *("--exchange", names["exchange"]),
        *("--topic", names["topic"]),
    ]


def _events(lines: list[str]) -> list[tuple[str, str | None, int | None, str]]:
    records = [json.loads(line) for line in lines]
    return [(r["event_type"], r["vnf_id"], r["sequence"], r["priority"]) for r in records]


async def test_filtered_events_arrive_in_order_from_both_publishers(
    transport_url: str,
    names: dict[str, str],
    notifier: Notifier,
    oslo_notifier: Any,
    tails: list[TailProcess],
) -> None:
    # published before the tool starts: not shown (it starts from now)
    await notifier.publish("vnf.instantiate.start", _payload(VNF_A, 0, op_id="op-0"))
    tail = TailProcess(
        *_broker_args(transport_url, names),
        "--json",
        "--count",
        "4",
        "--timeout",
        "60",
        "--vnf",
        VNF_A,
        "--event",
        "vnf.instantiate.*",
        "--event",
        "vnf.status.update",
    )
    tails.append(await tail.start())
    assert tail.listening["keys"] == [f"{names['topic']}.*"]

    await notifier.publish("vnf.instantiate.start", _payload(VNF_A, 1, op_id="op-1"))
    await notifier.publish("vnf.instantiate.start", _payload(VNF_B, 1, op_id="op-b"))  # other VNF
    await notifier.publish("vnf.respawn", _payload(VNF_A, 2, vdu="web"))  # other event type
    await asyncio.to_thread(
        oslo_notifier.info,
        RequestContext(request_id="req-7", auth_token="s3cr3t-token"),
        "vnf.status.update",
        _payload(VNF_A, 3, old_status="PENDING_CREATE", status="ACTIVE"),
    )
    # The oslo peer publishes on its own connection, so a later event of ours
    # could overtake it at the broker; the tool prints in arrival order.
    await tail.read_until('"sequence": 3')
    await notifier.publish(
        "vnf.instantiate.error",
        _payload(VNF_A, 4, op_id="op-1", error={"type": "Boom", "message": "no"}),
        priority="ERROR",
    )
    await notifier.publish("vnf.instantiate.end", _payload(VNF_A, 5, op_id="op-1"))

    code, lines = await tail.finish()
    assert code == 0, tail.stderr
    assert _events(lines) == [
        ("vnf.instantiate.start", VNF_A, 1, "INFO"),
        ("vnf.status.update", VNF_A, 3, "INFO"),
        ("vnf.instantiate.error", VNF_A, 4, "ERROR"),
        ("vnf.instantiate.end", VNF_A, 5, "INFO"),
    ]
    records = [json.loads(line) for line in lines]
    assert records[0]["publisher_id"] == "k8s_worker.tail-test"
    assert records[0]["op_id"] == "op-1"
    oslo = records[1]
    assert oslo["publisher_id"] == "oslo.peer"
    assert oslo["payload"]["status"] == "ACTIVE"
    assert oslo["context"]["request_id"] == "req-7"
    assert records[2]["payload"]["error"] == {"type": "Boom", "message": "no"}
    assert "s3cr3t-token" not in "\n".join(lines + tail.stderr)


async def test_tenant_and_minimum_priority(
    transport_url: str, names: dict[str, str], notifier: Notifier, tails: list[TailProcess]
) -> None:
    tail = TailProcess(
        *_broker_args(transport_url, names),
        "--count",
        "2",
        "--timeout",
        "60",
        "--tenant",
        "tenant-a",
        "--priority",
        "error",
    )  # stdout is a pipe: JSON lines without --json
    tails.append(await tail.start())
    topic = names["topic"]
    assert tail.listening["keys"] == [f"{topic}.error", f"{topic}.critical"]

    await notifier.publish("vnf.heal.start", _payload(VNF_A, 1))  # INFO
    await notifier.publish("vnf.heal.error", _payload(VNF_B, 1, tenant="b"), priority="ERROR")
    await notifier.publish("vnf.heal.error", _payload(VNF_A, 2), priority="ERROR")
    await notifier.publish("vnf.respawn", _payload(VNF_A, 3), priority="WARN")
    await notifier.publish("vnf.status.update", _payload(VNF_A, 4), priority="CRITICAL")

    code, lines = await tail.finish()
    assert code == 0, tail.stderr
    assert _events(lines) == [
        ("vnf.heal.error", VNF_A, 2, "ERROR"),
        ("vnf.status.update", VNF_A, 4, "CRITICAL"),
    ]


async def test_a_malformed_message_is_an_error_line_not_a_crash(
    transport_url: str,
    amqp_url: str,
    names: dict[str, str],
    notifier: Notifier,
    tails: list[TailProcess],
) -> None:
    tail = TailProcess(*_broker_args(transport_url, names), "--json", "--count", "1")
    tails.append(await tail.start())
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(names["exchange"])
        await exchange.publish(aio_pika.Message(b"not json"), routing_key=f"{names['topic']}.info")
    await notifier.publish("vnf.update.start", _payload(VNF_A, 1))

    code, lines = await tail.finish()
    assert code == 0, tail.stderr
    bad, good = (json.loads(line) for line in lines)
    assert "not JSON" in bad["error"] and bad["routing_key"] == f"{names['topic']}.info"
    assert (good["event_type"], good["sequence"]) == ("vnf.update.start", 1)
    assert not any("Traceback" in line for line in tail.stderr)


async def test_compressed_notifications_are_read_by_the_tool_and_by_oslo(
    transport_url: str, names: dict[str, str], tails: list[TailProcess]
) -> None:
    """``kombu_compression`` on the publishers: the worker's notifier compresses as
    kombu does (an oslo listener reads it), and the tool reads both kinds."""
    tail = TailProcess(*_broker_args(transport_url, names), "--json", "--count", "2")
    tails.append(await tail.start())
    received: list[tuple[str, int]] = []

    class Endpoint:
        def info(
            self, ctxt: dict, publisher_id: str, event_type: str, payload: dict, metadata: dict
        ) -> None:
            received.append((event_type, payload["sequence"]))

    oslo_rpc_client(transport_url, topic=names["topic"], exchange=names["exchange"])  # cfg.CONF
    cfg.CONF.set_override("control_exchange", names["exchange"])
    cfg.CONF.set_override("kombu_compression", "bzip2", group="oslo_messaging_rabbit")
    try:
        transport = oslo_messaging.get_notification_transport(cfg.CONF, url=transport_url)
        listener = oslo_messaging.get_notification_listener(
            transport,
            [oslo_messaging.Target(topic=names["topic"], exchange=names["exchange"])],
            [Endpoint()],
            executor="threading",
        )
        listener.start()
        oslo_peer = oslo_messaging.Notifier(
            transport, publisher_id="oslo.peer", driver="messagingv2", topics=[names["topic"]]
        )
        await asyncio.to_thread(oslo_peer.info, {}, "vnf.scale.start", _payload(VNF_A, 1))
    finally:
        cfg.CONF.clear_override("control_exchange")
        cfg.CONF.clear_override("kombu_compression", group="oslo_messaging_rabbit")

    ours = worker_notifier(transport_url, names, kombu_compression="gzip")
    try:
        await ours.publish("vnf.scale.end", _payload(VNF_A, 2, op_id="s1"))
    finally:
        await ours.close()

    code, lines = await tail.finish()
    assert code == 0, tail.stderr
    assert [(e[0], e[2]) for e in _events(lines)] == [("vnf.scale.start", 1), ("vnf.scale.end", 2)]
    try:
        for _ in range(100):
            if len(received) == 2:
                break
            await asyncio.sleep(0.1)
        assert sorted(received, key=lambda r: r[1]) == [
            ("vnf.scale.start", 1),
            ("vnf.scale.end", 2),
        ]
    finally:
        listener.stop()
        listener.wait()
        transport.cleanup()


async def test_a_kept_queue_replays_what_arrived_while_the_tool_was_not_running(
    transport_url: str,
    amqp_url: str,
    names: dict[str, str],
    notifier: Notifier,
    tails: list[TailProcess],
) -> None:
    args = [*_broker_args(transport_url, names), "--json", "--queue", names["queue"]]
    first = TailProcess(*args, "--count", "1")
    tails.append(await first.start())
    await notifier.publish("vnf.scale.start", _payload(VNF_A, 1, op_id="op-s"))
    code, lines = await first.finish()
    assert code == 0, first.stderr
    assert _events(lines) == [("vnf.scale.start", VNF_A, 1, "INFO")]

    # the tool is not running now
    await notifier.publish("vnf.scale.end", _payload(VNF_A, 2, op_id="op-s"))
    await notifier.publish("vnf.policy.triggered", _payload(VNF_A, 3), priority="WARN")

    second = TailProcess(*args, "--count", "2", "--timeout", "60")
    tails.append(await second.start())
    assert second.listening["held"] == 2
    code, lines = await second.finish()
    assert code == 0, second.stderr
    assert _events(lines) == [
        ("vnf.scale.end", VNF_A, 2, "INFO"),
        ("vnf.policy.triggered", VNF_A, 3, "WARN"),
    ]

    connection = await aio_pika.connect(amqp_url)
    async with connection:  # kept, and emptied of what was shown
        channel = await connection.channel()
        queue = await channel.declare_queue(names["queue"], passive=True)
        assert queue.declaration_result.message_count == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_a_signal_stops_it_cleanly_and_leaves_no_queue(
    transport_url: str,
    amqp_url: str,
    names: dict[str, str],
    tails: list[TailProcess],
    signum: int,
) -> None:
    tail = TailProcess(*_broker_args(transport_url, names), "--json")
    tails.append(await tail.start())
    queue_name = tail.listening["queue"]
    assert tail.listening["kept"] is False

    tail.send(signum)
    code, lines = await tail.finish(within=15)
    assert code == 0
    assert lines == []
    assert not any("Traceback" in line for line in tail.stderr), tail.stderr
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
            await channel.declare_queue(queue_name, passive=True)


async def test_on_a_terminal_it_prints_aligned_coloured_lines(
    transport_url: str, names: dict[str, str], notifier: Notifier, tails: list[TailProcess]
) -> None:
    master, slave = os.openpty()
    try:
        tail = TailProcess(*_broker_args(transport_url, names), "--count", "3", stdout=slave)
        tails.append(await tail.start())
    finally:
        os.close(slave)
    reading = asyncio.create_task(asyncio.to_thread(_read_until_closed, master))
    try:
        await notifier.publish(
            "vnf.instantiate.start", _payload(VNF_A, 1, op_id="op-1", vnf_name="web")
        )
        await notifier.publish(
            "vnf.status.update",
            _payload(VNF_A, 12, old_status="PENDING_CREATE", status="ACTIVE", reason="ready"),
        )
        await notifier.publish(
            "vnf.respawn",
            _payload(VNF_A, 13, vdu="web", old_pod="web-1", new_pod="web-2"),
            priority="WARN",
        )
        code, _ = await tail.finish()
        screen = await asyncio.wait_for(reading, 30)
    finally:
        os.close(master)
    assert code == 0, tail.stderr

    assert "\x1b[" in screen  # a terminal gets colour without being asked
    lines = ANSI.sub("", screen).replace("\r\n", "\n").splitlines()
    header, *rows = lines
    assert header.split() == ["TIME", "PRIORITY", "EVENT", "VNF", "SEQ", "SUMMARY"]
    parsed = [row.split(None, 5) for row in rows]
    assert [p[1:5] for p in parsed] == [
        ["INFO", "vnf.instantiate.start", VNF_A[:8], "#1"],
        ["INFO", "vnf.status.update", VNF_A[:8], "#12"],
        ["WARN", "vnf.respawn", VNF_A[:8], "#13"],
    ]
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", p[0]) for p in parsed)
    assert [p[5] for p in parsed] == [
        "op_id=op-1 vnf_name=web",
        "PENDING_CREATE -> ACTIVE (ready)",
        "web: web-1 -> web-2",
    ]
    for column in ("PRIORITY", "EVENT", "VNF", "SUMMARY"):
        offset = header.index(column)
        assert all(row[offset - 1] == " " and row[offset] != " " for row in rows), rows


def _read_until_closed(fd: int) -> str:
    """Everything written to a pty until its last writer closes it."""
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


async def test_timeout_before_count_exits_3(
    transport_url: str, names: dict[str, str], notifier: Notifier, tails: list[TailProcess]
) -> None:
    await notifier.start()  # connected before the tool's clock starts
    tail = TailProcess(
        *_broker_args(transport_url, names), "--json", "--count", "2", "--timeout", "5"
    )
    tails.append(await tail.start())
    await notifier.publish("vnf.terminate.end", _payload(VNF_A, 9))
    code, lines = await tail.finish()
    assert code == 3
    assert _events(lines) == [("vnf.terminate.end", VNF_A, 9, "INFO")]


async def test_an_unreachable_broker_exits_1_without_a_traceback(tails: list[TailProcess]) -> None:
    tail = TailProcess("--transport-url", "rabbit://guest:guest@127.0.0.1:9/", "--json")
    tail.proc = await asyncio.create_subprocess_exec(
        *tail.argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    tails.append(tail)
    out, err = await asyncio.wait_for(tail.proc.communicate(), 60)
    assert tail.proc.returncode == 1
    assert out == b""
    assert b"tail.broker_unreachable" in err and b"Traceback" not in err
    with contextlib.suppress(ProcessLookupError):
        tail.proc.kill()


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl")
async def test_a_connection_closed_by_the_broker_exits_1_saying_why(
    transport_url: str, names: dict[str, str], tails: list[TailProcess]
) -> None:
    tail = TailProcess(*_broker_args(transport_url, names), "--json")
    tails.append(await tail.start())
    assert tail.proc is not None
    listing = await _run("rabbitmqctl", "-q", "list_connections", "pid", "client_properties")
    ours = [
        line.split("\t")[0]
        for line in listing.splitlines()
        if f"tail.py:{tail.proc.pid}:tail" in line
    ]
    assert len(ours) == 1, listing
    await _run("rabbitmqctl", "close_connection", ours[0], "closed by test_tail")

    code, lines = await tail.finish()
    assert code == 1
    assert lines == []
    errors = [r for r in map(_json_or_none, tail.stderr) if r and r["level"] == "error"]
    assert [r["event"] for r in errors] == ["tail.connection_lost"]
    assert "closed by test_tail" in errors[0]["error"]
    assert not any("Traceback" in line for line in tail.stderr), tail.stderr


async def _run(*argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()
