"""Kubernetes clusters as VIMs, end to end: the bed's two clusters registered
through the RPC (an unmodified oslo client), a VNF on each, each cluster
holding only its own VNF's objects; Tacker v2's ``vim_connection_info``; the
refusals (each leaving nothing registered); a revoked token; a VIM outage
through a loopback proxy that refuses its connections.

Every id, tenant and namespace is unique to the run (``RUN``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import pathlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client, config

from rpc.exceptions import Forbidden, VimInUse, VimNotFound, VimRefused
from tests.conftest import Vim2
from tests.functional.harness import CTX, Conductor, Events, Names, WorkerProcess, write_config
from tests.functional.tcp_hold import HoldingProxy
from tests.functional.test_operability import free_port, http_get, metric
from tests.functional.test_tacker_defaults import SAMPLE_ONE_CONTAINER, SAMPLE_TWO_CONTAINERS
from tests.vnfds import one_vdu

RUN = uuid.uuid4().hex[:8]
TENANT = f"tkw-vim-{RUN}"
OTHER = f"tkw-vimo-{RUN}"
NS1 = f"tkw-test-v1-{RUN}"  # vim1's default namespace for TENANT
NS2 = f"tkw-v2-{RUN}"  # vim2's (not a name cluster 1's grants would allow)
#: Every token and key the module hands the worker: none may show up anywhere.
ISSUED: set[str] = set()
WORKER_VIM_OPTIONS = """[vim]
allowed_endpoints = 127.0.0.1
probe_interval = 1
validation_timeout = 8
"""
HTTP_PORT = free_port()


# -- the clusters ----------------------------------------------------------------------
async def _api(kubeconfig: str) -> client.ApiClient:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    return client.ApiClient(configuration=cfg)


async def _service_account_token(
    kubeconfig: str, name: str, *, admin: bool, namespace: str = "default"
) -> str:
    """A ServiceAccount ``name`` (cluster-admin when ``admin``) and a token of it."""
    api = await _api(kubeconfig)
    try:
        core = client.CoreV1Api(api)
        try:
            await core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
        except client.ApiException as exc:
            if exc.status != 409:
                raise
        if admin:
            rbac = client.RbacAuthorizationV1Api(api)
            try:
                await rbac.create_cluster_role_binding(
                    {
                        "metadata": {"name": name},
                        "roleRef": {
                            "apiGroup": "rbac.authorization.k8s.io",
                            "kind": "ClusterRole",
                            "name": "cluster-admin",
                        },
                        "subjects": [
                            {"kind": "ServiceAccount", "name": name, "namespace": namespace}
                        ],
                    }
                )
            except client.ApiException as exc:
                if exc.status != 409:
                    raise
        review = await core.create_namespaced_service_account_token(
            name, namespace, {"spec": {"expirationSeconds": 7200}}
        )
        token = str(review.status.token)
    finally:
        await api.close()
    ISSUED.add(token)
    return token


async def _delete_service_account(kubeconfig: str, name: str) -> None:
    api = await _api(kubeconfig)
    try:
        await client.CoreV1Api(api).delete_namespaced_service_account(name, "default")
        await client.RbacAuthorizationV1Api(api).delete_cluster_role_binding(name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
    finally:
        await api.close()


async def _deployments(kubeconfig: str, vnf_id: str) -> list[Any]:
    api = await _api(kubeconfig)
    try:
        found = await client.AppsV1Api(api).list_deployment_for_all_namespaces(
            label_selector=f"tacker.openstack.org/vnf-id={vnf_id}"
        )
        return list(found.items)
    finally:
        await api.close()


async def _pods(kubeconfig: str, vnf_id: str) -> list[Any]:
    api = await _api(kubeconfig)
    try:
        found = await client.CoreV1Api(api).list_pod_for_all_namespaces(
            label_selector=f"tacker.openstack.org/vnf-id={vnf_id}"
        )
        return [p for p in found.items if not p.metadata.deletion_timestamp]
    finally:
        await api.close()


async def _delete_namespaces(kubeconfig: str, names: list[str]) -> None:
    api = await _api(kubeconfig)
    try:
        for name in names:
            try:
                await client.CoreV1Api(api).delete_namespace(name)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
    finally:
        await api.close()


def _cluster1(kubeconfig: str) -> tuple[str, str]:
    """(API server URL, CA PEM) of the bed's first cluster."""
    conf = yaml.safe_load(pathlib.Path(kubeconfig).read_text())
    cluster = conf["clusters"][0]["cluster"]
    if "certificate-authority-data" in cluster:
        ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
    else:
        path = pathlib.Path(cluster["certificate-authority"])
        if not path.is_absolute():
            path = pathlib.Path(kubeconfig).parent / path
        ca = path.read_text()
    return cluster["server"], ca


# -- fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
async def worker(
    transport_url: str,
    kubeconfig: str,
    names: Names,
    vim2: Vim2,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("vims")
    conf = write_config(
        tmp / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="vims-1",
        extra=WORKER_VIM_OPTIONS + f"[service]\nhttp_port = {HTTP_PORT}\n",
    )
    proc = WorkerProcess(conf, log=tmp / "worker.log")
    await proc.start()
    yield proc
    assert await proc.stop() == 0
    logged = proc.log.read_text(errors="replace")
    assert not [t for t in ISSUED if t in logged], f"a VIM credential is in {proc.log}"
    await _delete_namespaces(kubeconfig, [NS1])
    await _delete_namespaces(vim2.kubeconfig, [NS2, f"{NS2}-x", f"{NS2}-p"])


@pytest.fixture(scope="module")
def admin(transport_url: str, names: Names, worker: WorkerProcess) -> Conductor:
    return Conductor(transport_url, names, ctx={**CTX, "roles": ["admin"], "is_admin": True})


@pytest.fixture(scope="module")
def as_tenant(
    transport_url: str, names: Names, worker: WorkerProcess
) -> Callable[[str], Conductor]:
    made: dict[str, Conductor] = {}

    def make(project_id: str) -> Conductor:
        if project_id not in made:
            made[project_id] = Conductor(
                transport_url, names, ctx={**CTX, "project_id": project_id}
            )
        return made[project_id]

    return make


@pytest.fixture(scope="module")
async def vims(admin: Conductor, kubeconfig: str, vim2: Vim2) -> dict[str, str]:
    """vim1 (the bed's first cluster, a ServiceAccount token of it) and vim2
    registered for TENANT by an admin; their ids."""
    url1, ca1 = _cluster1(kubeconfig)
    token1 = await _service_account_token(kubeconfig, f"tkw-vim1-{RUN}", admin=True)
    ISSUED.add(vim2.bearer_token)
    ids = {"vim1": f"vim1-{RUN}", "vim2": f"vim2-{RUN}"}
    first = await admin(
        "register_vim",
        vim_id=ids["vim1"],
        name="bed cluster 1",
        tenant_id=TENANT,
        auth_url=url1,
        ssl_ca_cert=ca1,
        bearer_token=token1,
        default_namespace=NS1,
        namespaces=["default"],  # Tacker's samples name it
    )
    second = await admin(
        "register_vim",
        vim_id=ids["vim2"],
        name="bed cluster 2",
        tenant_id=TENANT,
        auth_url=vim2.auth_url,
        ssl_ca_cert=vim2.ssl_ca_cert,
        bearer_token=vim2.bearer_token,
        default_namespace=NS2,
        namespaces=[f"{NS2}-x", "default"],
    )
    for reply in (first, second):
        _assert_no_credential(reply)
    assert second["default_namespace"] == NS2 and second["version"].startswith("v1.")
    return ids


def _assert_no_credential(value: Any) -> None:
    text = json.dumps(value, default=str)
    leaked = [t for t in ISSUED if t in text]
    assert not leaked, "a credential is in a reply or notification"


def _vnf(vnfd: str, *, tenant_id: str = TENANT, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "name": "vim-test",
        "tenant_id": tenant_id,
        "vnfd": vnfd,
        **extra,
    }


async def _instantiated(
    conductor: Conductor, events: Events, vnf: dict[str, Any], **where: Any
) -> dict[str, Any]:
    op_id = f"i-{vnf['id'][:8]}"
    await conductor("instantiate_vnf", vnf=vnf, op_id=op_id, **where)
    end = await events.wait(vnf["id"], "vnf.instantiate.end", op_id=op_id, within=90)
    return end[0]["payload"]


async def _refused(
    conductor: Conductor, events: Events, vnf: dict[str, Any], **where: Any
) -> dict[str, Any]:
    op_id = f"i-{vnf['id'][:8]}"
    await conductor("instantiate_vnf", vnf=vnf, op_id=op_id, **where)
    err = await events.wait(vnf["id"], "vnf.instantiate.error", op_id=op_id, within=60)
    return err[0]["payload"]["error"]


async def _terminated(conductor: Conductor, events: Events, vnf_id: str) -> None:
    op_id = f"t-{vnf_id[:8]}"
    await conductor("terminate_vnf", vnf_id=vnf_id, op_id=op_id)
    await events.wait(vnf_id, "vnf.terminate.end", op_id=op_id, within=90)


def _vim_events(events: Events, vim_id: str) -> list[dict[str, Any]]:
    with events._lock:
        return [
            e
            for e in events.received
            if e["event_type"] == "vim.status.update" and e["payload"].get("vim_id") == vim_id
        ]


async def _vim_status(events: Events, vim_id: str, status: str, *, within: float) -> float:
    """Seconds until a vim.status.update to ``status`` for ``vim_id`` arrived."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not any(e["payload"]["status"] == status for e in _vim_events(events, vim_id)):
        if loop.time() - start > within:
            raise AssertionError(
                f"no vim.status.update {status} of {vim_id} in {within} s; saw "
                f"{[e['payload'] for e in _vim_events(events, vim_id)]}"
            )
        await asyncio.sleep(0.1)
    return loop.time() - start


# -- the tests -------------------------------------------------------------------------------
async def test_a_vnf_on_each_vim_lives_only_there_and_every_operation_works(
    admin: Conductor, events: Events, vims: dict[str, str], kubeconfig: str, vim2: Vim2
) -> None:
    a = _vnf(SAMPLE_ONE_CONTAINER)
    b = _vnf(SAMPLE_TWO_CONTAINERS)
    done_a, done_b = await asyncio.gather(
        _instantiated(admin, events, a, vim_id=vims["vim1"]),
        _instantiated(admin, events, b, vim_id=vims["vim2"]),
    )
    # Tacker's samples name the namespace "default" (granted on both VIMs).
    assert done_a["namespace"] == done_b["namespace"] == "default"
    # Each cluster holds its own VNF's objects only.
    assert await _deployments(kubeconfig, a["id"]) and not await _deployments(kubeconfig, b["id"])
    assert await _deployments(vim2.kubeconfig, b["id"]) and not await _deployments(
        vim2.kubeconfig, a["id"]
    )
    shown = await admin("get_vnf", vnf_id=b["id"])
    assert shown["vim_id"] == vims["vim2"] and shown["pods"]
    await _vim_status(events, vims["vim2"], "REACHABLE", within=15)
    assert (await admin("get_vnf", vnf_id=b["id"]))["vim_status"] == "REACHABLE"

    # Scale out and back in on vim2; the Deployment there follows.
    for direction, want in (("out", 2), ("in", 1)):
        op_id = f"s{direction}-{b['id'][:8]}"
        await admin("scale_vnf", vnf_id=b["id"], op_id=op_id, policy="SP1", type=direction)
        await events.wait(b["id"], "vnf.scale.end", op_id=op_id, within=60)
        (dep,) = await _deployments(vim2.kubeconfig, b["id"])
        assert dep.spec.replicas == want

    # A pod of B deleted on cluster 2 is reported once, as B's respawn.
    (pod,) = await _pods(vim2.kubeconfig, b["id"])
    api = await _api(vim2.kubeconfig)
    try:
        await client.CoreV1Api(api).delete_namespaced_pod(pod.metadata.name, "default")
    finally:
        await api.close()
    (respawn,) = await events.wait(b["id"], "vnf.respawn", within=60)
    assert respawn["payload"]["old_pod"] == pod.metadata.name
    # A VIM a VNF uses cannot be deregistered.
    with pytest.raises(VimInUse):
        await admin("deregister_vim", vim_id=vims["vim2"])
    # Heal restarts B's VDU on vim2.
    op_id = f"h-{b['id'][:8]}"
    await admin("heal_vnf", vnf_id=b["id"], op_id=op_id, cause="test")
    await events.wait(b["id"], "vnf.heal.end", op_id=op_id, within=90)

    await asyncio.gather(_terminated(admin, events, a["id"]), _terminated(admin, events, b["id"]))
    assert not await _deployments(vim2.kubeconfig, b["id"])
    assert not await _deployments(kubeconfig, a["id"])
    for e in events.of(a["id"]) + events.of(b["id"]) + _vim_events(events, vims["vim2"]):
        _assert_no_credential(e)


async def test_tacker_v2_vim_connection_info_registers_and_places_the_vnf(
    admin: Conductor, events: Events, vims: dict[str, str], vim2: Vim2
) -> None:
    vim_id = f"v2form-{RUN}"
    vnf = _vnf(one_vdu(), namespace=f"{NS2}-x")
    info = {
        "vim1": {
            "vimId": vim_id,
            "vimType": "ETSINFV.KUBERNETES.V_1",
            "interfaceInfo": {"endpoint": vim2.auth_url, "ssl_ca_cert": vim2.ssl_ca_cert},
            "accessInfo": {"bearer_token": vim2.bearer_token},
            "extra": {},
        }
    }
    done = await _instantiated(admin, events, vnf, vim_connection_info=info)
    assert done["namespace"] == f"{NS2}-x"
    assert await _deployments(vim2.kubeconfig, vnf["id"])
    shown = await admin("get_vim", vim_id=vim_id)
    assert shown["tenant_id"] == TENANT and shown["auth_url"] == vim2.auth_url
    _assert_no_credential(shown)
    # The same entry again (a second VNF): the VIM is reused, not re-registered.
    again = _vnf(one_vdu(), namespace=f"{NS2}-x")
    await _instantiated(admin, events, again, vim_connection_info=info)
    await asyncio.gather(
        _terminated(admin, events, vnf["id"]), _terminated(admin, events, again["id"])
    )
    await admin("deregister_vim", vim_id=vim_id)
    with pytest.raises(VimNotFound):
        await admin("get_vim", vim_id=vim_id)


async def test_registrations_that_must_fail_leave_nothing_registered(
    admin: Conductor,
    as_tenant: Callable[[str], Conductor],
    events: Events,
    vims: dict[str, str],
    vim2: Vim2,
) -> None:
    base = {
        "tenant_id": TENANT,
        "auth_url": vim2.auth_url,
        "ssl_ca_cert": vim2.ssl_ca_cert,
        "bearer_token": vim2.bearer_token,
    }

    async def refused(**args: Any) -> VimRefused:
        with pytest.raises(VimRefused) as caught:
            await admin("register_vim", **{**base, **args})
        _assert_no_credential(str(caught.value))
        return caught.value

    wrong = "eyJhbGciOiJSUzI1NiJ9.e30.bm90LWEtc2lnbmF0dXJl"
    ISSUED.add(wrong)
    assert (await refused(vim_id=f"bad-tok-{RUN}", bearer_token=wrong)).kwargs[
        "reason"
    ] == "Unauthorized"
    weak = await _service_account_token(vim2.kubeconfig, f"tkw-weak-{RUN}", admin=False)
    missing = await refused(vim_id=f"no-rbac-{RUN}", bearer_token=weak)
    assert missing.kwargs["reason"] == "PermissionMissing"
    assert "list pods in all namespaces" in str(missing)
    outside = await refused(
        vim_id=f"outside-{RUN}", auth_url=vim2.auth_url.replace("127.0.0.1", "127.0.0.2")
    )
    assert outside.kwargs["reason"] == "EndpointNotAllowed"
    no_ca = await refused(vim_id=f"no-ca-{RUN}", ssl_ca_cert=None)
    assert no_ca.kwargs["reason"] == "CertificateRequired"
    wrong_ca = await refused(vim_id=f"wrong-ca-{RUN}", ssl_ca_cert=_cluster1_ca(vim2))
    assert wrong_ca.kwargs["reason"] == "Unreachable" and "TLS" in str(wrong_ca)
    # A tenant may not register at all here ([vim] tenant_registration is off).
    with pytest.raises(Forbidden):
        await as_tenant(TENANT)("register_vim", vim_id=f"tenant-{RUN}", **base)
    listed = {v["vim_id"] for v in await admin("list_vims")}
    assert {vims["vim1"], vims["vim2"]} <= listed

    # Another tenant's VIM is not found, whether asked for or named by a VNF.
    other = as_tenant(OTHER)
    with pytest.raises(VimNotFound):
        await other("get_vim", vim_id=vims["vim2"])
    assert await other("list_vims") == []
    error = await _refused(other, events, _vnf(one_vdu(), tenant_id=OTHER), vim_id=vims["vim2"])
    assert error["type"] == "VimNotFound"
    # A namespace vim2 does not grant: refused before anything is created there.
    vnf = _vnf(one_vdu(), namespace=f"{NS2}-p")
    error = await _refused(admin, events, vnf, vim_id=vims["vim2"])
    assert error["type"] == "NamespaceForbidden"
    assert not await _deployments(vim2.kubeconfig, vnf["id"])
    # Username and password (Tacker v2 allows them): refused with a clear error.
    info = {
        "vimId": f"pw-{RUN}",
        "vimType": "kubernetes",
        "interfaceInfo": {"endpoint": vim2.auth_url, "ssl_ca_cert": vim2.ssl_ca_cert},
        "accessInfo": {"username": "admin", "password": f"secret-{RUN}"},
    }
    ISSUED.add(f"secret-{RUN}")
    error = await _refused(admin, events, _vnf(one_vdu()), vim_connection_info=info)
    assert error["type"] == "VimRefused" and "username/password" in error["message"]
    listed_after = {v["vim_id"] for v in await admin("list_vims")}
    assert not {f"pw-{RUN}", f"no-ca-{RUN}", f"outside-{RUN}", f"no-rbac-{RUN}"} & listed_after


def _cluster1_ca(vim2: Vim2) -> str:
    """A CA that did not sign vim2's certificate (cluster 1's)."""
    from tests.conftest import STATE

    return (STATE / "pki" / "ca.crt").read_text()


async def test_a_revoked_token_fails_only_the_next_operation_of_that_vims_vnf(
    admin: Conductor, events: Events, vims: dict[str, str], vim2: Vim2, kubeconfig: str
) -> None:
    account = f"tkw-revoke-{RUN}"
    token = await _service_account_token(vim2.kubeconfig, account, admin=True)
    vim_id = f"revoke-{RUN}"
    await admin(
        "register_vim",
        vim_id=vim_id,
        tenant_id=TENANT,
        auth_url=vim2.auth_url,
        ssl_ca_cert=vim2.ssl_ca_cert,
        bearer_token=token,
        default_namespace=NS2,
    )
    b = _vnf(one_vdu())
    a = _vnf(one_vdu())
    await asyncio.gather(
        _instantiated(admin, events, b, vim_id=vim_id),
        _instantiated(admin, events, a, vim_id=vims["vim1"]),
    )
    await _delete_service_account(vim2.kubeconfig, account)
    await asyncio.sleep(1.0)
    op_b, op_a = f"so-{b['id'][:8]}", f"so-{a['id'][:8]}"
    await admin("scale_vnf", vnf_id=b["id"], op_id=op_b, policy="SP1", type="out")
    await admin("scale_vnf", vnf_id=a["id"], op_id=op_a, policy="SP1", type="out")
    await events.wait(a["id"], "vnf.scale.end", op_id=op_a, within=60)
    (err,) = await events.wait(b["id"], "vnf.scale.error", op_id=op_b, within=150)
    assert vim_id in err["payload"]["error"]["message"]
    _assert_no_credential(err)
    await _terminated(admin, events, a["id"])


async def test_an_unreachable_vim_is_reported_and_its_vnfs_catch_up_once_it_returns(
    admin: Conductor, events: Events, vims: dict[str, str], vim2: Vim2
) -> None:
    host, port = vim2.auth_url.removeprefix("https://").split(":")
    proxy = HoldingProxy(host, int(port))
    await proxy.start()
    vim_id = f"proxied-{RUN}"
    try:
        await admin(
            "register_vim",
            vim_id=vim_id,
            tenant_id=TENANT,
            auth_url=f"https://127.0.0.1:{proxy.port}",
            ssl_ca_cert=vim2.ssl_ca_cert,
            bearer_token=vim2.bearer_token,
            default_namespace=NS2,
        )
        b = _vnf(one_vdu())
        a = _vnf(one_vdu())
        await asyncio.gather(
            _instantiated(admin, events, b, vim_id=vim_id),
            _instantiated(admin, events, a, vim_id=vims["vim1"]),
        )
        await _vim_status(events, vim_id, "REACHABLE", within=15)
        proxy.refuse()
        took = await _vim_status(events, vim_id, "UNREACHABLE", within=15)
        print(f"\nvim.status.update UNREACHABLE {took:.1f} s after the proxy refused")
        # One VIM down does not make the replica unready; the metric says so.
        status, body = await http_get(f"http://127.0.0.1:{HTTP_PORT}/readyz")
        assert status == 200, body
        _, text = await http_get(f"http://127.0.0.1:{HTTP_PORT}/metrics")
        assert metric(text, "tacker_k8s_worker_vim_reachable", vim_id=vim_id) == 0
        shown = await admin("get_vnf", vnf_id=b["id"])
        assert shown["vim_status"] == "UNREACHABLE" and shown["status"] != "DEAD"
        # Meanwhile, one of B's pods goes, through the direct port.
        (pod,) = await _pods(vim2.kubeconfig, b["id"])
        api = await _api(vim2.kubeconfig)
        try:
            await client.CoreV1Api(api).delete_namespaced_pod(pod.metadata.name, NS2)
        finally:
            await api.close()
        # A keeps working; B is not DEAD.
        op_a = f"so-{a['id'][:8]}"
        await admin("scale_vnf", vnf_id=a["id"], op_id=op_a, policy="SP1", type="out")
        await events.wait(a["id"], "vnf.scale.end", op_id=op_a, within=60)
        await asyncio.sleep(3.0)
        assert not [
            e for e in events.of(b["id"], "vnf.status.update") if e["payload"]["status"] == "DEAD"
        ]
        assert not events.of(b["id"], "vnf.respawn")
        proxy.accept()
        await _vim_status(events, vim_id, "REACHABLE", within=30)
        (respawn,) = await events.wait(b["id"], "vnf.respawn", within=60)
        assert respawn["payload"]["old_pod"] == pod.metadata.name
        await asyncio.sleep(3.0)
        assert len(events.of(b["id"], "vnf.respawn")) == 1
        sequences = [e["payload"]["sequence"] for e in _vim_events(events, vim_id)]
        assert sorted(set(sequences)) == list(range(1, max(sequences) + 1))
        # At least once: a consumer de-duplicates on (vim_id, sequence), as the
        # contract says (the same event may arrive twice after a retried publish).
        by_sequence = {
            e["payload"]["sequence"]: e["payload"]["status"] for e in _vim_events(events, vim_id)
        }
        statuses = [by_sequence[n] for n in sorted(by_sequence)]
        assert statuses[-3:] == ["REACHABLE", "UNREACHABLE", "REACHABLE"]
        await asyncio.gather(
            _terminated(admin, events, a["id"]), _terminated(admin, events, b["id"])
        )
    finally:
        await proxy.stop()


async def test_rotating_a_vims_token_loses_and_repeats_no_event(
    admin: Conductor, events: Events, vims: dict[str, str], kubeconfig: str
) -> None:
    vnf = _vnf(one_vdu())
    await _instantiated(admin, events, vnf, vim_id=vims["vim1"])
    fresh = await _service_account_token(kubeconfig, f"tkw-vim1-{RUN}", admin=True)
    reply = await admin("update_vim", vim_id=vims["vim1"], bearer_token=fresh)
    _assert_no_credential(reply)
    (pod,) = await _pods(kubeconfig, vnf["id"])
    api = await _api(kubeconfig)
    try:
        await client.CoreV1Api(api).delete_namespaced_pod(pod.metadata.name, NS1)
    finally:
        await api.close()
    (respawn,) = await events.wait(vnf["id"], "vnf.respawn", within=60)
    assert respawn["payload"]["old_pod"] == pod.metadata.name
    await asyncio.sleep(3.0)
    assert len(events.of(vnf["id"], "vnf.respawn")) == 1
    await _terminated(admin, events, vnf["id"])


async def test_no_record_or_vim_resource_holds_a_credential(
    vims: dict[str, str], names: Names, kubeconfig: str
) -> None:
    """Run last in the module: every Vnf record and Vim resource the module's
    worker wrote, searched for every token and key the module issued (the
    credentials are in Secrets only)."""
    api = await _api(kubeconfig)
    try:
        custom = client.CustomObjectsApi(api)
        found = []
        for plural in ("vims", "vnfs"):
            listed = await custom.list_namespaced_custom_object(
                "tacker.openstack.org", "v1alpha1", names.records, plural
            )
            found += listed["items"]
        assert any(o["kind"] == "Vim" for o in found)
        _assert_no_credential(found)
        secrets = await client.CoreV1Api(api).list_namespaced_secret(
            names.records, label_selector="tacker.openstack.org/vim=credentials"
        )
        assert len(secrets.items) >= 2  # ... where they are
    finally:
        await api.close()
