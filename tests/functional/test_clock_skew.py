"""One replica's wall clock 15 s ahead (libfaketime; its monotonic clock
untouched): membership still agrees, so each VNF is claimed once, by one
replica, and never taken back and forth."""

from __future__ import annotations

import asyncio
import collections
import glob
import json
import pathlib
import uuid

import pytest

from tests.functional.harness import Conductor, Events, Names, WorkerProcess, write_config
from tests.vnfds import one_vdu

pytestmark = pytest.mark.serial  # a skewed clock

VNFS = 12


def libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    if not found:
        pytest.fail("libfaketime is missing (tools/testbed/up.sh installs Debian's faketime)")
    return found[0]


def _claims(log: pathlib.Path) -> list[dict]:
    out = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == "vnf.claimed":
                out.append(event)
    return out


async def test_a_replica_whose_clock_is_ahead_never_fights_over_vnfs(
    transport_url: str, kubeconfig: str, namespace: str, tmp_path: pathlib.Path
) -> None:
    names = Names.fresh()
    workers = {}
    for host, env in (
        ("skew-a", {}),
        (
            "skew-b",
            {
                "LD_PRELOAD": libfaketime(),
                "FAKETIME": "+15s",
                "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            },
        ),
    ):
        config = write_config(
            tmp_path / f"{host}.conf",
            names=names,
            transport_url=transport_url,
            kubeconfig=kubeconfig,
            host=host,
            extra="[cluster]\nlease_duration = 6\nrenew_interval = 1.5\n",
        )
        workers[host] = WorkerProcess(config, log=tmp_path / f"{host}.log", env=env)
    events = Events(transport_url, names)
    conductor = Conductor(transport_url, names)
    ids = [str(uuid.uuid4()) for _ in range(VNFS)]
    try:
        for worker in workers.values():
            await worker.start()
        await asyncio.sleep(8)  # both see each other: more than a lease duration
        for vnf_id in ids:
            vnf = {"id": vnf_id, "name": "skew", "tenant_id": "tenant-1", "vnfd": one_vdu()}
            await conductor("instantiate_vnf", vnf=vnf | {"namespace": namespace}, op_id="i")
        for vnf_id in ids:
            await events.wait(vnf_id, "vnf.instantiate.end", within=90)
        await asyncio.sleep(15)  # long enough for a fight to show (leases of 6 s)
        claims = {host: _claims(w.log) for host, w in workers.items()}
        by_vnf = collections.defaultdict(list)
        for host, found in claims.items():
            for claim in found:
                by_vnf[claim["vnf_id"]].append(host)
        assert set(by_vnf) == set(ids)
        assert all(len(hosts) == 1 for hosts in by_vnf.values()), dict(by_vnf)
        assert {h for hosts in by_vnf.values() for h in hosts} == set(workers), dict(by_vnf)
        for vnf_id in ids:
            await conductor("terminate_vnf", vnf_id=vnf_id, op_id="t")
        for vnf_id in ids:
            await events.wait(vnf_id, "vnf.terminate.end", within=90)
    finally:
        events.stop()
        for worker in workers.values():
            await worker.stop()
