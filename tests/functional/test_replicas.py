"""Several worker replicas against one fleet of VNFs: hand-over after SIGKILL,
SIGSTOP past the lease, a broker restart, an API server restart, a replica
whose wall clock is 15 s ahead and one whose API requests a network holds
past its lease.

Observed only as Tacker and an operator would: oslo.messaging casts in,
oslo.messaging notifications and the Kubernetes API out.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import pathlib
import signal
import ssl
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
import yaml
from kubernetes_asyncio import client

from k8s_worker.tosca import LABEL_VNF_ID
from tests.conftest import STATE
from tests.functional import audit
from tests.functional.harness import CTX, Conductor, Events, Names, WorkerProcess, write_config
from tests.functional.kube_wait import pod_ready, set_unschedulable, wait_for_pods
from tests.functional.tcp_hold import HoldingProxy
from tests.functional.test_clock_skew import libfaketime
from tests.vnfds import one_vdu

ROOT = pathlib.Path(__file__).resolve().parents[2]
VNFD = one_vdu()
LEASE = "[cluster]\nlease_duration = 6\nrenew_interval = 1.5\n"
#: Registered VIMs may be the bed's clusters (both on loopback).
VIMS = "[vim]\nallowed_endpoints = 127.0.0.1\nprobe_interval = 1\n"


class Fleet:
    def __init__(
        self, tmp: pathlib.Path, *, names: Names, transport_url: str, kubeconfig: str
    ) -> None:
        self.tmp = tmp
        self.names = names
        self.transport_url = transport_url
        self.kubeconfig = kubeconfig
        self.workers: dict[str, WorkerProcess] = {}

    async def start(
        self, host: str, *, env: dict[str, str] | None = None, kubeconfig: str | None = None
    ) -> WorkerProcess:
        config = write_config(
            self.tmp / f"{host}.conf",
            names=self.names,
            transport_url=self.transport_url,
            kubeconfig=kubeconfig or self.kubeconfig,
            host=host,
            extra=LEASE + VIMS,
        )
        proc = WorkerProcess(config, log=self.tmp / f"{host}.log", env=env)
        await proc.start()
        self.workers[host] = proc
        return proc

    async def stop_all(self) -> None:
        """Stop every replica, even when one of them fails its clean stop."""
        failures = []
        for host, proc in self.workers.items():
            try:
                if proc.proc is not None and proc.proc.returncode is None:
                    os.kill(proc.pid, signal.SIGCONT)
                await proc.stop()
            except AssertionError as exc:
                failures.append(f"{host}: {exc}")
        assert not failures, "; ".join(failures)


@pytest.fixture
async def fleet(transport_url, kubeconfig, tmp_path) -> AsyncIterator[Fleet]:
    f = Fleet(tmp_path, names=Names.fresh(), transport_url=transport_url, kubeconfig=kubeconfig)
    yield f
    await f.stop_all()


def _network(kube_api) -> HoldingProxy:
    """A proxy in front of the bed's API server, terminating TLS with the API
    server's own certificate and going on with the admin client certificate."""
    pki = STATE / "pki"
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(pki / "apiserver.crt", pki / "apiserver.key")
    upstream = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    upstream.load_cert_chain(pki / "admin.crt", pki / "admin.key")
    server = urllib.parse.urlsplit(kube_api.configuration.host)
    return HoldingProxy(server.hostname, server.port, server_ssl=served, upstream_ssl=upstream)


def _via(proxy: HoldingProxy, kubeconfig: str, path: pathlib.Path) -> str:
    """A copy of ``kubeconfig`` whose API server is reached through ``proxy``."""
    doc = yaml.safe_load(pathlib.Path(kubeconfig).read_text())
    for cluster in doc["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


async def _api_of(kubeconfig: str) -> client.ApiClient:
    from kubernetes_asyncio import config

    cfg = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    return client.ApiClient(configuration=cfg)


async def _deployment_of(kube_api, namespace: str, vnf_id: str) -> str:
    apps = client.AppsV1Api(kube_api)
    found = await apps.list_namespaced_deployment(
        namespace, label_selector=f"{LABEL_VNF_ID}={vnf_id}"
    )
    (deployment,) = found.items
    return deployment.metadata.name


async def _owner(kube_api, names: Names, vnf_id: str) -> str | None:
    api = client.CustomObjectsApi(kube_api)
    obj = await api.get_namespaced_custom_object(
        "tacker.openstack.org", "v1alpha1", names.records, "vnfs", vnf_id
    )
    return (obj.get("status") or {}).get("owner")


async def test_sigkill_during_instantiate_another_replica_completes_it(
    fleet, transport_url, kube_api, namespace
):
    for host in ("ra", "rb"):
        await fleet.start(host)
    events = Events(transport_url, fleet.names)
    conductor = Conductor(transport_url, fleet.names)
    vnf_id = str(uuid.uuid4())
    try:
        await set_unschedulable(kube_api, True)  # the pods wait: instantiate stays open
        try:
            await conductor(
                "instantiate_vnf",
                op_id="kill-1",
                vnf={
                    "id": vnf_id,
                    "name": "k",
                    "tenant_id": "tenant-1",
                    "vnfd": VNFD,
                    "namespace": namespace,
                },
            )
            await events.wait(vnf_id, "vnf.instantiate.start")
            owner = await _owner(kube_api, fleet.names, vnf_id)
            assert owner in fleet.workers
            await fleet.workers[owner].kill()  # SIGKILL, mid-operation
        finally:
            await set_unschedulable(kube_api, False)
        await events.wait(vnf_id, "vnf.instantiate.end", within=90)
        survivor = await _owner(kube_api, fleet.names, vnf_id)
        assert survivor != owner
        await asyncio.sleep(2)
        ends = events.of(vnf_id, "vnf.instantiate.end")
        assert len({e["payload"]["sequence"] for e in ends}) == 1, "exactly one .end"
        info = await conductor("get_vnf", vnf_id=vnf_id)
        assert info["status"] == "ACTIVE"
    finally:
        events.stop()


async def test_sigkill_during_a_rollback_another_replica_finishes_it(
    fleet, transport_url, kube_api, namespace
):
    from tests.functional.test_failing_well import _quota

    for host in ("ra", "rb"):
        await fleet.start(host)
    events = Events(transport_url, fleet.names)
    conductor = Conductor(transport_url, fleet.names)
    apps = client.AppsV1Api(kube_api)
    vnf_id = str(uuid.uuid4())
    selector = f"{LABEL_VNF_ID}={vnf_id}"
    hold = {"metadata": {"finalizers": ["tkw.test/hold"]}}
    try:
        await _quota(kube_api, namespace, 0)  # its pods are refused: it parks
        vnf = {"id": vnf_id, "name": "rb", "tenant_id": "tenant-1", "vnfd": VNFD}
        await conductor("instantiate_vnf", op_id="rb-i", vnf={**vnf, "namespace": namespace})
        (parked,) = await events.wait(vnf_id, "vnf.instantiate.error", within=60)
        assert parked["payload"]["operation_state"] == "FAILED_TEMP"
        # A finalizer holds the Deployment's deletion: the rollback stays open.
        (dep,) = (await apps.list_namespaced_deployment(namespace, label_selector=selector)).items
        await apps.patch_namespaced_deployment(dep.metadata.name, namespace, hold)
        await conductor("rollback_operation", vnf_id=vnf_id, op_id="rb-r", target_op_id="rb-i")
        for _ in range(300):
            dep = await apps.read_namespaced_deployment(dep.metadata.name, namespace)
            if dep.metadata.deletion_timestamp is not None:
                break
            await asyncio.sleep(0.1)
        assert dep.metadata.deletion_timestamp is not None, "the rollback is deleting"
        owner = await _owner(kube_api, fleet.names, vnf_id)
        assert owner in fleet.workers
        await fleet.workers[owner].kill()  # SIGKILL, mid-rollback
        await apps.patch_namespaced_deployment(
            dep.metadata.name, namespace, {"metadata": {"finalizers": None}}
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        finals: list[dict] = []
        while not finals:
            assert loop.time() < deadline, events.of(vnf_id)
            finals = [
                e
                for e in events.of(vnf_id, "vnf.instantiate.error")
                if e["payload"]["operation_state"] == "ROLLED_BACK"
            ]
            await asyncio.sleep(0.2)
        assert await _owner(kube_api, fleet.names, vnf_id) != owner
        await asyncio.sleep(2)
        finals = [
            e
            for e in events.of(vnf_id, "vnf.instantiate.error")
            if e["payload"]["operation_state"] == "ROLLED_BACK"
        ]
        assert len({e["payload"]["sequence"] for e in finals}) == 1, "exactly one final event"
        info = await conductor("get_vnf", vnf_id=vnf_id)
        assert info["status"] == "NOT_INSTANTIATED"
    finally:
        events.stop()
        with contextlib.suppress(client.ApiException):
            for d in (
                await apps.list_namespaced_deployment(namespace, label_selector=selector)
            ).items:
                await apps.patch_namespaced_deployment(
                    d.metadata.name, namespace, {"metadata": {"finalizers": None}}
                )


async def _await_consumers(amqp_url: str, queue: str, *, count: int, within: float) -> None:
    """Wait until ``queue`` exists with at least ``count`` consumers."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            connection = await aio_pika.connect(amqp_url)
            async with connection:
                channel = await connection.channel()
                declared = await channel.declare_queue(queue, passive=True)
                if declared.declaration_result.consumer_count >= count:
                    return
        except (aio_pika.exceptions.AMQPError, ConnectionError, OSError):
            pass  # the broker is still starting, or the queue is not declared yet
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{queue} has no {count} consumers within {within}s")
        await asyncio.sleep(0.5)


@pytest.mark.serial  # restarts the shared API server and broker
async def test_chaos_three_replicas_thirty_vnfs(
    fleet, transport_url, amqp_url, kube_api, kubeconfig, namespace, tmp_path, vim2
):
    """Thirty VNFs, every other one on a registered VIM (the bed's second
    cluster), through a replica killed, one frozen past its lease, RabbitMQ and
    (cluster 1's) kube-apiserver restarted, one replica's wall clock ahead and
    one's API requests held past its lease."""
    started = time.time() - 1
    network = _network(kube_api)  # c2 reaches the API server through it
    await network.start()
    await fleet.start("c1")
    await fleet.start("c2", kubeconfig=_via(network, kubeconfig, tmp_path / "c2.kubeconfig"))
    # c3's wall clock is 15 s ahead for the whole run (its monotonic clock is not).
    await fleet.start(
        "c3",
        env={
            "LD_PRELOAD": libfaketime(),
            "FAKETIME": "+15s",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        },
    )
    events = Events(transport_url, fleet.names)
    conductor = Conductor(transport_url, fleet.names)
    admin = Conductor(transport_url, fleet.names, ctx={**CTX, "roles": ["admin"], "is_admin": True})
    vim_id = f"chaos-{uuid.uuid4().hex[:8]}"
    await admin(
        "register_vim",
        vim_id=vim_id,
        tenant_id=CTX["project_id"],
        auth_url=vim2.auth_url,
        ssl_ca_cert=vim2.ssl_ca_cert,
        bearer_token=vim2.bearer_token,
        default_namespace=namespace,  # the same name there
    )
    vim2_api = await _api_of(vim2.kubeconfig)
    vnfs = [str(uuid.uuid4()) for _ in range(30)]
    on_vim2 = set(vnfs[1::2])

    def api_of(vnf_id: str) -> client.ApiClient:
        return vim2_api if vnf_id in on_vim2 else kube_api

    expected_ops: dict[str, list[str]] = collections.defaultdict(list)
    desired: dict[str, int] = {}
    victims: dict[str, list[str]] = collections.defaultdict(list)

    async def cast(method: str, vnf_id: str, op_id: str, **kw) -> None:
        await conductor(method, vnf_id=vnf_id, op_id=op_id, **kw)
        expected_ops[vnf_id].append(op_id)

    async def disturb(round_: int) -> None:
        """During each failure: delete a pod of some VNFs, scale others."""
        for i, vnf_id in enumerate(vnfs):
            core = client.CoreV1Api(api_of(vnf_id))
            if i % 3 == round_ % 3:
                pods = await core.list_namespaced_pod(
                    namespace, label_selector=f"{LABEL_VNF_ID}={vnf_id}"
                )
                live = [
                    p.metadata.name
                    for p in pods.items
                    if p.metadata.deletion_timestamp is None and p.status.phase == "Running"
                ]
                if live:
                    await core.delete_namespaced_pod(live[0], namespace, grace_period_seconds=0)
                    victims[vnf_id].append(live[0])
            elif i % 3 == (round_ + 1) % 3 and desired[vnf_id] < 3:
                await cast("scale_vnf", vnf_id, f"s{round_}-{vnf_id[:8]}", policy="SP1", type="out")
                desired[vnf_id] += 1

    async def settle() -> None:
        """Wait until every VNF's pods are ready, and no reconcile is pending."""
        for vnf_id in vnfs:
            await wait_for_pods(
                api_of(vnf_id),
                namespace=namespace,
                selector=f"{LABEL_VNF_ID}={vnf_id}",
                within=120,
                predicate=lambda ps, n=desired[vnf_id]: (
                    len([p for p in ps.values() if pod_ready(p)]) == n
                ),
            )

    try:
        for vnf_id in vnfs:
            await conductor(
                "instantiate_vnf",
                op_id=f"i-{vnf_id[:8]}",
                vnf={
                    "id": vnf_id,
                    "name": "c",
                    "tenant_id": "tenant-1",
                    "vnfd": VNFD,
                    "namespace": namespace,
                },
                **({"vim_id": vim_id} if vnf_id in on_vim2 else {}),
            )
            expected_ops[vnf_id].append(f"i-{vnf_id[:8]}")
            desired[vnf_id] = 1
        for vnf_id in vnfs:
            await events.wait(vnf_id, "vnf.instantiate.end", within=120)
        owners = collections.Counter([await _owner(kube_api, fleet.names, v) for v in vnfs])
        print(f"\nVNFs per replica: {dict(owners)}")
        assert len(owners) == 3, "the VNFs are shared out among the three replicas"

        # 1. kill -9 one replica.
        await fleet.workers["c1"].kill()
        await disturb(0)
        await settle()
        # 2. SIGSTOP one past its lease, then resume it.
        os.kill(fleet.workers["c2"].pid, signal.SIGSTOP)
        await disturb(1)
        await asyncio.sleep(8)  # longer than the 6 s lease
        os.kill(fleet.workers["c2"].pid, signal.SIGCONT)
        await settle()
        # 3. Restart RabbitMQ.
        proc = await asyncio.create_subprocess_exec(
            "bash", str(ROOT / "tools/testbed/rabbitmq.sh"), "restart"
        )
        assert await proc.wait() == 0
        # The topic queue is not durable: a cast sent before a replica has
        # declared it again would be dropped by the broker, as with oslo.
        await _await_consumers(amqp_url, fleet.names.topic, count=2, within=60)
        await disturb(2)
        await settle()
        # 4. Restart kube-apiserver.
        proc = await asyncio.create_subprocess_exec(
            "bash", str(ROOT / "tools/testbed/kube.sh"), "restart-apiserver"
        )
        assert await proc.wait() == 0
        await disturb(3)
        await settle()
        # 5. Hold c2's API requests from its scale of one of its VNFs, mid-step,
        # until its lease has passed, then release them: it must have given
        # that write up by then (else it lands after another replica took the
        # VNF over: the audit log shows it), and act again only once the
        # others have handed its VNFs back.
        owned_by_c2 = [
            v for v in vnfs if v not in on_vim2 and await _owner(kube_api, fleet.names, v) == "c2"
        ]
        assert owned_by_c2, "c2 has VNFs on cluster 1 again"
        held = owned_by_c2[0]
        deployment = await _deployment_of(kube_api, namespace, held)
        network.hold_on(f"/deployments/{deployment}/scale".encode())
        kind = "out" if desired[held] < 3 else "in"
        await cast("scale_vnf", held, f"held-{held[:8]}", policy="SP1", type=kind)
        desired[held] += 1 if kind == "out" else -1
        await asyncio.wait_for(network.triggered.wait(), 30)
        await asyncio.sleep(10)  # the lease is 6 s
        network.release()
        await settle()
        await asyncio.sleep(5)

        rows = []
        problems = []
        for vnf_id in vnfs:
            seen = events.of(vnf_id)
            # A repeat (at-least-once, across a kill) must be the same message.
            by_seq: dict[int, set[tuple[str, str]]] = collections.defaultdict(set)
            for e in seen:
                by_seq[e["payload"]["sequence"]].add((e["event_type"], e["message_id"]))
            seqs = sorted(by_seq)
            dupes = len(seen) - len(seqs)
            conflicts = [s for s, kinds in by_seq.items() if len(kinds) > 1]
            gaps = sorted(set(range(1, (seqs[-1] if seqs else 0) + 1)) - set(seqs))
            distinct = {}
            for e in seen:
                distinct[e["payload"]["sequence"]] = e
            ended = collections.Counter(
                e["payload"].get("op_id")
                for e in distinct.values()
                if e["event_type"].endswith((".end", ".error"))
                and e["event_type"] != "vnf.policy.triggered"
                # final events only: a FAILED_TEMP .error waits for a retry
                and e["payload"].get("operation_state") in ("COMPLETED", "FAILED", "ROLLED_BACK")
            )
            respawned = collections.Counter(
                e["payload"]["old_pod"]
                for e in distinct.values()
                if e["event_type"] == "vnf.respawn"
            )
            op_ok = all(ended[o] == 1 for o in expected_ops[vnf_id])
            resp_ok = all(respawned[v] == 1 for v in victims[vnf_id])
            info = await conductor("get_vnf", vnf_id=vnf_id)
            state_ok = (
                info["status"] == "ACTIVE"
                and info["vdus"][0]["desired_replicas"] == desired[vnf_id]
            )
            rows.append(
                (
                    vnf_id[:8],
                    len(expected_ops[vnf_id]),
                    sum(ended.values()),
                    len(victims[vnf_id]),
                    sum(respawned.values()),
                    len(seqs),
                    dupes,
                    len(gaps),
                    info["status"],
                    desired[vnf_id],
                )
            )
            if not (op_ok and resp_ok and state_ok) or gaps or conflicts:
                problems.append((vnf_id, op_ok, resp_ok, state_ok, gaps, conflicts))
        header = (
            "vnf",
            "ops",
            "ends",
            "killed",
            "respawns",
            "events",
            "dup",
            "gaps",
            "status",
            "replicas",
        )
        print(" ".join(f"{h:>8}" for h in header))
        for row in rows:
            print(" ".join(f"{c!s:>8}" for c in row))
        totals = [sum(r[i] for r in rows) for i in (1, 2, 3, 4, 5, 6, 7)]
        print(
            f"totals: ops={totals[0]} ends={totals[1]} pods killed={totals[2]} "
            f"respawns={totals[3]} events={totals[4]} redelivered duplicates={totals[5]} "
            f"gaps={totals[6]}"
        )
        assert not problems, problems
        # Each cluster holds exactly its own VNFs' Deployments.
        found = {}
        for api in (kube_api, vim2_api):
            deployments = await client.AppsV1Api(api).list_namespaced_deployment(namespace)
            found[api] = {
                d.metadata.name: d.metadata.labels[LABEL_VNF_ID]
                for d in deployments.items
                if (d.metadata.labels or {}).get(LABEL_VNF_ID) in vnfs
            }
        objects = found[kube_api]
        assert set(objects.values()) == set(vnfs) - on_vim2
        assert set(found[vim2_api].values()) == on_vim2
        verdict = audit.judge(objects, since=started)
        print(
            f"audit log: {verdict.acts} writes by replicas {sorted(verdict.agents)}, "
            f"{verdict.claims} owner changes, {len(verdict.foreign)} by a replica not the owner; "
            f"c2's connections held with bytes in flight: {network.held}, "
            f"of them given up by c2 {network.dropped}, delivered late {network.delivered_late}"
        )
        assert {"c1", "c2", "c3"} <= verdict.agents and verdict.acts and verdict.claims >= 30
        assert not verdict.foreign, verdict.foreign[:10]
    finally:
        events.stop()
        try:
            await fleet.stop_all()  # c2 releases its lease through the proxy
        finally:
            await network.stop()
            with contextlib.suppress(client.ApiException):
                await client.CoreV1Api(vim2_api).delete_namespace(namespace)
            await vim2_api.close()


async def test_the_lease_of_a_replica_long_gone_is_deleted(fleet, kube_api):
    from datetime import UTC, datetime, timedelta

    from k8s_worker.fleet.membership import MEMBER_LABEL

    await fleet.start("keeper")
    coordination = client.CoordinationV1Api(kube_api)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    ghost = client.V1Lease(
        metadata=client.V1ObjectMeta(name="ghost-member", labels={MEMBER_LABEL: "true"}),
        spec=client.V1LeaseSpec(
            holder_identity="ghost",
            lease_duration_seconds=6,
            acquire_time=long_ago,
            renew_time=long_ago,
        ),
    )
    await coordination.create_namespaced_lease(fleet.names.records, ghost)
    for _ in range(100):  # the worker looks once per lease duration (6 s here)
        leases = await coordination.list_namespaced_lease(
            fleet.names.records, label_selector=f"{MEMBER_LABEL}=true"
        )
        holders = {lease.spec.holder_identity for lease in leases.items}
        if "ghost" not in holders:
            break
        await asyncio.sleep(0.3)
    assert holders == {"keeper"}, "the ghost's lease is gone, the live replica's is kept"
