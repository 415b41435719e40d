"""Namespaces the worker creates get a quota and container defaults from the
options, and pods the API server refuses at creation (a quota, Pod Security)
end the operation at once with the API server's reason, instead of waiting
out the operation timeout."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client

from k8s_worker.tenancy import derived_namespace
from tests.functional.harness import Conductor, Events, Names, WorkerProcess, write_config
from tests.vnfds import one_vdu


@pytest.fixture(scope="module")
async def worker(
    transport_url: str, kubeconfig: str, names: Names, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("guard")
    config = write_config(
        tmp / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="guard-1",
        # operation_timeout stays at 120 s: the refusal must come long before it.
        extra="[kubernetes]\nnamespace_quota = pods:1\n"
        "namespace_container_defaults = cpu:250m,memory:128Mi\n",
    )
    proc = WorkerProcess(config, log=tmp / "worker.log")
    await proc.start()
    yield proc
    assert await proc.stop() == 0


async def test_a_created_namespace_has_its_rails_and_refused_pods_end_the_operation(
    transport_url: str, names: Names, events: Events, kube_api: object
) -> None:
    tenant = f"t-guard-{uuid.uuid4().hex[:8]}"
    conductor = Conductor(
        transport_url, names, ctx={"project_id": tenant, "user_id": "u", "roles": ["member"]}
    )
    ns = derived_namespace("tacker-", tenant)
    core = client.CoreV1Api(kube_api)
    vnf = {
        "id": str(uuid.uuid4()),
        "name": "guard",
        "tenant_id": tenant,
        "vnfd": one_vdu(default_instances=2),  # two pods, and the quota allows one
    }
    try:
        await conductor("instantiate_vnf", vnf=vnf, op_id="g-i")
        (err,) = await events.wait(vnf["id"], "vnf.instantiate.error", op_id="g-i", within=60)
        error = err["payload"]["error"]
        assert error["type"] == "PodsRejected", error
        assert "exceeded quota" in error["message"], error
        # A refusal removing its cause would fix: the instantiate waits in FAILED_TEMP.
        assert err["payload"]["operation_state"] == "FAILED_TEMP"
        created = await core.read_namespace(ns)
        labels = created.metadata.labels
        assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"
        assert labels["tacker.openstack.org/tenant-id"] == tenant
        quota = await core.read_namespaced_resource_quota("tacker-k8s-worker-guard", ns)
        assert quota.spec.hard == {"pods": "1"}
        limits = await core.read_namespaced_limit_range("tacker-k8s-worker-guard", ns)
        assert limits.spec.limits[0].default == {"cpu": "250m", "memory": "128Mi"}
        # Given up (FAILED), the VNF can go.
        await conductor("fail_operation", vnf_id=vnf["id"], op_id="g-f", target_op_id="g-i")
        await conductor("terminate_vnf", vnf_id=vnf["id"], op_id="g-t")
        await events.wait(vnf["id"], "vnf.terminate.end", op_id="g-t", within=60)
    finally:
        try:
            await core.delete_namespace(ns)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
