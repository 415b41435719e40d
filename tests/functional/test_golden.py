"""The formats others rely on, pinned before the house is renovated: the
notification stream of one VNF's life, the get_vnf and list_vnfs replies and
the Vnf record, compared with ``tests/golden/*.json`` after masking what
differs from run to run (ids, names, times, resource versions).

A change of format is a contract change (``rpc/contract.py``, the CRD): then,
and only then, record the files again with ``TKW_GOLDEN_UPDATE=1``.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import os
import pathlib
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client

from k8s_worker.record.crd import VNF_GROUP, VNF_VERSION
from k8s_worker.record.model import record_name
from tests.functional.harness import Conductor, Events, Names, WorkerProcess, write_config
from tests.vnfds import one_vdu

GOLDEN = pathlib.Path(__file__).resolve().parents[1] / "golden"
UPDATE = os.environ.get("TKW_GOLDEN_UPDATE") == "1"
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HASHED = re.compile(r"\b(vdu1|vnfd)-[0-9a-f]{10,64}((-[0-9a-z]{4,10}){0,2})")
_NODE = re.compile(r"\bkwok-node-\d+\b")
_IP = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")
_RUN_KEYS = {"resourceVersion", "uid", "generation", "managedFields", "creationTimestamp"}


def _text(value: str, literals: dict[str, str]) -> str:
    for literal, placeholder in literals.items():
        value = value.replace(literal, placeholder)
    value = _TIME.sub("<time>", value)
    value = _UUID.sub("<uuid>", value)
    value = _HASHED.sub(lambda m: f"{m[1]}-<hash>{'-<pod>' if m[2] else ''}", value)
    value = _NODE.sub("<node>", value)
    return _IP.sub("<ip>", value)


def mask(value: Any, *, literals: dict[str, str]) -> Any:
    """``value`` with what differs between runs replaced by placeholders (in
    keys too: two keys alike once masked are told apart by #n)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in sorted(value.items()):
            if k == "managedFields":
                continue
            key = _text(k, literals)
            n = 1
            while (numbered := key if n == 1 else f"{key}#{n}") in out:
                n += 1
            out[numbered] = "<run>" if k in _RUN_KEYS else mask(v, literals=literals)
        return out
    if isinstance(value, list):
        return [mask(v, literals=literals) for v in value]
    if isinstance(value, str):
        return _text(value, literals)
    if isinstance(value, float) and value > 1e9:
        return "<epoch>"  # a wall-clock stamp in seconds
    return value


def check(name: str, observed: Any) -> None:
    path = GOLDEN / f"{name}.json"
    text = json.dumps(observed, indent=2, sort_keys=True) + "\n"
    if UPDATE:
        path.write_text(text)
        return
    assert path.exists(), f"no {path}: record it with TKW_GOLDEN_UPDATE=1"
    expected = path.read_text()
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True), text.splitlines(keepends=True), str(path), "now"
        )
    )
    assert text == expected, f"{name} differs (a format change is a contract change):\n{diff}"


@pytest.fixture(scope="module")
async def worker(
    transport_url: str, kubeconfig: str, names: Names, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("golden")
    config = write_config(
        tmp / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="golden-1",
    )
    proc = WorkerProcess(config, log=tmp / "worker.log")
    await proc.start()
    yield proc
    assert await proc.stop() == 0


async def test_the_formats_of_one_vnfs_life_are_unchanged(
    worker: WorkerProcess,
    transport_url: str,
    names: Names,
    events: Events,
    kube_api: Any,
    namespace: str,
) -> None:
    conductor = Conductor(transport_url, names)
    vnf_id = str(uuid.uuid4())
    literals = {vnf_id: "<vnf-id>", names.records: "<records-ns>", namespace: "<ns>"}
    vnf = {
        "id": vnf_id,
        "name": "golden",
        "tenant_id": "tenant-1",
        "vnfd": one_vdu(),
        "namespace": namespace,
    }
    await conductor("instantiate_vnf", vnf=vnf, op_id="g-i")
    await events.wait(vnf_id, "vnf.instantiate.end", op_id="g-i", within=60)
    await conductor("scale_vnf", vnf_id=vnf_id, op_id="g-s", policy="SP1", type="out")
    await events.wait(vnf_id, "vnf.scale.end", op_id="g-s", within=60)
    check("get_vnf", mask(await conductor("get_vnf", vnf_id=vnf_id), literals=literals))
    check("list_vnfs", mask(await conductor("list_vnfs"), literals=literals))
    custom = client.CustomObjectsApi(kube_api)
    record = await custom.get_namespaced_custom_object(
        VNF_GROUP, VNF_VERSION, names.records, "vnfs", record_name(vnf_id)
    )
    # Published entries leave the stored record with its next write (or a
    # settling write 30 s later): every entry still there must have reached
    # the listener, and then it is not part of the record's format.
    stored = {e["sequence"] for e in record["status"].get("outbox", [])}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not stored <= {e["payload"]["sequence"] for e in events.of(vnf_id)}:
        assert loop.time() < deadline, f"outbox entries {sorted(stored)} never published"
        await asyncio.sleep(0.1)
    record["status"]["outbox"] = []
    check("vnf_record", mask(record, literals=literals))
    await conductor("terminate_vnf", vnf_id=vnf_id, op_id="g-t")
    await events.wait(vnf_id, "vnf.terminate.end", op_id="g-t", within=60)
    stream = {}
    for event in events.of(vnf_id):
        stream[event["payload"]["sequence"]] = {
            "event_type": event["event_type"],
            "priority": event.get("priority"),
            "publisher_id": event.get("publisher_id"),
            "payload": event["payload"],
            "message_id": event.get("message_id"),
            "timestamp": event.get("timestamp"),
        }
    check("notifications", mask([stream[s] for s in sorted(stream)], literals=literals))
