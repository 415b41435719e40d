"""Helm packages end to end (Tacker v2's ``ETSINFV.HELM.V_3``): a CSAR with a
chart, installed, scaled (the ``helm_value_names`` value raised and the release
upgraded), updated to a second chart version and uninstalled, each step seen
through ``helm`` itself (revisions, values) and kubectl; a worker killed while
its helm upgrade is stalled (its API requests held by a loopback proxy once
the release went ``pending-upgrade``) leaves the release to the next owner,
which recovers it; a chart whose rendering breaks the tenancy rules, or that
has install hooks, is refused with nothing applied.  Real workers, RabbitMQ,
kube-apiserver and the bed's pinned helm.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests import cnf_packages as pkg
from tests.functional.harness import (
    Conductor,
    Events,
    Names,
    WorkerProcess,
    write_config,
)
from tests.functional.kubectl import helm, kubectl, owned
from tests.functional.test_replicas import Fleet, _network, _owner, _via

RELEASE_OF = "vnf{}"

#: What the checks list (kubectl get).
HELM_KINDS = "deployments,pods,services,configmaps,secrets"


def _final(events: Events, vnf_id: str, op_id: str, state: str) -> dict[str, Any] | None:
    """The payload of the operation's event in ``state`` (.end or .error), if any."""
    for event in events.of(vnf_id):
        payload = event["payload"]
        if payload.get("op_id") == op_id and payload.get("operation_state") == state:
            return dict(payload)
    return None


def release(vnf_id: str) -> str:
    return RELEASE_OF.format(vnf_id.replace("-", ""))


@pytest.fixture(scope="module")
async def worker(
    transport_url: str, kubeconfig: str, names: Names, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("helm")
    config = write_config(
        tmp / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="helm-1",
    )
    proc = WorkerProcess(config, log=tmp / "worker.log")
    await proc.start()
    yield proc
    assert await proc.stop() == 0


@pytest.fixture(scope="module")
def conductor(transport_url: str, names: Names, worker: WorkerProcess) -> Conductor:
    return Conductor(transport_url, names)


def _package(**chart: Any) -> str:
    return base64.b64encode(pkg.csar(pkg.helm_files(**chart))).decode()


async def _instantiate(
    conductor: Conductor, namespace: str, package: str, **params: Any
) -> tuple[str, str]:
    vnf_id = str(uuid.uuid4())
    op_id = f"i-{vnf_id[:8]}"
    await conductor(
        "instantiate_vnf",
        vnf={"id": vnf_id, "name": "helm-cnf", "tenant_id": "tenant-1"},
        op_id=op_id,
        package=package,
        flavour_id="simple",
        additional_params={**pkg.helm_params(namespace), **params},
    )
    return vnf_id, op_id


async def test_a_helm_vnf_installs_scales_updates_and_uninstalls(
    conductor: Conductor, events: Events, kubeconfig: str, namespace: str
) -> None:
    vnf_id, op_id = await _instantiate(conductor, namespace, _package())
    (end,) = await events.wait(vnf_id, "vnf.instantiate.end", op_id=op_id, within=90)
    assert end["payload"]["operation_state"] == "COMPLETED", end["payload"]
    name = release(vnf_id)
    (listed,) = await helm(kubeconfig, "list", "-n", namespace)
    assert (listed["name"], listed["revision"], listed["status"]) == (name, "1", "deployed")
    # The chart's objects are the VNF's, each workload its VDU's.
    vdu1 = await kubectl(kubeconfig, "get", "deployment", f"vdu1-{name}", "-n", namespace)
    assert vdu1["metadata"]["labels"]["tacker.openstack.org/vnf-id"] == vnf_id
    assert vdu1["spec"]["template"]["metadata"]["labels"]["tacker.openstack.org/vdu"] == "VDU1"
    service = await kubectl(kubeconfig, "get", "service", f"web-{name}", "-n", namespace)
    assert service["spec"]["ports"][0]["port"] == 8081  # helm_parameters
    info = await conductor("get_vnf", vnf_id=vnf_id)
    assert info["status"] == "ACTIVE"
    assert {v["name"]: v["deployment"] for v in info["vdus"]} == {
        "VDU1": f"vdu1-{name}",
        "VDU2": f"vdu2-{name}",
    }

    await conductor("scale_vnf", vnf_id=vnf_id, op_id="s1", policy="db_aspect", type="out", steps=1)
    (scaled,) = await events.wait(vnf_id, "vnf.scale.end", op_id="s1", within=60)
    assert scaled["payload"]["replicas"]["VDU2"] == {"old": 1, "new": 2}
    (listed,) = await helm(kubeconfig, "list", "-n", namespace)
    assert listed["revision"] == "2"
    values = await helm(kubeconfig, "get", "values", name, "-n", namespace)
    assert values["replicaCountVdu2"] == 2
    assert values["service"]["port"] == 8081  # kept by the scale
    vdu2 = await kubectl(kubeconfig, "get", "deployment", f"vdu2-{name}", "-n", namespace)
    assert vdu2["spec"]["replicas"] == 2

    await conductor(
        "update_vnf",
        vnf_id=vnf_id,
        op_id="u1",
        package=_package(version="0.1.1", image="nginx:1.27"),
        flavour_id="simple",
        additional_params=pkg.helm_params(namespace),
    )
    (updated,) = await events.wait(vnf_id, "vnf.update.end", op_id="u1", within=90)
    assert updated["payload"]["operation_state"] == "COMPLETED"
    (listed,) = await helm(kubeconfig, "list", "-n", namespace)
    assert (listed["revision"], listed["chart"]) == ("3", "cnf-chart-0.1.1")
    vdu1 = await kubectl(kubeconfig, "get", "deployment", f"vdu1-{name}", "-n", namespace)
    assert vdu1["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    vdu2 = await kubectl(kubeconfig, "get", "deployment", f"vdu2-{name}", "-n", namespace)
    assert vdu2["spec"]["replicas"] == 2  # the record's replicas survive the update

    await conductor("terminate_vnf", vnf_id=vnf_id, op_id="t1")
    await events.wait(vnf_id, "vnf.terminate.end", op_id="t1", within=90)
    assert await helm(kubeconfig, "list", "-n", namespace) == []
    assert await owned(kubeconfig, namespace, vnf_id, kinds=HELM_KINDS) == []


PRIVILEGED = pkg.CHART_DEPLOYMENT.format(vdu="vdu1", Vdu="Vdu1").replace(
    "          ports: [{containerPort: 80}]\n",
    "          ports: [{containerPort: 80}]\n          securityContext: {privileged: true}\n",
)
HOOK = """\
apiVersion: v1
kind: Pod
metadata:
  name: pre-install-{{ .Release.Name }}
  annotations: {"helm.sh/hook": pre-install}
spec:
  restartPolicy: Never
  containers: [{name: hook, image: busybox}]
"""


@pytest.mark.parametrize(
    ("case", "extra", "named"),
    [
        (
            "privileged",
            {"templates/deployment_vdu1.yaml": PRIVILEGED},
            "privileged containers are not allowed (baseline)",
        ),
        (
            "hook",
            {"templates/hook.yaml": HOOK},
            "the chart has hooks (Pod/pre-install-",
        ),
    ],
)
async def test_a_chart_breaking_the_rules_is_refused_with_nothing_applied(
    conductor: Conductor,
    events: Events,
    kubeconfig: str,
    namespace: str,
    case: str,
    extra: dict[str, str],
    named: str,
) -> None:
    vnf_id, op_id = await _instantiate(conductor, namespace, _package(extra=extra))
    (error,) = await events.wait(vnf_id, "vnf.instantiate.error", op_id=op_id, within=60)
    assert error["payload"]["error"]["type"] == "InvalidVnfd", error["payload"]
    assert named in error["payload"]["error"]["message"], error["payload"]
    assert await owned(kubeconfig, namespace, vnf_id, kinds=HELM_KINDS) == []
    assert [
        r
        for r in await helm(kubeconfig, "list", "-n", namespace, "-a")
        if r["name"] == release(vnf_id) and r["status"] == "deployed"
    ] == []


async def test_a_worker_killed_during_a_held_helm_upgrade_leaves_it_to_the_next_owner(
    transport_url: str, kubeconfig: str, kube_api: Any, namespace: str, tmp_path: Any
) -> None:
    fleet = Fleet(tmp_path, names=Names.fresh(), transport_url=transport_url, kubeconfig=kubeconfig)
    proxies = {host: _network(kube_api) for host in ("ha", "hb")}
    events = Events(transport_url, fleet.names)
    try:
        for host, proxy in proxies.items():
            await proxy.start()
            await fleet.start(host, kubeconfig=_via(proxy, kubeconfig, tmp_path / f"{host}.kube"))
        conductor = Conductor(transport_url, fleet.names)
        vnf_id, op_id = await _instantiate(conductor, namespace, _package())
        await events.wait(vnf_id, "vnf.instantiate.end", op_id=op_id, within=90)
        name = release(vnf_id)
        # The owner's helm is held at its first write to a Deployment: the
        # release is pending-upgrade by then.
        pattern = f"PATCH /apis/apps/v1/namespaces/{namespace}/deployments/vdu1-".encode()
        for proxy in proxies.values():
            proxy.hold_on(pattern)
        await conductor(
            "scale_vnf", vnf_id=vnf_id, op_id="held", policy="web_aspect", type="out", steps=1
        )
        done, _ = await asyncio.wait(
            [asyncio.create_task(p.triggered.wait()) for p in proxies.values()],
            timeout=60,
            return_when=asyncio.FIRST_COMPLETED,
        )
        assert done, "no helm upgrade reached the Deployment"
        owner = await _owner(kube_api, fleet.names, vnf_id)
        assert owner in proxies and proxies[owner].triggered.is_set()
        for host, proxy in proxies.items():
            if host != owner:
                proxy.trigger = None
        (status,) = [
            r for r in await helm(kubeconfig, "list", "-n", namespace, "-a") if r["name"] == name
        ]
        assert status["status"] == "pending-upgrade", status
        await fleet.workers[owner].kill()  # SIGKILL: its helm dies with it
        proxies[owner].release()
        (end,) = await events.wait(vnf_id, "vnf.scale.end", op_id="held", within=120)
        assert end["payload"]["replicas"]["VDU1"] == {"old": 1, "new": 2}
        assert await _owner(kube_api, fleet.names, vnf_id) != owner
        (listed,) = await helm(kubeconfig, "list", "-n", namespace)
        assert listed["status"] == "deployed"
        values = await helm(kubeconfig, "get", "values", name, "-n", namespace)
        assert values["replicaCountVdu1"] == 2
        history = await helm(kubeconfig, "history", name, "-n", namespace)
        assert [h["status"] for h in history][-1] == "deployed"
        # The stalled revision was rolled back before the scale was applied again.
        assert any(h.get("description") == "Rollback to 1" for h in history), history
        assert len(events.of(vnf_id, "vnf.scale.end")) == 1
        await conductor("terminate_vnf", vnf_id=vnf_id, op_id="t-held")
        await events.wait(vnf_id, "vnf.terminate.end", op_id="t-held", within=90)
        assert await helm(kubeconfig, "list", "-n", namespace, "-a") == []
    finally:
        events.stop()
        await fleet.stop_all()
        for proxy in proxies.values():
            await proxy.stop()


async def test_a_refused_helm_scale_parks_and_rolls_back_with_helm_rollback(
    conductor: Conductor, events: Events, kubeconfig: str, kube_api: Any, namespace: str
) -> None:
    """Failing well for a Helm VNF: the scale's new pods are refused (a quota),
    the scale parks in FAILED_TEMP, and rollback_operation runs ``helm
    rollback`` to the revision before it (ROLLING_BACK, then ROLLED_BACK)."""
    from tests.functional.test_failing_well import _quota

    vnf_id, op_id = await _instantiate(conductor, namespace, _package())
    await events.wait(vnf_id, "vnf.instantiate.end", op_id=op_id, within=90)
    name = release(vnf_id)
    await _quota(kube_api, namespace, 2)  # the two pods it has, no more
    await conductor(
        "scale_vnf", vnf_id=vnf_id, op_id="s-quota", policy="db_aspect", type="out", steps=1
    )
    (parked,) = await events.wait(vnf_id, "vnf.scale.error", op_id="s-quota", within=60)
    assert parked["payload"]["operation_state"] == "FAILED_TEMP", parked["payload"]
    assert parked["payload"]["error"]["type"] == "PodsRejected"
    (listed,) = await helm(kubeconfig, "list", "-n", namespace)
    assert listed["revision"] == "2"
    await conductor("rollback_operation", vnf_id=vnf_id, op_id="rb-quota", target_op_id="s-quota")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not (back := _final(events, vnf_id, "s-quota", "ROLLED_BACK")):
        assert loop.time() < deadline, [e["payload"] for e in events.of(vnf_id)]
        await asyncio.sleep(0.2)
    assert back["rollback_op_id"] == "rb-quota"
    history = await helm(kubeconfig, "history", name, "-n", namespace)
    assert history[-1]["description"] == "Rollback to 1" and history[-1]["status"] == "deployed"
    values = await helm(kubeconfig, "get", "values", name, "-n", namespace)
    assert values["replicaCountVdu2"] == 1
    info = await conductor("get_vnf", vnf_id=vnf_id)
    assert {v["name"]: v["desired_replicas"] for v in info["vdus"]} == {"VDU1": 1, "VDU2": 1}
    await _quota(kube_api, namespace, None)
    await conductor("terminate_vnf", vnf_id=vnf_id, op_id="t-quota")
    await events.wait(vnf_id, "vnf.terminate.end", op_id="t-quota", within=90)
