"""oslo.messaging's TLS options and a transport_url with several hosts, on real brokers.

The TLS tests use a private RabbitMQ node with a TLS listener and no plain one
that asks clients for a certificate (CA, server and client certificates made
here with openssl), so a worker that gets work done there did speak TLS with
``ssl_ca_file``, ``ssl_cert_file`` and ``ssl_key_file``.  The multi-host tests
put a dead host (a port bound by the test but not listening, so it refuses at
once) in front of the shared test-bed broker.  The peer is always an
unmodified oslo.messaging RPCClient with the same ``[oslo_messaging_rabbit]``
options as the worker.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import pathlib
import random
import shutil
import socket
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import aio_pika
import pytest
from oslo_config import cfg
from structlog.testing import capture_logs
from yarl import URL

from k8s_worker.amqp.connection import ConnectionSettings, connect
from k8s_worker.notify.notifier import PRIORITIES
from rpc.client import K8sWorkerClient, get_transport
from tests.doubles.intake import WorkerProcess, read_journal, wait_for
from tests.functional.private_rabbit import PrivateRabbit, make_ca, make_cert

CTX = {"user_id": "carol", "project_id": "tenant-tls"}
NODE = os.environ.get("TKW_TLS_NODE", "tkwtls@localhost")
PORT = int(os.environ.get("TKW_TLS_AMQP_PORT", "5681"))
BASE = pathlib.Path(os.environ.get("TKW_TLS_RMQ_DIR", "/tmp/tkw-tls-rmq"))

# TLS only (no plain listener), TLS 1.2+, and clients must show a cert from the CA.
RABBITMQ_CONF = """\
listeners.tcp = none
listeners.ssl.default = 127.0.0.1:{port}
ssl_options.cacertfile = {ca}
ssl_options.certfile = {cert}
ssl_options.keyfile = {key}
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = true
ssl_options.versions.1 = tlsv1.3
ssl_options.versions.2 = tlsv1.2
"""


@dataclass(frozen=True)
class TlsBroker:
    url: str
    node: PrivateRabbit
    ca: pathlib.Path
    client_cert: pathlib.Path
    client_key: pathlib.Path

    def options(self, **extra: object) -> dict[str, object]:
        """``[oslo_messaging_rabbit]`` options of a client this broker accepts."""
        return {
            "ssl": True,
            "ssl_ca_file": str(self.ca),
            "ssl_cert_file": str(self.client_cert),
            "ssl_key_file": str(self.client_key),
            **extra,
        }


@pytest.fixture(scope="module")
def tls_broker() -> Iterator[TlsBroker]:
    for tool in ("rabbitmq-server", "rabbitmqctl", "openssl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    node = PrivateRabbit(node=NODE, base=BASE, dist_port=PORT + 20000)
    tls = BASE / "tls"
    try:
        if node.is_up():  # left by an interrupted run: reuse it with its certificates
            if not (tls / "client.key").exists():
                pytest.fail(f"node {NODE} runs but {tls} is gone: stop that node first")
        else:
            shutil.rmtree(BASE, ignore_errors=True)
            ca = make_ca(tls, "ca")
            cert, key = make_cert(ca, tls, "server")
            make_cert(ca, tls, "client", client=True)
            node.start(RABBITMQ_CONF.format(port=PORT, ca=ca, cert=cert, key=key))
        yield TlsBroker(
            url=f"rabbit://guest:guest@127.0.0.1:{PORT}/",
            node=node,
            ca=tls / "ca.pem",
            client_cert=tls / "client.pem",
            client_key=tls / "client.key",
        )
    finally:
        started = node.started
        node.stop()
        if started:
            shutil.rmtree(BASE, ignore_errors=True)


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port that refuses connections (bound here, never listening)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _names(prefix: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "topic": f"tkw_{prefix}_{suffix}",
        "exchange": f"tkw_x_{suffix}",
        "notify_topic": f"tkw_n_{suffix}",
    }


def _rabbit_conf(path: pathlib.Path, **options: object) -> pathlib.Path:
    """An oslo.config file with these ``[oslo_messaging_rabbit]`` options."""
    lines = ["[oslo_messaging_rabbit]"]
    lines += [f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in options.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _settings(url: str, conf_file: pathlib.Path) -> ConnectionSettings:
    conf = cfg.ConfigOpts()
    conf([], project="test", default_config_files=[str(conf_file)])
    settings = ConnectionSettings.from_conf(conf, url=url)
    return replace(settings, retry_interval=0.01)  # the option's minimum is 1 s


@contextlib.contextmanager
def _oslo_client(url: str, names: dict[str, str], **rabbit: object) -> Iterator[K8sWorkerClient]:
    """An unmodified oslo.messaging RPCClient with these ``[oslo_messaging_rabbit]`` options.

    oslo.messaging registers some of its groups (tracing) on ``cfg.CONF`` only,
    so the options are overrides there, cleared on the way out; oslo reads them
    when it opens its connections, which all happen inside the ``with``.
    """
    transport = get_transport(cfg.CONF, url=url)  # registers [oslo_messaging_rabbit]
    try:
        for key, value in rabbit.items():
            cfg.CONF.set_override(key, value, group="oslo_messaging_rabbit")
        yield K8sWorkerClient(
            transport, topic=names["topic"], exchange=names["exchange"], timeout=30
        )
    finally:
        transport.cleanup()
        for key in rabbit:
            cfg.CONF.clear_override(key, group="oslo_messaging_rabbit")


def _events(log: pathlib.Path) -> list[dict[str, Any]]:
    """The worker's structured log lines (plain lines and a half-written last line skipped)."""
    events = []
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and "event" in record:
                events.append(record)
    return events


def _connected(log: pathlib.Path) -> list[tuple[str, int]]:
    return [
        (e["host"], e["port"])
        for e in _events(log)
        if e["event"] == "amqp.connected" and e.get("purpose") == "intake"
    ]


def _done(journal: pathlib.Path) -> list[str]:
    return [r["op_id"] for r in read_journal(journal) if r["event"] == "done"]


async def _ping_and_casts(
    client: K8sWorkerClient, worker: WorkerProcess, journal: pathlib.Path, prefix: str
) -> None:
    """A call answers; 20 casts are each done exactly once."""
    assert await asyncio.to_thread(client.ping, CTX, server=worker.host) == "pong"
    ops = [f"{prefix}-{i}" for i in range(20)]
    for i, op in enumerate(ops):
        await asyncio.to_thread(client.heal_vnf, CTX, vnf_id=f"v{i}", op_id=op)
    await wait_for(lambda: set(_done(journal)) >= set(ops), within=20, what="every cast done")
    assert await asyncio.to_thread(client.ping, CTX, server=worker.host) == "pong"
    counts = collections.Counter(_done(journal))
    assert set(counts) == set(ops)
    assert max(counts.values()) == 1


async def _cleanup(amqp_url: str, names: dict[str, str], worker: WorkerProcess) -> None:
    """Delete what the worker declared on the shared broker (its log names its queues)."""
    queues = {names["topic"], f"{names['topic']}.{worker.host}", f"{names['topic']}.retry"}
    for e in _events(worker.log):
        if e["event"] == "intake.consuming":
            queues.update(e["queues"])  # with the fanout queue, named by the worker
    queues.update(f"{names['notify_topic']}.{p.lower()}" for p in PRIORITIES)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for queue in sorted(queues):
            await channel.queue_delete(queue)
        for exchange in (names["exchange"], f"{names['topic']}_fanout"):
            await channel.exchange_delete(exchange)


# -- TLS ---------------------------------------------------------------------------------------


async def test_casts_and_a_call_over_a_tls_only_broker(
    tls_broker: TlsBroker, tmp_path: pathlib.Path
) -> None:
    """ssl, ssl_ca_file, ssl_cert_file, ssl_key_file: work gets done, all over TLS."""
    names = _names("tls")
    opts = tls_broker.options()
    conf = _rabbit_conf(tmp_path / "tls.conf", **opts)
    journal = tmp_path / "journal.jsonl"
    worker = WorkerProcess(
        transport_url=tls_broker.url, host="tlsw", journal=journal, config_file=conf, **names
    )
    try:
        await worker.start()
        with _oslo_client(tls_broker.url, names, **opts) as client:
            await _ping_and_casts(client, worker, journal, "tls")
            # The broker's view: every connection (worker's and client's) is TLS.
            rows = json.loads(
                await asyncio.to_thread(
                    tls_broker.node.ctl,
                    "list_connections",
                    "ssl",
                    "ssl_protocol",
                    "--formatter",
                    "json",
                    "--silent",
                )
            )
        assert len(rows) >= 2
        assert all(r["ssl"] is True and r["ssl_protocol"].startswith("tlsv1.") for r in rows)
        assert await worker.terminate() == 0
    finally:
        await worker.kill()
    assert _connected(worker.log) == [("127.0.0.1", PORT)]


async def _assert_never_connects(
    url: str,
    conf: pathlib.Path,
    *,
    says: tuple[str, ...],
    cause: tuple[type[OSError], ...],
) -> None:
    """A worker with ``conf`` never gets READY and logs one of ``says`` on each failed
    attempt; ``connect()`` in-process raises AMQPConnectionError caused by a ``cause``."""
    worker = WorkerProcess(transport_url=url, host="refused", config_file=conf, **_names("tlsno"))
    starting = asyncio.create_task(worker.start(ready_within=60))

    def failures() -> list[dict[str, Any]]:
        return [
            e
            for e in _events(worker.log)
            if e["event"] == "amqp.connect_failed"
            and e.get("purpose") == "intake"
            and any(s in e.get("error", "") for s in says)
        ]

    try:
        await wait_for(
            lambda: len(failures()) >= 2 or _connected(worker.log) or starting.done(),
            within=20,
            what=f"two connection failures saying {says}",
        )
        assert _connected(worker.log) == [], "the worker connected all the same"
        assert not starting.done(), "the worker said READY all the same"
    finally:
        if worker.proc is not None:
            await worker.kill()
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError, AssertionError):
            await starting
    assert len(failures()) >= 2
    assert _connected(worker.log) == []

    with capture_logs() as logs, pytest.raises(aio_pika.exceptions.AMQPConnectionError) as info:
        await connect(_settings(url, conf), purpose="test", max_attempts=2)
    assert isinstance(info.value.__cause__, cause), repr(info.value.__cause__)
    assert [e["event"] for e in logs] == ["amqp.connect_failed"]
    assert any(s in logs[0]["error"] for s in says), logs[0]["error"]


async def test_a_worker_that_does_not_trust_the_server_certificate_never_connects(
    tls_broker: TlsBroker, tmp_path: pathlib.Path
) -> None:
    other_ca = make_ca(tmp_path / "other", "other")  # unrelated to the server's CA
    conf = _rabbit_conf(tmp_path / "other.conf", **tls_broker.options(ssl_ca_file=other_ca))
    await _assert_never_connects(
        tls_broker.url,
        conf,
        says=("CERTIFICATE_VERIFY_FAILED",),
        cause=(ssl.SSLCertVerificationError,),
    )
    # ...and with the right CA the very same connect() works.
    good = _rabbit_conf(tmp_path / "good.conf", **tls_broker.options())
    connection = await connect(_settings(tls_broker.url, good), purpose="test", max_attempts=1)
    await connection.close()


async def test_a_worker_without_a_client_certificate_is_refused(
    tls_broker: TlsBroker, tmp_path: pathlib.Path
) -> None:
    options = tls_broker.options()
    del options["ssl_cert_file"], options["ssl_key_file"]
    conf = _rabbit_conf(tmp_path / "nocert.conf", **options)
    # With TLS 1.3 the client's handshake is over before the broker checks its
    # certificate: the broker's alert and its closing the socket race, so the
    # client reads either the alert or a reset.
    await _assert_never_connects(
        tls_broker.url,
        conf,
        says=("CERTIFICATE_REQUIRED", "Connection reset by peer"),
        cause=(ssl.SSLError, ConnectionResetError),
    )


# -- several hosts -----------------------------------------------------------------------------


def _multi_host_url(amqp_url: str, dead_port: int) -> tuple[str, int]:
    live = URL(amqp_url).port or 5672
    return f"rabbit://guest:guest@127.0.0.1:{dead_port},guest:guest@127.0.0.1:{live}/", live


async def test_round_robin_moves_from_a_dead_host_to_the_live_one(
    amqp_url: str, dead_port: int, tmp_path: pathlib.Path
) -> None:
    """When the dead host comes first, the very next attempt goes to the live one.

    ``connect()`` shuffles a multi-host URL as oslo does; seeding ``random``
    makes the run deterministic and lets it find an order with the dead host
    first (within the first few seeds) instead of hoping for one.
    """
    url, live = _multi_host_url(amqp_url, dead_port)
    conf = _rabbit_conf(tmp_path / "rr.conf", kombu_failover_strategy="round-robin")
    settings = _settings(url, conf)
    assert [h.port for h in settings.hosts] == [dead_port, live]
    state = random.getstate()
    try:
        for seed in range(32):
            random.seed(seed)
            with capture_logs() as logs:
                connection = await connect(settings, purpose="test", max_attempts=2)
            await connection.close()
            connected = [(e["host"], e["port"]) for e in logs if e["event"] == "amqp.connected"]
            assert connected == [("127.0.0.1", live)]
            failed = [e for e in logs if e["event"] == "amqp.connect_failed"]
            if failed:
                assert len(failed) == 1
                assert str(dead_port) in failed[0]["error"]
                break
        else:
            pytest.fail("the dead host never came first in 32 seeded shuffles")
    finally:
        random.setstate(state)


async def test_casts_through_a_transport_url_whose_first_host_is_dead(
    amqp_url: str, dead_port: int, tmp_path: pathlib.Path
) -> None:
    """Worker and oslo client on the same two-host URL: whatever order each tries
    the hosts in (the test above pins the dead-first one), work gets done through
    the live one."""
    url, live = _multi_host_url(amqp_url, dead_port)
    opts = {"kombu_failover_strategy": "round-robin"}
    conf = _rabbit_conf(tmp_path / "multi.conf", **opts)
    names = _names("multi")
    journal = tmp_path / "journal.jsonl"
    worker = WorkerProcess(
        transport_url=url, host="multiw", journal=journal, config_file=conf, **names
    )
    try:
        await worker.start()
        with _oslo_client(url, names, **opts) as client:
            await _ping_and_casts(client, worker, journal, "multi")
        assert await worker.terminate() == 0
    finally:
        await worker.kill()
        await _cleanup(amqp_url, names, worker)
    assert _connected(worker.log) == [("127.0.0.1", live)]
    failed = [e for e in _events(worker.log) if e["event"] == "amqp.connect_failed"]
    assert all(str(dead_port) in e["error"] for e in failed)
