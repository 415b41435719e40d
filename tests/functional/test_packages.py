"""CNF packages end to end, as Tacker v2 users ship them: a SOL004 CSAR zip
(built by the test, hashes in TOSCA.meta) whose VDU1 is a Deployment and VDU2
a StatefulSet with a volume claim template, beside a ConfigMap, a Secret, a
Service, a Job and a NetworkPolicy.  It reaches ACTIVE with its claims Bound;
scaling by aspect moves the StatefulSet within max_scale_level and is refused
beyond; a StatefulSet pod failed by kwok's chaos stage gives one
``vnf.respawn``; an update to a second package version rolls the Deployment;
terminate leaves nothing the VNF owned.  Refused packages apply nothing.  A
real worker, RabbitMQ and kube-apiserver; the conductor is an unmodified oslo
RPC client; the checks go through kubectl.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests import cnf_packages as pkg
from tests.conftest import Vim2
from tests.functional.harness import (
    KUBECTL,
    ROOT,
    Conductor,
    Events,
    Names,
    WorkerProcess,
    write_config,
)
from tests.functional.kube_wait import CHAOS_FAILED
from tests.functional.kubectl import kubectl, owned

#: What the checks list (kubectl get).
PACKAGE_KINDS = (
    "deployments,statefulsets,pods,services,configmaps,secrets,jobs,"
    "persistentvolumeclaims,networkpolicies"
)


@pytest.fixture(scope="module")
async def worker(
    transport_url: str, kubeconfig: str, names: Names, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("packages")
    config = write_config(
        tmp / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="pkg-1",
        # A tenant may register its own cluster (the bed's second one) as a VIM.
        extra="[vim]\nallowed_endpoints = 127.0.0.1\ntenant_registration = true\n"
        "[lifecycle]\nclaim_pending_timeout = 8\n",
    )
    proc = WorkerProcess(config, log=tmp / "worker.log")
    await proc.start()
    yield proc
    assert await proc.stop() == 0


@pytest.fixture(scope="module")
def conductor(transport_url: str, names: Names, worker: WorkerProcess) -> Conductor:
    return Conductor(transport_url, names)


@pytest.fixture(scope="module", autouse=True)
def volumes_back() -> Iterator[None]:
    """The bed's volumes a deleted claim left Released are made Available again."""
    yield
    subprocess.run(
        ["bash", str(ROOT / "tools/testbed/kube.sh"), "recycle-volumes"], check=False, timeout=60
    )


def _vnf() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "name": "cnf", "tenant_id": "tenant-1"}


async def _instantiate(
    conductor: Conductor, vnf: dict[str, Any], package: Any, *, namespace: str, **request: Any
) -> str:
    op_id = f"i-{vnf['id'][:8]}"
    params = request.pop("additional_params", None) or {
        "lcm-kubernetes-def-files": pkg.DEF_FILES,
        "namespace": namespace,
    }
    await conductor(
        "instantiate_vnf",
        vnf=vnf,
        op_id=op_id,
        package=package,
        flavour_id="simple",
        additional_params=params,
        **request,
    )
    return op_id


async def test_a_package_runs_scales_by_aspect_respawns_updates_and_terminates(
    conductor: Conductor, events: Events, kubeconfig: str, namespace: str
) -> None:
    vnf = _vnf()
    op_id = await _instantiate(conductor, vnf, pkg.csar_b64(), namespace=namespace)
    (end,) = await events.wait(vnf["id"], "vnf.instantiate.end", op_id=op_id, within=90)
    assert end["payload"]["operation_state"] == "COMPLETED", end["payload"]
    # What kubectl shows: every object of the package, names kept, owned by the VNF.
    objects = await owned(kubeconfig, namespace, vnf["id"], kinds=PACKAGE_KINDS)
    for name in (
        "Deployment/web",
        "StatefulSet/db",
        "Service/web",
        "ConfigMap/web-config",
        "Secret/db-password",
        "Job/db-init",
        "NetworkPolicy/db-only-from-web",
        "PersistentVolumeClaim/data-db-0",
    ):
        assert name in objects, (name, objects)
    claim = await kubectl(kubeconfig, "get", "pvc", "data-db-0", "-n", namespace)
    assert claim["status"]["phase"] == "Bound"
    job = await kubectl(kubeconfig, "get", "job", "db-init", "-n", namespace)
    assert job["status"].get("succeeded") == 1
    info = await conductor("get_vnf", vnf_id=vnf["id"])
    assert info["status"] == "ACTIVE"
    vdus = {v["name"]: v for v in info["vdus"]}
    assert vdus["VDU1"]["kind"] == "Deployment" and vdus["VDU1"]["deployment"] == "web"
    assert vdus["VDU2"]["kind"] == "StatefulSet" and vdus["VDU2"]["pods"] == ["db-0"]
    assert "Job/db-init" in info["objects"]

    # Scale by aspect: one level out; then two more would pass max_scale_level 2.
    await conductor(
        "scale_vnf", vnf_id=vnf["id"], op_id="s1", policy="db_aspect", type="out", steps=1
    )
    (scaled,) = await events.wait(vnf["id"], "vnf.scale.end", op_id="s1", within=60)
    assert scaled["payload"]["replicas"]["VDU2"] == {"old": 1, "new": 2}
    sts = await kubectl(kubeconfig, "get", "statefulset", "db", "-n", namespace)
    assert sts["spec"]["replicas"] == 2 and sts["status"].get("readyReplicas") == 2
    assert (await kubectl(kubeconfig, "get", "pvc", "data-db-1", "-n", namespace))["status"][
        "phase"
    ] == ("Bound")
    await conductor(
        "scale_vnf", vnf_id=vnf["id"], op_id="s2", policy="db_aspect", type="out", steps=2
    )
    (refused,) = await events.wait(vnf["id"], "vnf.scale.error", op_id="s2", within=30)
    assert refused["payload"]["error"]["type"] == "ScaleBoundReached"
    assert "max_scale_level is 2" in refused["payload"]["error"]["message"]
    assert (await kubectl(kubeconfig, "get", "statefulset", "db", "-n", namespace))["spec"][
        "replicas"
    ] == 2

    # kwok's chaos stage fails a StatefulSet pod: its controller replaces it
    # under the same name, and that is one respawn.
    await asyncio.to_thread(
        subprocess.run,
        [
            KUBECTL,
            "--kubeconfig",
            kubeconfig,
            "label",
            "pod",
            "db-1",
            "-n",
            namespace,
            f"{CHAOS_FAILED}=true",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    (respawn,) = await events.wait(vnf["id"], "vnf.respawn", within=60)
    assert respawn["payload"]["vdu"] == "VDU2" and respawn["payload"]["new_pod"] == "db-1"
    await asyncio.sleep(2.0)
    assert len(events.of(vnf["id"], "vnf.respawn")) == 1

    # Heal one StatefulSet pod by its name (vnfc_ids): replaced under that name.
    before = await kubectl(kubeconfig, "get", "pod", "db-0", "-n", namespace)
    await conductor("heal_vnf", vnf_id=vnf["id"], op_id="h1", vnfc_ids=["db-0"])
    (healed,) = await events.wait(vnf["id"], "vnf.heal.end", op_id="h1", within=60)
    assert healed["payload"]["replaced_pods"] == ["db-0"]
    after = await kubectl(kubeconfig, "get", "pod", "db-0", "-n", namespace)
    assert after["metadata"]["uid"] != before["metadata"]["uid"]

    # A second version of the package: the Deployment rolls to its new image,
    # and the NetworkPolicy it no longer has is deleted.
    support = pkg.SUPPORT.split("---\napiVersion: networking.k8s.io/v1")[0]
    v2 = pkg.csar_b64(
        pkg.files(web_image="nginx:1.27", extra={"Files/kubernetes/support.yaml": support})
    )
    await conductor(
        "update_vnf",
        vnf_id=vnf["id"],
        op_id="u1",
        package=v2,
        flavour_id="simple",
        additional_params={"lcm-kubernetes-def-files": pkg.DEF_FILES, "namespace": namespace},
    )
    (updated,) = await events.wait(vnf["id"], "vnf.update.end", op_id="u1", within=90)
    assert updated["payload"]["operation_state"] == "COMPLETED"
    assert "NetworkPolicy/db-only-from-web" in updated["payload"]["removed_objects"]
    assert "NetworkPolicy/db-only-from-web" not in await owned(
        kubeconfig, namespace, vnf["id"], kinds=PACKAGE_KINDS
    )
    web = await kubectl(kubeconfig, "get", "deployment", "web", "-n", namespace)
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    # The scale survives the update (the record's replicas, not the manifest's).
    assert (await kubectl(kubeconfig, "get", "statefulset", "db", "-n", namespace))["spec"][
        "replicas"
    ] == 2

    await conductor("terminate_vnf", vnf_id=vnf["id"], op_id="t1")
    (gone,) = await events.wait(vnf["id"], "vnf.terminate.end", op_id="t1", within=90)
    assert gone["payload"]["operation_state"] == "COMPLETED"
    assert await owned(kubeconfig, namespace, vnf["id"], kinds=PACKAGE_KINDS) == []


def _with(extra: dict[str, str]) -> dict[str, str]:
    return pkg.files(extra=extra)


CLUSTER_ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: cnf-reader
rules:
  - apiGroups: [""]
    resources: [pods]
    verbs: [get]
"""

PRIVILEGED = pkg.web_deployment().replace(
    "          ports: [{containerPort: 80}]\n",
    "          ports: [{containerPort: 80}]\n          securityContext: {privileged: true}\n",
)

HPA = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: db
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: db}
  minReplicas: 1
  maxReplicas: 3
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
"""


def _refusals(namespace: str) -> list[tuple[str, Any, Any, str, str]]:
    """(case, package, def files (or the whole additionalParams), error type,
    what the message names)."""
    files = pkg.DEF_FILES
    # Pinned in its manifest to a namespace tenant-1 may not use (no request
    # namespace puts it elsewhere, as Tacker v2's would).
    other_ns = pkg.SUPPORT.replace(
        "name: web-config\n", "name: web-config\n  namespace: tkw-other-tenant\n"
    )
    tampered = pkg.files()
    meta = pkg.tosca_meta(tampered)
    tampered["Files/kubernetes/web.yaml"] = pkg.web_deployment("evil:latest")
    return [
        (
            "cluster-role",
            pkg.csar_b64(_with({"Files/kubernetes/role.yaml": CLUSTER_ROLE})),
            [*files, "Files/kubernetes/role.yaml"],
            "InvalidVnfd",
            "Files/kubernetes/role.yaml: ClusterRole/cnf-reader",
        ),
        (
            "other-namespace",
            pkg.csar_b64(_with({"Files/kubernetes/support.yaml": other_ns})),
            {"lcm-kubernetes-def-files": files},
            "NamespaceForbidden",
            "tkw-other-tenant",
        ),
        (
            "privileged",
            pkg.csar_b64(_with({"Files/kubernetes/web.yaml": PRIVILEGED})),
            files,
            "InvalidVnfd",
            "Files/kubernetes/web.yaml: Deployment/web",
        ),
        (
            "hash-mismatch",
            base64.b64encode(pkg.csar(tampered, meta=meta)).decode(),
            files,
            "InvalidArguments",
            "Files/kubernetes/web.yaml: the SHA-256 hash does not match",
        ),
        (
            "zip-slip",
            base64.b64encode(pkg.csar(raw_entries={"../../etc/evil.yaml": b"kind: Pod"})).decode(),
            files,
            "InvalidArguments",
            "escapes the package root",
        ),
        (
            "missing-def-file",
            pkg.csar_b64(),
            [*files, "Files/kubernetes/absent.yaml"],
            "InvalidVnfd",
            "Files/kubernetes/absent.yaml",
        ),
        (
            "hpa-on-scaled-vdu",
            pkg.csar_b64(_with({"Files/kubernetes/hpa.yaml": HPA})),
            [*files, "Files/kubernetes/hpa.yaml"],
            "InvalidVnfd",
            "targets VDU VDU2, which a scaling aspect",
        ),
    ]


async def test_refused_packages_apply_nothing(
    conductor: Conductor, events: Events, kubeconfig: str, namespace: str
) -> None:
    cases = _refusals(namespace)
    sent = []
    for case, package, files, _, _ in cases:
        vnf = _vnf()
        op_id = await _instantiate(
            conductor,
            vnf,
            package,
            namespace=namespace,
            additional_params=files
            if isinstance(files, dict)
            else {"lcm-kubernetes-def-files": files, "namespace": namespace},
        )
        sent.append((case, vnf, op_id))
    for (case, vnf, op_id), (_, _, _, error_type, named) in zip(sent, cases, strict=True):
        (error,) = await events.wait(vnf["id"], "vnf.instantiate.error", op_id=op_id, within=60)
        assert error["payload"]["error"]["type"] == error_type, (case, error["payload"])
        assert named in error["payload"]["error"]["message"], (case, error["payload"])
        assert await owned(kubeconfig, namespace, vnf["id"], kinds=PACKAGE_KINDS) == [], case
    # Nothing went to the other tenant's namespace, nothing cluster-scoped was made.
    spaces = await kubectl(kubeconfig, "get", "namespaces")
    assert "tkw-other-tenant" not in [n["metadata"]["name"] for n in spaces["items"]]
    roles = await kubectl(
        kubeconfig, "get", "clusterroles", "-l", "app.kubernetes.io/managed-by=tacker-k8s-worker"
    )
    assert [r["metadata"]["name"] for r in roles["items"]] == []


async def test_cluster_scoped_objects_go_only_to_a_cluster_the_tenant_registered_itself(
    conductor: Conductor, events: Events, vim2: Vim2
) -> None:
    """On the tenant's own VIM (registered through Tacker v2's
    vim_connection_info with the tenant's own token) a package may hold a
    ClusterRole: applied, owned, and deleted by terminate.  (On the default
    VIM it is refused: test_refused_packages_apply_nothing.)"""
    vnf = _vnf()
    namespace = f"tkw-own-{vnf['id'][:8]}"
    vim_id = f"own-{vnf['id'][:8]}"
    files = [*pkg.DEF_FILES[:2], "Files/kubernetes/role.yaml"]  # support, web, the ClusterRole
    await conductor(
        "instantiate_vnf",
        vnf=vnf,
        op_id="i-own",
        package=pkg.csar_b64(_with({"Files/kubernetes/role.yaml": CLUSTER_ROLE})),
        flavour_id="simple",
        additional_params={"lcm-kubernetes-def-files": files, "namespace": namespace},
        vim_connection_info={
            "vim1": {
                "vimId": vim_id,
                "vimType": "ETSINFV.KUBERNETES.V_1",
                "interfaceInfo": {"endpoint": vim2.auth_url, "ssl_ca_cert": vim2.ssl_ca_cert},
                "accessInfo": {"bearer_token": vim2.bearer_token},
            }
        },
    )
    (end,) = await events.wait(vnf["id"], "vnf.instantiate.end", op_id="i-own", within=90)
    assert end["payload"]["operation_state"] == "COMPLETED", end["payload"]
    role = await kubectl(vim2.kubeconfig, "get", "clusterrole", "cnf-reader")
    assert role["metadata"]["labels"]["tacker.openstack.org/vnf-id"] == vnf["id"]
    assert await owned(vim2.kubeconfig, namespace, vnf["id"], kinds=PACKAGE_KINDS)
    await conductor("terminate_vnf", vnf_id=vnf["id"], op_id="t-own")
    await events.wait(vnf["id"], "vnf.terminate.end", op_id="t-own", within=90)
    roles = await kubectl(
        vim2.kubeconfig, "get", "clusterroles", "-l", f"tacker.openstack.org/vnf-id={vnf['id']}"
    )
    assert roles["items"] == []
    assert await owned(vim2.kubeconfig, namespace, vnf["id"], kinds=PACKAGE_KINDS) == []
    await conductor("deregister_vim", vim_id=vim_id)


async def test_a_claim_no_volume_binds_is_reported_parks_and_rolls_back(
    conductor: Conductor, events: Events, kubeconfig: str, namespace: str
) -> None:
    """A StatefulSet whose claims ask for a StorageClass the cluster lacks: the
    instantiate is not left waiting for ever; it parks VolumeUnbound naming the
    claim, and its rollback leaves nothing (the claims included)."""
    db = pkg.DB_STATEFULSET.replace("storageClassName: tkw-local", "storageClassName: tkw-none")
    vnf = _vnf()
    op_id = await _instantiate(
        conductor,
        vnf,
        pkg.csar_b64(_with({"Files/kubernetes/db.yaml": db})),
        namespace=namespace,
    )
    (parked,) = await events.wait(vnf["id"], "vnf.instantiate.error", op_id=op_id, within=60)
    error = parked["payload"]["error"]
    assert parked["payload"]["operation_state"] == "FAILED_TEMP", parked["payload"]
    assert error["type"] == "VolumeUnbound", error
    assert "PersistentVolumeClaim data-db-0 is still Pending" in error["message"]
    assert "StorageClass tkw-none" in error["message"]
    await conductor("rollback_operation", vnf_id=vnf["id"], op_id=f"rb-{op_id}", target_op_id=op_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not any(
        e["payload"].get("operation_state") == "ROLLED_BACK" for e in events.of(vnf["id"])
    ):
        assert loop.time() < deadline, [e["payload"] for e in events.of(vnf["id"])]
        await asyncio.sleep(0.2)
    assert await owned(kubeconfig, namespace, vnf["id"], kinds=PACKAGE_KINDS) == []
