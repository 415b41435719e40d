"""Scaling from load, with no conductor cast: a Tacker VNFD's CPU target
(``target_cpu_utilization_percentage``) read against the bed's real
metrics-server (metrics.k8s.io through the apiserver's aggregation layer),
which scrapes the usage kwok simulates from each pod's
``kwok.x-k8s.io/usage-cpu`` annotation, set here with kubectl as a user
would.  The cooldown and the scale-in stabilization are set to seconds at
instantiate (``additional_params.autoscaling``).  90% of requests scales out
step by step to max_instances (one ``vnf.policy.triggered`` per decision,
none while cooling down, the bound once); 10% scales in to min_instances
after the window; with metrics-server stopped nothing scales and one
``logged`` report says why.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import pathlib
import subprocess
import uuid
from collections.abc import AsyncIterator

import pytest

from tests import tacker_samples
from tests.functional.harness import KUBECTL, Conductor, Events, Names, WorkerProcess, write_config
from tests.functional.kubectl import kubectl

ROOT = pathlib.Path(__file__).resolve().parents[2]
VNFD = """\
tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0
topology_template:
  node_templates:
    VDU1:
      type: tosca.nodes.nfv.VDU.Tacker
      properties:
        vnfcs:
          app: {num_cpus: 0.1, mem_size: 32 MB, image: "busybox:1.36"}
  policies:
    - SP1:
        type: tosca.policies.tacker.Scaling
        targets: [VDU1]
        properties:
          min_instances: 1
          max_instances: 3
          default_instances: 1
          increment: 1
          target_cpu_utilization_percentage: 50
"""
FAST = {"SP1": {"cooldown": 3, "scale_in_stabilization": 6}}


@pytest.fixture(scope="module")
async def worker(
    transport_url: str, kubeconfig: str, names: Names, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("autoscaling")
    config = write_config(
        tmp / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="autoscaling-1",
        extra="[policy]\nmetrics_interval = 2\n",
    )
    proc = WorkerProcess(config, log=tmp / "worker.log")
    await proc.start()
    yield proc
    assert await proc.stop() == 0


@pytest.fixture(scope="module")
def conductor(transport_url: str, names: Names, worker: WorkerProcess) -> Conductor:
    return Conductor(transport_url, names)


def _kubectl(kubeconfig: str, *args: str) -> None:
    subprocess.run(
        [KUBECTL, "--kubeconfig", kubeconfig, *args], capture_output=True, timeout=60, check=False
    )


@contextlib.asynccontextmanager
async def load(kubeconfig: str, namespace: str, vnf_id: str) -> AsyncIterator[dict[str, str]]:
    """Keeps every pod of the VNF annotated with the simulated cpu usage in
    ``usage["cpu"]`` (new pods too), as ``kubectl annotate`` does."""
    usage = {"cpu": "1m"}

    async def keep() -> None:
        while True:
            await asyncio.to_thread(
                _kubectl,
                kubeconfig,
                "annotate",
                "pods",
                "-n",
                namespace,
                "-l",
                f"tacker.openstack.org/vnf-id={vnf_id}",
                f"kwok.x-k8s.io/usage-cpu={usage['cpu']}",
                "--overwrite",
            )
            await asyncio.sleep(1)

    task = asyncio.create_task(keep())
    try:
        yield usage
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _cpu(events: Events, vnf_id: str) -> list[dict]:
    return [
        e["payload"]
        for e in events.of(vnf_id, "vnf.policy.triggered")
        if e["payload"]["trigger"] == "cpu_utilization"
    ]


async def _bound(events: Events, vnf_id: str, action: str, *, within: float) -> None:
    """Wait for the CPU policy's report that it reached its bound scaling ``action``."""
    await events.wait(
        vnf_id,
        "vnf.policy.triggered",
        trigger="cpu_utilization",
        decision="bound_reached",
        action=action,
        within=within,
    )


async def _instantiate(conductor: Conductor, events: Events, namespace: str) -> str:
    vnf_id = str(uuid.uuid4())
    await conductor(
        "instantiate_vnf",
        vnf={
            "id": vnf_id,
            "name": "loaded",
            "tenant_id": "tenant-1",
            "vnfd": VNFD,
            "namespace": namespace,
        },
        op_id=f"i-{vnf_id[:8]}",
        additional_params={"autoscaling": FAST},
    )
    await events.wait(vnf_id, "vnf.instantiate.end", within=60)
    return vnf_id


async def _replicas(conductor: Conductor, vnf_id: str) -> int:
    return int((await conductor("get_vnf", vnf_id=vnf_id))["vdus"][0]["desired_replicas"])


async def test_cpu_load_scales_out_to_max_then_in_to_min(
    conductor: Conductor, events: Events, namespace: str, kubeconfig: str
) -> None:
    vnf_id = await _instantiate(conductor, events, namespace)
    async with load(kubeconfig, namespace, vnf_id) as usage:
        usage["cpu"] = "90m"  # 90% of the 100m each pod requests
        # Out step by step: 1 -> 2 -> 3 (a new pod counts once the metrics API reports it).
        await _bound(events, vnf_id, "scale_out", within=240)
        assert await _replicas(conductor, vnf_id) == 3
        out = _cpu(events, vnf_id)
        assert [p["decision"] for p in out] == ["act", "act", "bound_reached"], out
        assert all(p["action"] == "scale_out" and p["target"] == 50 for p in out)
        assert out[0]["measured"] >= 80
        assert len(events.of(vnf_id, "vnf.scale.end")) == 2
        assert not [p for p in out if p["decision"] == "cooldown"]

        usage["cpu"] = "10m"
        # In, after the stabilization window, step by step to min_instances.
        await _bound(events, vnf_id, "scale_in", within=180)
        assert await _replicas(conductor, vnf_id) == 1
        down = _cpu(events, vnf_id)[len(out) :]
        assert [p["decision"] for p in down] == ["act", "act", "bound_reached"], down
        assert len(events.of(vnf_id, "vnf.scale.end")) == 4
        info = await conductor("get_vnf", vnf_id=vnf_id)
        assert info["status"] == "ACTIVE"


async def test_a_tacker_v2_sample_scales_its_aspect_from_cpu(
    conductor: Conductor, events: Events, namespace: str, kubeconfig: str
) -> None:
    """Tacker's own CNF sample, unchanged: its LimitRange gives VDU2's pods a
    100m cpu request; vdu2_aspect gets a CPU target at instantiate and moves
    by its levels (VDU2 2 -> 3, its vdu_profile's max, and back)."""
    package = base64.b64encode(
        await asyncio.to_thread(tacker_samples.make_zip, "test_instantiate_cnf_resources")
    ).decode()
    vnf_id = str(uuid.uuid4())
    await conductor(
        "instantiate_vnf",
        vnf={"id": vnf_id, "name": "tacker-sample", "tenant_id": "tenant-1"},
        op_id=f"i-{vnf_id[:8]}",
        package=package,
        flavour_id="simple",
        additional_params={
            "lcm-kubernetes-def-files": [
                "Files/kubernetes/limit-range.yaml",
                "Files/kubernetes/deployment.yaml",
            ],
            "namespace": namespace,
            "autoscaling": {
                "vdu2_aspect": {
                    "target_cpu_utilization_percentage": 50,
                    "cooldown": 3,
                    "scale_in_stabilization": 6,
                }
            },
        },
    )
    await events.wait(vnf_id, "vnf.instantiate.end", within=90)
    async with load(kubeconfig, namespace, vnf_id) as usage:
        usage["cpu"] = "90m"
        await _bound(events, vnf_id, "scale_out", within=240)
        assert [p["decision"] for p in _cpu(events, vnf_id)] == ["act", "bound_reached"]
        deployment = await kubectl(kubeconfig, "get", "deployment", "vdu2", "-n", namespace)
        assert deployment["spec"]["replicas"] == 3
        usage["cpu"] = "10m"
        await _bound(events, vnf_id, "scale_in", within=180)
        decided = [p["decision"] for p in _cpu(events, vnf_id)]
        assert decided == ["act", "bound_reached", "act", "bound_reached"]
        deployment = await kubectl(kubeconfig, "get", "deployment", "vdu2", "-n", namespace)
        assert deployment["spec"]["replicas"] == 2


@pytest.mark.serial  # stops the bed's metrics-server
async def test_without_metrics_nothing_scales_and_one_report_says_why(
    conductor: Conductor, events: Events, namespace: str, kubeconfig: str
) -> None:
    kube_sh = ["bash", str(ROOT / "tools/testbed/kube.sh")]
    vnf_id = await _instantiate(conductor, events, namespace)
    stop = await asyncio.create_subprocess_exec(*kube_sh, "stop-metrics-server")
    assert await stop.wait() == 0
    try:
        async with load(kubeconfig, namespace, vnf_id) as usage:
            usage["cpu"] = "90m"
            (logged,) = await events.wait(
                vnf_id,
                "vnf.policy.triggered",
                trigger="cpu_utilization",
                decision="logged",
                within=60,
            )
            assert "metrics API" in logged["payload"]["reason"], logged
            await asyncio.sleep(8)  # four more metrics intervals
        assert [p["decision"] for p in _cpu(events, vnf_id)] == ["logged"]
        assert await _replicas(conductor, vnf_id) == 1
        assert not events.of(vnf_id, "vnf.scale.start")
    finally:
        start = await asyncio.create_subprocess_exec(*kube_sh, "start-metrics-server")
        assert await start.wait() == 0
