"""Several worker processes on one topic: sharing, SIGKILL, broker restart.

Replicas are devserver subprocesses sharing a JSON-lines journal (the stand-in
for the VNF record), so "completed exactly once" is checked across processes.
The broker-restart test uses a private RabbitMQ node (its own port and data
directory) so the shared test-bed broker is never restarted under others.
"""

from __future__ import annotations

import asyncio
import collections
import os
import pathlib
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import aio_pika
import pytest

from k8s_worker.intake.testing import WorkerProcess, oslo_rpc_client, read_journal, wait_for

CTX = {"user_id": "bob", "project_id": "tenant-b"}


def _names(prefix: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {"topic": f"tkw_{prefix}_{suffix}", "exchange": f"tkw_x_{suffix}"}


def _done(journal: pathlib.Path) -> list[dict[str, Any]]:
    return [r for r in read_journal(journal) if r["event"] == "done"]


async def _cleanup(amqp_url: str, names: dict[str, str], hosts: list[str]) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        for queue in [names["topic"], *(f"{names['topic']}.{h}" for h in hosts)]:
            channel = await connection.channel()
            await channel.queue_delete(queue)
        channel = await connection.channel()
        await channel.exchange_delete(names["exchange"])


async def test_two_workers_both_consume(
    transport_url: str, amqp_url: str, tmp_path: pathlib.Path
) -> None:
    names = _names("pair")
    journal = tmp_path / "journal.jsonl"
    workers = [
        WorkerProcess(
            transport_url=transport_url,
            host=f"w{i}-{names['topic']}",
            journal=journal,
            delay=0.05,
            **names,
        )
        for i in (1, 2)
    ]
    try:
        await asyncio.gather(*(w.start() for w in workers))
        client = oslo_rpc_client(transport_url, **names)
        for w in workers:
            assert await asyncio.to_thread(client.ping, CTX, server=w.host) == "pong"
        ops = [f"pair-{i}" for i in range(40)]
        for i, op in enumerate(ops):
            await asyncio.to_thread(client.heal_vnf, CTX, vnf_id=f"v{i}", op_id=op)
        await wait_for(lambda: len(_done(journal)) >= len(ops), within=30, what="all casts done")
        done = _done(journal)
        assert sorted(r["op_id"] for r in done) == sorted(ops)
        assert {r["host"] for r in done} == {w.host for w in workers}
    finally:
        for w in workers:
            await w.kill()
        await _cleanup(amqp_url, names, [w.host for w in workers])


async def test_a_cast_whose_worker_is_killed_is_completed_once_by_another(
    transport_url: str, amqp_url: str, tmp_path: pathlib.Path
) -> None:
    names = _names("kill")
    journal = tmp_path / "journal.jsonl"
    doomed = WorkerProcess(
        transport_url=transport_url, host="doomed", journal=journal, delay=30, **names
    )
    survivor = WorkerProcess(transport_url=transport_url, host="survivor", journal=journal, **names)
    try:
        await doomed.start()
        client = oslo_rpc_client(transport_url, **names)
        vnf = {"id": "vk", "name": "web", "tenant_id": "tenant-b", "vnfd": "tosca: {}"}
        await asyncio.to_thread(client.instantiate_vnf, CTX, vnf=vnf, op_id="kill-op")
        await wait_for(
            lambda: any(
                r["event"] == "start" and r["host"] == "doomed" for r in read_journal(journal)
            ),
            within=20,
            what="the doomed worker to start the operation",
        )
        await doomed.kill()  # SIGKILL mid-operation: nothing acked
        await survivor.start()
        await wait_for(lambda: _done(journal), within=30, what="the survivor to complete it")
        await asyncio.to_thread(client.ping, CTX, server="survivor")  # let any duplicate arrive
        done = _done(journal)
        assert [(r["op_id"], r["host"]) for r in done] == [("kill-op", "survivor")]
    finally:
        await doomed.kill()
        await survivor.kill()
        await _cleanup(amqp_url, names, ["doomed", "survivor"])


# -- a private broker for the restart test ---------------------------------------------------

NODE = os.environ.get("TKW_INTAKE_NODE", "tkwintake@localhost")
PORT = int(os.environ.get("TKW_INTAKE_AMQP_PORT", "5679"))
BASE = pathlib.Path(os.environ.get("TKW_INTAKE_RMQ_DIR", "/tmp/tkw-intake-rmq"))


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-n", NODE, *args], check=True, capture_output=True, timeout=120)


def _node_up() -> bool:
    return (
        subprocess.run(
            ["rabbitmqctl", "-n", NODE, "await_startup", "--timeout", "1"],
            capture_output=True,
            timeout=30,
        ).returncode
        == 0
    )


def _await_node(*, within: float) -> None:
    """Wait for the node to register and boot.

    ``rabbitmq-server -detached`` returns before the Erlang node has registered
    with epmd, and ``await_startup`` fails at once (exit 69) on a node it cannot
    reach, so poll until it answers.
    """
    deadline = time.monotonic() + within
    while True:
        result = subprocess.run(
            ["rabbitmqctl", "-n", NODE, "await_startup", "--timeout", "10"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode == 0:
            return
        if time.monotonic() > deadline:
            logs = sorted((BASE / "log").glob("*.log"))
            tail = logs[-1].read_text()[-2000:] if logs else "(no server log)"
            raise AssertionError(
                f"private RabbitMQ node {NODE} did not start within {within:.0f} s:\n"
                f"{result.stderr.strip()}\n--- server log ---\n{tail}"
            )
        time.sleep(1)


@pytest.fixture(scope="module")
def private_broker() -> Iterator[str]:
    if shutil.which("rabbitmq-server") is None:
        pytest.skip("rabbitmq-server is not installed")
    started = False
    if not _node_up():
        BASE.mkdir(parents=True, exist_ok=True)
        shutil.chown(BASE, "rabbitmq", "rabbitmq")
        env = {
            **os.environ,
            "RABBITMQ_NODENAME": NODE,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(PORT),
            "RABBITMQ_DIST_PORT": str(PORT + 20000),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(BASE / "mnesia"),
            "RABBITMQ_LOG_BASE": str(BASE / "log"),
            "RABBITMQ_PID_FILE": str(BASE / "pid"),
        }
        (BASE / "pid").unlink(missing_ok=True)
        subprocess.run(["rabbitmq-server", "-detached"], env=env, check=True, timeout=60)
        started = True
        _await_node(within=120)
    yield f"rabbit://guest:guest@127.0.0.1:{PORT}/"
    if started:
        pid = int((BASE / "pid").read_text().strip())
        os.kill(pid, 15)
        deadline = time.monotonic() + 30  # so a later run never reuses a node that is stopping
        while pathlib.Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)


async def test_no_cast_is_lost_across_a_broker_restart(
    private_broker: str, tmp_path: pathlib.Path
) -> None:
    names = _names("restart")
    url = private_broker + "?amqp_durable_queues=true"
    journal = tmp_path / "journal.jsonl"
    worker = WorkerProcess(
        transport_url=private_broker,
        host="rw",
        journal=journal,
        delay=0.1,
        concurrency=2,
        durable=True,
        **names,
    )
    try:
        await worker.start()
        client = oslo_rpc_client(url, **names)
        ops = [f"restart-{i}" for i in range(40)]
        for i, op in enumerate(ops[:20]):
            await asyncio.to_thread(client.heal_vnf, CTX, vnf_id=f"v{i}", op_id=op)
        await wait_for(lambda: len(_done(journal)) >= 3, within=20, what="the first casts")
        await asyncio.to_thread(
            _ctl, "stop_app"
        )  # mid-stream: some done, some in flight, some queued
        await asyncio.to_thread(_ctl, "start_app")
        for i, op in enumerate(ops[20:], start=20):
            await asyncio.to_thread(client.heal_vnf, CTX, vnf_id=f"v{i}", op_id=op)
        await wait_for(
            lambda: {r["op_id"] for r in _done(journal)} >= set(ops), within=60, what="every cast"
        )
        counts = collections.Counter(r["op_id"] for r in _done(journal))
        assert set(counts) == set(ops)
        assert max(counts.values()) == 1
        assert await worker.terminate() == 0
    finally:
        await worker.kill()
        connection = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1:{PORT}/")
        async with connection:
            for queue in (names["topic"], f"{names['topic']}.rw"):
                channel = await connection.channel()
                await channel.queue_delete(queue)
