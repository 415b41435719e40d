"""Scaling from Prometheus alerts, with no conductor cast: an alert posted to a
real Alertmanager reaches the worker through its webhook receiver and scales
the VNF once; a second alert inside the cooldown is ``decision=cooldown``; a
resolved alert clears it (no scale in: Tacker's ``auto_scale_type`` says which
way a firing alert goes); the same webhook delivered twice acts once; a
request without the token gets 401 and changes nothing.  The alert labels are
Tacker v2's Prometheus plugin's.  A real worker, RabbitMQ, kube-apiserver and
the bed's Alertmanager (built from the Go module proxy, cached).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import pathlib
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.functional.harness import _CACHE, Conductor, Events, Names, WorkerProcess, write_config
from tests.vnfds import one_vdu

ALERTMANAGER = os.environ.get(
    "TKW_ALERTMANAGER",
    str(
        _CACHE
        / f"alertmanager-{os.environ.get('ALERTMANAGER_VERSION', 'v0.35.0')}"
        / "bin"
        / "alertmanager"
    ),
)
TOKEN = "tkw-alert-token-" + uuid.uuid4().hex


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def receiver_port() -> int:
    return _free_port()


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("alert-token") / "token"
    path.write_text(TOKEN)
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
async def worker(
    transport_url: str,
    kubeconfig: str,
    names: Names,
    tmp_path_factory: pytest.TempPathFactory,
    receiver_port: int,
    token_file: pathlib.Path,
) -> AsyncIterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("alerts")
    config = write_config(
        tmp / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="alerts-1",
        extra=(
            f"[alertmanager]\nenabled = true\nbind_port = {receiver_port}\n"
            f"token_file = {token_file}\n"
        ),
    )
    proc = WorkerProcess(config, log=tmp / "worker.log")
    await proc.start()
    yield proc
    assert await proc.stop() == 0


@pytest.fixture(scope="module")
def conductor(transport_url: str, names: Names, worker: WorkerProcess) -> Conductor:
    return Conductor(transport_url, names)


@pytest.fixture(scope="module")
async def alertmanager(
    tmp_path_factory: pytest.TempPathFactory, receiver_port: int, token_file: pathlib.Path
) -> AsyncIterator[str]:
    """A real Alertmanager whose only receiver is the worker's webhook; its URL."""
    tmp = tmp_path_factory.mktemp("alertmanager")
    port = _free_port()
    config = tmp / "alertmanager.yml"
    config.write_text(
        json.dumps(
            {
                "route": {
                    "receiver": "tkw",
                    "group_by": ["..."],
                    "group_wait": "0s",
                    "group_interval": "1s",
                    "repeat_interval": "1h",
                },
                "receivers": [
                    {
                        "name": "tkw",
                        "webhook_configs": [
                            {
                                "url": f"http://127.0.0.1:{receiver_port}/v1/alerts",
                                "send_resolved": True,
                                "http_config": {
                                    "authorization": {
                                        "type": "Bearer",
                                        "credentials_file": str(token_file),
                                    }
                                },
                            }
                        ],
                    }
                ],
            }
        )
    )
    log = (tmp / "alertmanager.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        ALERTMANAGER,
        f"--config.file={config}",
        f"--storage.path={tmp / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"{url}/-/ready") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("Alertmanager did not get ready")
        yield url
    finally:
        proc.terminate()  # by its pid: the one this fixture started
        await proc.wait()
        log.close()


def _labels(vnf_id: str, **extra: str) -> dict[str, str]:
    """Tacker v2's Prometheus plugin labels of an auto_scale alert."""
    return {
        "alertname": "HighCpu",
        "receiver_type": "tacker",
        "function_type": "auto_scale",
        "vnf_instance_id": vnf_id,
        "aspect_id": "SP1",
        "auto_scale_type": "SCALE_OUT",
        **extra,
    }


async def _post_alert(url: str, labels: dict[str, str], *, resolved: bool = False) -> None:
    now = dt.datetime.now(dt.UTC)
    alert: dict[str, Any] = {"labels": labels, "annotations": {"summary": "load"}}
    if resolved:
        alert["endsAt"] = (now - dt.timedelta(seconds=1)).isoformat()
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/api/v2/alerts", json=[alert]) as resp:
            assert resp.status == 200, await resp.text()


async def _webhook(port: int, body: Any, *, token: str | None = TOKEN) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"http://127.0.0.1:{port}/v1/alerts",
            data=body if isinstance(body, str) else json.dumps(body),
            headers=headers,
        ) as resp:
            return resp.status, await resp.json()


async def test_alerts_from_alertmanager_scale_the_vnf_once_and_respect_the_cooldown(
    conductor: Conductor,
    events: Events,
    namespace: str,
    alertmanager: str,
    receiver_port: int,
) -> None:
    vnf_id = str(uuid.uuid4())
    await conductor(
        "instantiate_vnf",
        vnf={
            "id": vnf_id,
            "name": "alerted",
            "tenant_id": "tenant-1",
            "vnfd": one_vdu(cooldown=60),
            "namespace": namespace,
        },
        op_id="i-alerted",
    )
    await events.wait(vnf_id, "vnf.instantiate.end", within=60)

    # 1. A firing alert through Alertmanager: one automatic scale out.
    await _post_alert(alertmanager, _labels(vnf_id))
    (act,) = await events.wait(vnf_id, "vnf.policy.triggered", decision="act", within=30)
    assert act["payload"]["policy"] == "SP1" and act["payload"]["trigger"] == "HighCpu"
    await events.wait(vnf_id, "vnf.scale.end", within=60)
    info = await conductor("get_vnf", vnf_id=vnf_id)
    assert info["vdus"][0]["desired_replicas"] == 2

    # 2. Another alert inside the cooldown: decided, not acted on.
    await _post_alert(alertmanager, _labels(vnf_id, instance="b"))
    (cool,) = await events.wait(vnf_id, "vnf.policy.triggered", decision="cooldown", within=30)
    assert cool["payload"]["policy"] == "SP1"

    # 3. The first alert resolved: it clears, nothing scales in.
    await _post_alert(alertmanager, _labels(vnf_id), resolved=True)
    await events.wait(vnf_id, "vnf.policy.triggered", decision="resolved", within=30)
    assert (await conductor("get_vnf", vnf_id=vnf_id))["vdus"][0]["desired_replicas"] == 2

    # 4. One webhook body delivered twice (two deliveries, or two replicas): once.
    body = {
        "version": "4",
        "status": "firing",
        "receiver": "tkw",
        "alerts": [
            {
                "status": "firing",
                "labels": _labels(vnf_id, instance="c"),
                "startsAt": "2026-12-02T06:00:00Z",
                "fingerprint": f"dup-{vnf_id[:8]}",
            },
            {"status": "firing", "labels": {"alertname": "Other"}, "fingerprint": "x"},
            {
                "status": "firing",
                "labels": _labels("no-such-vnf"),
                "fingerprint": "y",
            },
        ],
    }
    status, first = await _webhook(receiver_port, body)
    assert status == 200 and first["accepted"] == 1, first
    reasons = " | ".join(r["reason"] for r in first["refused"])
    assert "names no VNF" in reasons and "no VNF 'no-such-vnf'" in reasons, first
    status, again = await _webhook(receiver_port, body)
    assert status == 200 and (again["accepted"], again["duplicates"]) == (0, 1), again

    # 5. Without the token (or with another), 401 and nothing changes.
    before = len(events.of(vnf_id))
    other = {**body, "alerts": [{**body["alerts"][0], "fingerprint": "new"}]}
    assert (await _webhook(receiver_port, other, token=None))[0] == 401
    assert (await _webhook(receiver_port, other, token="wrong"))[0] == 401
    # A body that is not webhook JSON: 400 with the reason.
    status, bad = await _webhook(receiver_port, "not json")
    assert status == 400 and "not JSON" in bad["error"]
    await asyncio.sleep(2.0)
    assert len(events.of(vnf_id, "vnf.scale.end")) == 1
    cooldowns = events.of(vnf_id, "vnf.policy.triggered")
    assert len([e for e in cooldowns if e["payload"]["decision"] == "act"]) == 1
    assert len(events.of(vnf_id)) >= before
