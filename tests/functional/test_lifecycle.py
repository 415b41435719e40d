"""VNF lifecycle end to end: RPC casts from an oslo.messaging client in, oslo
notifications and the Kubernetes API out, a real worker process in between."""

from __future__ import annotations

import asyncio
import pathlib
import uuid
from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client

from k8s_worker.tosca import LABEL_VNF_ID
from tests.functional.harness import Conductor, Events, Names, WorkerProcess, write_config
from tests.functional.kube_wait import CHAOS_FAILED, pod_ready, wait_for_pods

DATA = pathlib.Path(__file__).resolve().parents[1] / "unit" / "tosca" / "data"

VNFD_SCALABLE = """
tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0
description: one VDU with a config and a scaling policy
topology_template:
  node_templates:
    VDU1:
      type: tosca.nodes.nfv.VDU.Tacker
      properties:
        mapping_ports: ["80:8080"]
        vnfcs:
          web:
            num_cpus: 0.1
            mem_size: 64 MB
            image: nginx:1.27
            ports: ["8080"]
            config: |
              GREETING: hello
  policies:
    - SP1:
        type: tosca.policies.tacker.Scaling
        targets: [VDU1]
        properties:
          min_instances: 1
          max_instances: 3
          default_instances: 2
          increment: 1
"""


@pytest.fixture(scope="module")
async def worker(
    transport_url: str, kubeconfig: str, names: Names, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("lifecycle")
    config = write_config(
        tmp / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="lc-1",
    )
    proc = WorkerProcess(config, log=tmp / "worker.log")
    await proc.start()
    yield proc
    assert await proc.stop() == 0


@pytest.fixture(scope="module")
def conductor(transport_url: str, names: Names, worker: WorkerProcess) -> Conductor:
    return Conductor(transport_url, names)


def _vnf(namespace: str, vnfd: str, **extra: object) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "name": "e2e",
        "tenant_id": "tenant-1",
        "vnfd": vnfd,
        "namespace": namespace,
        **extra,
    }


async def test_instantiate_scale_update_heal_terminate(conductor, events, kube_api, namespace):
    vnf = _vnf(namespace, VNFD_SCALABLE)
    vnf_id = vnf["id"]
    selector = f"{LABEL_VNF_ID}={vnf_id}"

    await conductor("instantiate_vnf", vnf=vnf, op_id="op-inst")
    await events.wait(vnf_id, "vnf.instantiate.start", op_id="op-inst")
    end = (await events.wait(vnf_id, "vnf.instantiate.end", op_id="op-inst"))[0]
    assert end["payload"]["vdus"] == {"VDU1": 2}
    await events.wait(vnf_id, "vnf.status.update", status="ACTIVE")
    pods = await wait_for_pods(
        kube_api,
        namespace=namespace,
        selector=selector,
        predicate=lambda ps: len([p for p in ps.values() if pod_ready(p)]) == 2,
    )
    info = await conductor("get_vnf", vnf_id=vnf_id)
    assert info["status"] == "ACTIVE"
    assert info["vdus"][0]["desired_replicas"] == 2 and info["vdus"][0]["ready_replicas"] == 2
    assert sorted(p["name"] for p in info["pods"]) == sorted(pods)
    assert info["connection_points"][0]["ports"][0]["port"] == 80
    assert info["connection_points"][0]["mgmt_ip_address"]

    # Scale out once (2 -> 3), then refuse beyond max_instances.
    await conductor("scale_vnf", vnf_id=vnf_id, op_id="op-so", policy="SP1", type="out")
    end = (await events.wait(vnf_id, "vnf.scale.end", op_id="op-so"))[0]
    assert end["payload"]["replicas"] == {"VDU1": {"old": 2, "new": 3}}
    apps = client.AppsV1Api(kube_api)
    deps = await apps.list_namespaced_deployment(namespace, label_selector=selector)
    assert deps.items[0].spec.replicas == 3 and deps.items[0].status.ready_replicas == 3
    await conductor("scale_vnf", vnf_id=vnf_id, op_id="op-so2", policy="SP1", type="out")
    err = (await events.wait(vnf_id, "vnf.scale.error", op_id="op-so2"))[0]
    assert err["priority"] == "ERROR"
    assert "max_instances 3" in err["payload"]["error"]["message"]
    await conductor("scale_vnf", vnf_id=vnf_id, op_id="op-si", policy="SP1", type="in", steps=2)
    end = (await events.wait(vnf_id, "vnf.scale.end", op_id="op-si"))[0]
    assert end["payload"]["replicas"] == {"VDU1": {"old": 3, "new": 1}}

    # A config update rolls the pod.
    before = await wait_for_pods(
        kube_api,
        namespace=namespace,
        selector=selector,
        predicate=lambda ps: len([p for p in ps.values() if pod_ready(p)]) == 1,
    )
    await conductor(
        "update_vnf",
        vnf_id=vnf_id,
        op_id="op-upd",
        config={"VDU1": {"web": {"GREETING": "bonjour"}}},
    )
    await events.wait(vnf_id, "vnf.update.end", op_id="op-upd")
    core = client.CoreV1Api(kube_api)
    cms = await core.list_namespaced_config_map(namespace, label_selector=selector)
    assert cms.items[0].data["GREETING"] == "bonjour"
    after = await wait_for_pods(
        kube_api,
        namespace=namespace,
        selector=selector,
        predicate=lambda ps: (
            len([p for n, p in ps.items() if pod_ready(p) and n not in before]) == 1
        ),
    )
    assert not set(before) & {n for n, p in after.items() if pod_ready(p)}

    # Heal after kwok fails the pod.
    victim = next(n for n, p in after.items() if pod_ready(p))
    await core.patch_namespaced_pod(
        victim, namespace, {"metadata": {"labels": {CHAOS_FAILED: "true"}}}
    )
    await wait_for_pods(
        kube_api,
        namespace=namespace,
        selector=selector,
        predicate=lambda ps: victim in ps and ps[victim]["status"].get("phase") == "Failed",
    )
    await conductor("heal_vnf", vnf_id=vnf_id, op_id="op-heal")
    end = (await events.wait(vnf_id, "vnf.heal.end", op_id="op-heal"))[0]
    assert victim in end["payload"]["replaced_pods"]
    info = await conductor("get_vnf", vnf_id=vnf_id)
    assert victim not in [p["name"] for p in info["pods"]]
    assert info["status"] == "ACTIVE"

    # Terminate: nothing of the VNF is left, the record is gone.
    await conductor("terminate_vnf", vnf_id=vnf_id, op_id="op-term")
    await events.wait(vnf_id, "vnf.terminate.end", op_id="op-term")
    for lister in (
        apps.list_namespaced_deployment,
        apps.list_namespaced_replica_set,
        core.list_namespaced_pod,
        core.list_namespaced_service,
        core.list_namespaced_config_map,
    ):
        assert (await lister(namespace, label_selector=selector)).items == []

    # Every notification of the VNF carries a strictly increasing sequence, no gap.
    seqs = [e["payload"]["sequence"] for e in events.of(vnf_id)]
    assert sorted(seqs) == list(range(1, len(seqs) + 1))
    assert all("SECRET" not in str(e) for e in events.of(vnf_id))


async def test_multi_vdu_and_duplicate_op(conductor, events, kube_api, namespace):
    # Within the tenancy rules: a network of the VNF's own namespace, and no
    # LoadBalancer (not in the default allowed_service_types).
    vnfd = (
        (DATA / "tacker_multi_vdu.yaml")
        .read_text()
        .replace("infra/storage-net", "storage-net")
        .replace("service_type: LoadBalancer", "service_type: NodePort")
    )
    vnf = _vnf(namespace, vnfd)
    vnf_id = vnf["id"]
    await conductor("instantiate_vnf", vnf=vnf, op_id="dup-op")
    await conductor("instantiate_vnf", vnf=vnf, op_id="dup-op")
    end = (await events.wait(vnf_id, "vnf.instantiate.end"))[0]
    vdus = end["payload"]["vdus"]
    assert len(vdus) >= 2
    apps = client.AppsV1Api(kube_api)
    deps = await apps.list_namespaced_deployment(
        namespace, label_selector=f"{LABEL_VNF_ID}={vnf_id}"
    )
    assert len(deps.items) == len(vdus)
    await conductor("terminate_vnf", vnf_id=vnf_id, op_id="t-dup")
    await events.wait(vnf_id, "vnf.terminate.end")
    assert len(events.of(vnf_id, "vnf.instantiate.start")) == 1
    assert len(events.of(vnf_id, "vnf.instantiate.end")) == 1


async def test_invalid_vnfd_ends_in_error(conductor, events, namespace):
    bad = VNFD_SCALABLE.replace("mem_size: 64 MB", "mem_size: lots")
    vnf = _vnf(namespace, bad)
    await conductor("instantiate_vnf", vnf=vnf, op_id="bad-1")
    err = (await events.wait(vnf["id"], "vnf.instantiate.error", op_id="bad-1"))[0]
    assert err["payload"]["error"]["type"] == "InvalidVnfd"
    assert "mem_size" in err["payload"]["error"]["message"]
    info = await conductor("get_vnf", vnf_id=vnf["id"])
    assert info["status"] == "ERROR"
    await conductor("terminate_vnf", vnf_id=vnf["id"], op_id="bad-t")
    await events.wait(vnf["id"], "vnf.terminate.end")


async def test_a_fixed_vnfd_sent_as_an_update_creates_a_vnf_whose_instantiate_failed(
    conductor, events, kube_api, namespace
):
    vnf = _vnf(namespace, VNFD_SCALABLE.replace("mem_size: 64 MB", "mem_size: lots"))
    vnf_id = vnf["id"]
    await conductor("instantiate_vnf", vnf=vnf, op_id="fix-i")
    await events.wait(vnf_id, "vnf.instantiate.error", op_id="fix-i")
    # A scale meanwhile fails at once, and says why (it never loops or waits).
    await conductor("scale_vnf", vnf_id=vnf_id, op_id="fix-s", policy="SP1", type="out")
    err = (await events.wait(vnf_id, "vnf.scale.error", op_id="fix-s"))[0]["payload"]["error"]
    assert err["type"] == "InvalidVnfd"
    await conductor("update_vnf", vnf_id=vnf_id, op_id="fix-u", vnfd=VNFD_SCALABLE)
    await events.wait(vnf_id, "vnf.update.end", op_id="fix-u", within=90)
    info = await conductor("get_vnf", vnf_id=vnf_id)
    assert info["status"] == "ACTIVE"
    assert info["vdus"][0]["ready_replicas"] == 2
    await conductor("terminate_vnf", vnf_id=vnf_id, op_id="fix-t")
    await events.wait(vnf_id, "vnf.terminate.end", op_id="fix-t")


async def test_an_invalid_update_is_refused_and_the_vnf_keeps_running(
    conductor, events, kube_api, namespace
):
    vnf = _vnf(namespace, VNFD_SCALABLE)
    vnf_id = vnf["id"]
    await conductor("instantiate_vnf", vnf=vnf, op_id="bu-i")
    await events.wait(vnf_id, "vnf.instantiate.end", op_id="bu-i", within=90)
    bad = VNFD_SCALABLE.replace("mem_size: 64 MB", "mem_size: lots")
    await conductor("update_vnf", vnf_id=vnf_id, op_id="bu-u", vnfd=bad)
    err = (await events.wait(vnf_id, "vnf.update.error", op_id="bu-u"))[0]["payload"]["error"]
    assert err["type"] == "InvalidVnfd" and "mem_size" in err["message"]
    assert (await conductor("get_vnf", vnf_id=vnf_id))["status"] == "ACTIVE"
    await conductor(
        "update_vnf", vnf_id=vnf_id, op_id="bu-c", config={"VDU1": {"nope": {"K": "v"}}}
    )
    err = (await events.wait(vnf_id, "vnf.update.error", op_id="bu-c"))[0]["payload"]["error"]
    assert err["type"] == "InvalidConfig" and "VDU1/nope" in err["message"]
    assert "VDU1/web" in err["message"]
    # The descriptor that runs is still the one scale reads.
    await conductor("scale_vnf", vnf_id=vnf_id, op_id="bu-s", policy="SP1", type="out")
    end = (await events.wait(vnf_id, "vnf.scale.end", op_id="bu-s", within=90))[0]["payload"]
    assert end["replicas"] == {"VDU1": {"old": 2, "new": 3}}
    await conductor("terminate_vnf", vnf_id=vnf_id, op_id="bu-t")
    await events.wait(vnf_id, "vnf.terminate.end", op_id="bu-t")


async def test_objects_deleted_by_hand_are_re_created_and_the_vnf_keeps_working(
    conductor, events, kube_api, namespace
):
    vnf = _vnf(namespace, VNFD_SCALABLE)
    vnf_id = vnf["id"]
    await conductor("instantiate_vnf", vnf=vnf, op_id="gone-i")
    await events.wait(vnf_id, "vnf.instantiate.end", op_id="gone-i", within=90)
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    selector = f"{LABEL_VNF_ID}={vnf_id}"
    deleted = []
    for svc in (await core.list_namespaced_service(namespace, label_selector=selector)).items:
        await core.delete_namespaced_service(svc.metadata.name, namespace)
        deleted.append(("Service", svc.metadata.name))
    for cm in (await core.list_namespaced_config_map(namespace, label_selector=selector)).items:
        await core.delete_namespaced_config_map(cm.metadata.name, namespace)
        deleted.append(("ConfigMap", cm.metadata.name))
    # The Deployment last: its delete (watched) brings the VNF's check at once;
    # the others alone are found by the periodic check ([lifecycle] drift_check_interval).
    for dep in (await apps.list_namespaced_deployment(namespace, label_selector=selector)).items:
        await apps.delete_namespaced_deployment(dep.metadata.name, namespace)
        deleted.append(("Deployment", dep.metadata.name))
    # Drift: every object the VNF's rendering has is there again, each reported.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        repaired = {
            (e["payload"]["kind"], e["payload"]["name"])
            for e in events.of(vnf_id, "vnf.drift.repaired")
            if e["payload"]["change"] == "re-created"
        }
        if set(deleted) <= repaired:
            break
        assert loop.time() < deadline, (deleted, repaired)
        await asyncio.sleep(0.2)
    await conductor("scale_vnf", vnf_id=vnf_id, op_id="gone-s", policy="SP1", type="out")
    await events.wait(vnf_id, "vnf.scale.end", op_id="gone-s", within=60)
    await conductor("terminate_vnf", vnf_id=vnf_id, op_id="gone-t")
    end = (await events.wait(vnf_id, "vnf.terminate.end", op_id="gone-t", within=60))[0]
    assert end["payload"]["deleted"] >= len(deleted)
    from rpc.exceptions import VnfNotFound

    with pytest.raises(VnfNotFound):
        for _ in range(50):
            await conductor("get_vnf", vnf_id=vnf_id)
            await asyncio.sleep(0.2)


VNFD_TWO_VDUS = """
tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0
topology_template:
  node_templates:
    front:
      type: tosca.nodes.nfv.VDU.Tacker
      properties:
        mapping_ports: ["80:8080"]
        vnfcs:
          web: {num_cpus: 0.1, mem_size: 64 MB, image: nginx:1.27, ports: ["8080"]}
    back:
      type: tosca.nodes.nfv.VDU.Tacker
      properties:
        vnfcs:
          db: {num_cpus: 0.1, mem_size: 64 MB, image: postgres:16, config: "MODE: primary"}
"""


async def test_an_update_that_drops_a_vdu_removes_its_objects(
    conductor, events, kube_api, namespace
):
    vnf = _vnf(namespace, VNFD_TWO_VDUS)
    vnf_id = vnf["id"]
    await conductor("instantiate_vnf", vnf=vnf, op_id="drop-i")
    await events.wait(vnf_id, "vnf.instantiate.end", op_id="drop-i", within=90)
    front_only = VNFD_TWO_VDUS.split("    back:")[0]
    await conductor("update_vnf", vnf_id=vnf_id, op_id="drop-u", vnfd=front_only)
    end = (await events.wait(vnf_id, "vnf.update.end", op_id="drop-u", within=90))[0]
    removed = end["payload"]["removed_objects"]
    assert any(name.startswith("Deployment/") for name in removed), removed
    assert any(name.startswith("ConfigMap/") for name in removed), removed
    apps = client.AppsV1Api(kube_api)
    selector = f"{LABEL_VNF_ID}={vnf_id}"
    deps = await apps.list_namespaced_deployment(namespace, label_selector=selector)
    left = [d.metadata.name for d in deps.items if d.metadata.deletion_timestamp is None]
    assert len(left) == 1 and "front" in left[0]
    info = await conductor("get_vnf", vnf_id=vnf_id)
    assert [v["name"] for v in info["vdus"]] == ["front"] and info["status"] == "ACTIVE"
    await conductor("terminate_vnf", vnf_id=vnf_id, op_id="drop-t")
    await events.wait(vnf_id, "vnf.terminate.end", op_id="drop-t")


async def test_a_namespace_the_worker_does_not_watch_is_refused_at_once(
    transport_url: str, kubeconfig: str, namespace: str, tmp_path: pathlib.Path
):
    names = Names.fresh()
    config = write_config(
        tmp_path / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="ns-1",
        extra=f"[kubernetes]\nnamespaces = {namespace}\n",
    )
    worker = WorkerProcess(config, log=tmp_path / "worker.log")
    await worker.start()
    events = Events(transport_url, names)
    try:
        # Granted (tkw-test-*), but not among [kubernetes] namespaces.
        vnf = _vnf("tkw-test-not-watched-" + uuid.uuid4().hex[:6], VNFD_SCALABLE)
        await Conductor(transport_url, names)("instantiate_vnf", vnf=vnf, op_id="nw-i")
        err = (await events.wait(vnf["id"], "vnf.instantiate.error", within=30))[0]["payload"]
        assert err["error"]["type"] == "NamespaceNotManaged"
        assert namespace in err["error"]["message"]
    finally:
        events.stop()
        assert await worker.stop() == 0


async def test_tenants_are_kept_apart(conductor, events, transport_url, names, kube_api, namespace):
    from rpc.exceptions import VnfNotFound

    vnf = _vnf(namespace, VNFD_SCALABLE)
    await conductor("instantiate_vnf", vnf=vnf, op_id="ten-1")
    await events.wait(vnf["id"], "vnf.instantiate.end")
    other = Conductor(
        transport_url, names, ctx={"project_id": "tenant-2", "user_id": "eve", "roles": ["member"]}
    )
    # Another project's VNF does not exist for it (as OpenStack answers), and
    # nothing in the answer names the owner.
    with pytest.raises(VnfNotFound) as refused:
        await other("get_vnf", vnf_id=vnf["id"])
    assert "tenant-1" not in str(refused.value)
    assert vnf["id"] not in [v["id"] for v in await other("list_vnfs")]
    assert vnf["id"] not in [v["id"] for v in await other("list_vnfs", tenant_id="tenant-1")]
    assert vnf["id"] in [v["id"] for v in await conductor("list_vnfs")]
    # A cast from another tenant is refused with an error notification; nothing runs.
    await other("scale_vnf", vnf_id=vnf["id"], op_id="ten-steal", policy="SP1", type="out")
    err = (await events.wait(vnf["id"], "vnf.scale.error", op_id="ten-steal"))[0]
    assert err["payload"]["error"]["type"] == "VnfNotFound"
    assert "tenant-1" not in repr(err["payload"]["error"])
    # A VNFD of tenant-2 cannot use a namespace that belongs to tenant-1.
    core = client.CoreV1Api(kube_api)
    ns = await core.read_namespace(namespace)
    labels = dict(ns.metadata.labels or {})
    labels["tacker.openstack.org/tenant-id"] = "tenant-1"
    await core.patch_namespace(namespace, {"metadata": {"labels": labels}})
    intruder = {**_vnf(namespace, VNFD_SCALABLE), "tenant_id": "tenant-2"}
    await other("instantiate_vnf", vnf=intruder, op_id="ten-ns")
    err = (await events.wait(intruder["id"], "vnf.instantiate.error", op_id="ten-ns"))[0]
    assert err["payload"]["error"]["type"] == "NamespaceForbidden"
    await other("terminate_vnf", vnf_id=intruder["id"], op_id="ten-ns-t")
    await conductor("terminate_vnf", vnf_id=vnf["id"], op_id="ten-t")
    await events.wait(vnf["id"], "vnf.terminate.end")
