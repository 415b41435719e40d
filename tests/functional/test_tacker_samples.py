"""Tacker v2's own CNF sample packages, unchanged, sent as Tacker's conductor
sends them (the CSAR zip of Tacker's functional tests, flavour ``simple``,
``lcm-kubernetes-def-files`` from its paramgen.py, the test's namespace).

They run on the default VIM except what the tenancy rules refuse there: the
"max" sample as a whole is refused (InvalidVnfd), naming its kinds the worker
does not apply (ControllerRevision, Lease, PodTemplate, the access reviews,
ClusterRoleBinding; its HorizontalPodAutoscaler is autoscaling/v1) before
anything is applied; its StatefulSet file needs the sample's own StorageClass
and PersistentVolumes (cluster-scoped: refused on a shared cluster), so the
runs below leave it out.  The Helm sample (``test_helm_instantiate``) installs
its chart through the bed's helm.  The samples are taken at run time from Tacker's
source distribution on PyPI (tests/tacker_samples.py), never copied here.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator

import pytest

from tests import tacker_samples
from tests.functional.harness import Conductor, Events, Names, WorkerProcess, write_config
from tests.functional.kubectl import owned

K = "Files/kubernetes/"
MAX = "test_instantiate_cnf_resources"
HELM_SAMPLE = "test_helm_instantiate"
#: paramgen.py's test_cnf_update_instantiate list.
UPDATE_FILES = [
    f"{K}{name}.yaml"
    for name in (
        "configmap_1 deployment pod_env pod_volume replicaset secret_1 configmap_3 "
        "pod_env_2 pod_volume_2 daemonset deployment_2 secret_3"
    ).split()
]

#: What the checks list (kubectl get).
SAMPLE_KINDS = "deployments,replicasets,daemonsets,pods,services,configmaps,secrets"


@pytest.fixture(scope="module")
async def worker(
    transport_url: str, kubeconfig: str, names: Names, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("tacker-samples")
    config = write_config(
        tmp / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="samples-1",
    )
    proc = WorkerProcess(config, log=tmp / "worker.log")
    await proc.start()
    yield proc
    assert await proc.stop() == 0


@pytest.fixture(scope="module")
def conductor(transport_url: str, names: Names, worker: WorkerProcess) -> Conductor:
    return Conductor(transport_url, names)


@pytest.fixture(scope="module")
async def zips() -> dict[str, str]:
    """The samples' CSARs, base64 (the sdist is downloaded once and cached)."""
    samples = (
        MAX,
        "test_cnf_container_update_before",
        "test_change_vnf_pkg_with_deployment",
        HELM_SAMPLE,
    )
    built = await asyncio.gather(*(asyncio.to_thread(tacker_samples.make_zip, s) for s in samples))
    return {s: base64.b64encode(z).decode() for s, z in zip(samples, built, strict=True)}


async def _instantiate(
    conductor: Conductor, package: str, files: list[str], namespace: str
) -> tuple[str, str]:
    vnf_id = str(uuid.uuid4())
    op_id = f"i-{vnf_id[:8]}"
    await conductor(
        "instantiate_vnf",
        vnf={"id": vnf_id, "name": "tacker-sample", "tenant_id": "tenant-1"},
        op_id=op_id,
        package=package,
        flavour_id="simple",
        additional_params={"lcm-kubernetes-def-files": files, "namespace": namespace},
    )
    return vnf_id, op_id


@pytest.mark.parametrize(
    ("sample", "files", "kinds"),
    [
        # paramgen.py's min_sample_instantiate: the max VNFD with one Pod.
        (MAX, [f"{K}pod.yaml"], {"VDU1": "Pod"}),
        (
            MAX,
            [
                f"{K}{f}"
                for f in (
                    "config-map.yaml",
                    "deployment.yaml",
                    "replicaset_service_secret.yaml",
                    "daemon-set.yaml",
                    "pod.yaml",
                )
            ],
            {"VDU1": "Pod", "VDU2": "Deployment", "VDU3": "ReplicaSet", "VDU6": "DaemonSet"},
        ),
        (
            "test_cnf_container_update_before",
            UPDATE_FILES,
            {
                "VDU1": "Deployment",
                "VDU2": "ReplicaSet",
                "VDU3": "Pod",
                "VDU4": "Pod",
                "VDU5": "DaemonSet",
                "VDU6": "Deployment",
                "VDU7": "Pod",
                "VDU8": "Pod",
            },
        ),
        ("test_change_vnf_pkg_with_deployment", [f"{K}deployment.yaml"], {"VDU2": "Deployment"}),
    ],
    ids=["min", "max-without-cluster-kinds", "container-update", "change-vnfpkg"],
)
async def test_a_tacker_sample_runs_and_terminates_clean(
    conductor: Conductor,
    events: Events,
    kubeconfig: str,
    namespace: str,
    zips: dict[str, str],
    sample: str,
    files: list[str],
    kinds: dict[str, str],
) -> None:
    vnf_id, op_id = await _instantiate(conductor, zips[sample], files, namespace)
    (end,) = await events.wait(vnf_id, "vnf.instantiate.end", op_id=op_id, within=90)
    assert end["payload"]["operation_state"] == "COMPLETED", end["payload"]
    info = await conductor("get_vnf", vnf_id=vnf_id)
    assert info["status"] == "ACTIVE", info
    assert {v["name"]: v["kind"] for v in info["vdus"]} == kinds
    for vdu in info["vdus"]:
        assert vdu["pods"], vdu  # every VDU's pods are traced to it
    assert await owned(kubeconfig, namespace, vnf_id, kinds=SAMPLE_KINDS)
    await conductor("terminate_vnf", vnf_id=vnf_id, op_id=f"t-{vnf_id[:8]}")
    await events.wait(vnf_id, "vnf.terminate.end", op_id=f"t-{vnf_id[:8]}", within=90)
    assert await owned(kubeconfig, namespace, vnf_id, kinds=SAMPLE_KINDS) == []


async def test_the_max_sample_as_a_whole_is_refused_naming_what_is_not_applied(
    conductor: Conductor, events: Events, kubeconfig: str, namespace: str, zips: dict[str, str]
) -> None:
    listing = await asyncio.to_thread(tacker_samples.samples_dir)
    files = sorted(
        f"{K}{p.name}"
        for p in (listing / MAX / "contents" / "Files" / "kubernetes").glob("*.yaml")
        if p.name not in ("bindings.yaml", "deployment_fail_test.yaml")  # paramgen.py's list
    )
    vnf_id, op_id = await _instantiate(conductor, zips[MAX], files, namespace)
    (error,) = await events.wait(vnf_id, "vnf.instantiate.error", op_id=op_id, within=60)
    message = error["payload"]["error"]["message"]
    assert error["payload"]["error"]["type"] == "InvalidVnfd"
    for named in (
        "ControllerRevision",
        "Lease",
        "PodTemplate",
        "TokenReview",
        "ClusterRoleBinding",
    ):
        assert f"kind {named} is not one the worker applies" in message, message
    assert await owned(kubeconfig, namespace, vnf_id, kinds=SAMPLE_KINDS) == []


async def test_the_helm_sample_installs_and_uninstalls(
    conductor: Conductor, events: Events, kubeconfig: str, namespace: str, zips: dict[str, str]
) -> None:
    """paramgen.py's helm_instantiate, unchanged but for the namespace."""
    vnf_id = str(uuid.uuid4())
    op_id = f"i-{vnf_id[:8]}"
    await conductor(
        "instantiate_vnf",
        vnf={"id": vnf_id, "name": "tacker-helm-sample", "tenant_id": "tenant-1"},
        op_id=op_id,
        package=zips[HELM_SAMPLE],
        flavour_id="simple",
        additional_params={
            "helm_chart_path": "Files/kubernetes/test-chart-0.1.0.tgz",
            "helm_parameters": {"service.port": 8081, "service.type": "NodePort"},
            "helm_value_names": {
                "VDU1": {"replica": "replicaCountVdu1"},
                "VDU2": {"replica": "replicaCountVdu2"},
            },
            "namespace": namespace,
        },
    )
    (end,) = await events.wait(vnf_id, "vnf.instantiate.end", op_id=op_id, within=90)
    assert end["payload"]["operation_state"] == "COMPLETED", end["payload"]
    info = await conductor("get_vnf", vnf_id=vnf_id)
    release = "vnf" + vnf_id.replace("-", "")
    assert {v["name"]: v["deployment"] for v in info["vdus"]} == {
        "VDU1": f"vdu1-{release}",
        "VDU2": f"vdu2-{release}",
    }
    await conductor("terminate_vnf", vnf_id=vnf_id, op_id=f"t-{vnf_id[:8]}")
    await events.wait(vnf_id, "vnf.terminate.end", op_id=f"t-{vnf_id[:8]}", within=90)
    assert await owned(kubeconfig, namespace, vnf_id, kinds=SAMPLE_KINDS) == []
