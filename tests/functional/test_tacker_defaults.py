"""Tacker's own settings and samples, end to end.

A worker whose config names no ``control_exchange`` meets a conductor that has
nothing but Tacker's defaults (``oslo_messaging.set_transport_defaults(
control_exchange='tacker')``, no exchange anywhere else), on a RabbitMQ vhost
of its own; and Tacker's two legacy containerized samples, which ask for
``namespace: default``, run for a tenant an operator granted ``default`` to and
are refused for one without the grant.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import oslo_messaging
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from oslo_config import cfg

from k8s_worker.tosca import LABEL_VNF_ID
from tests.functional.harness import (
    CTX,
    Conductor,
    Events,
    Names,
    WorkerProcess,
    _Endpoint,
    write_config,
)

#: Tacker's ``[DEFAULT] control_exchange`` (tacker/common/rpc.py sets it so).
TACKER_EXCHANGE = "tacker"
#: Seconds an RPC call may take: a worker on another exchange fails fast.
CALL_TIMEOUT = 20

# --- Tacker's samples, verbatim -----------------------------------------------------
# openstack/tacker samples/tosca-templates/vnfd/tosca-vnfd-containerized-two-containers.yaml
# and tosca-vnfd-containerized.yaml at commit 667377b8 ("Fix some bugs related legacy cnf
# operations", 2021-03-29), their last text before f410d66e ("Obsolete Legacy APIs
# excluding VIM feature", 2024) removed them.

SAMPLE_TWO_CONTAINERS = """\
tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0
description: A sample containerized VNF with two containers per VDU

metadata:
    template_name: sample-tosca-vnfd

topology_template:
  node_templates:
    VDU1:
      type: tosca.nodes.nfv.VDU.Tacker
      properties:
        namespace: default
        mapping_ports:
          - "80:80"
          - "88:88"
        service_type: NodePort
        vnfcs:
          front_end:
            num_cpus: 0.5
            mem_size: 512 MB
            image: nginx
            ports:
              - "80"
          rss_reader:
            num_cpus: 0.5
            mem_size: 512 MB
            image: nickchase/rss-php-nginx:v1
            ports:
              - "88"
  policies:
    - SP1:
        type: tosca.policies.tacker.Scaling
        targets: [VDU1]
        properties:
          min_instances: 1
          max_instances: 3
          target_cpu_utilization_percentage: 40
          default_instances: 1 # required parameter but ignored for cnf
          increment: 1         # required parameter but ignored for cnf
"""

SAMPLE_ONE_CONTAINER = """\
tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0
description: A sample containerized VNF with one container per VDU

metadata:
    template_name: sample-tosca-vnfd

topology_template:
  node_templates:
    VDU1:
      type: tosca.nodes.nfv.VDU.Tacker
      properties:
        namespace: default
        mapping_ports:
          - "80:80"
        labels:
          - "app: webserver"
        service_type: ClusterIP
        vnfcs:
          web_server:
            num_cpus: 0.2
            mem_size: 100 MB
            image: k8s.gcr.io/hpa-example
            ports:
              - "80"
            config: |
              param0: key1
              param1: key2

  policies:
    - SP1:
        type: tosca.policies.tacker.Scaling
        targets: [VDU1]
        properties:
          min_instances: 1
          max_instances: 10
          target_cpu_utilization_percentage: 50
          default_instances: 1 # required parameter but ignored for cnf
          increment: 1         # required parameter but ignored for cnf
"""

SAMPLES = {
    "two-containers": SAMPLE_TWO_CONTAINERS,
    "containerized": SAMPLE_ONE_CONTAINER,
}

VNFD_SMALL = """
tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0
topology_template:
  node_templates:
    VDU1:
      type: tosca.nodes.nfv.VDU.Tacker
      properties:
        vnfcs:
          web: {num_cpus: 0.1, mem_size: 64 MB, image: nginx:1.27}
"""


# --- helpers ------------------------------------------------------------------------
async def _rabbitmqctl(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "rabbitmqctl",
        "-q",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"rabbitmqctl {' '.join(args)} did not answer") from None
    if proc.returncode != 0:
        raise AssertionError(f"rabbitmqctl {' '.join(args)}: {err.decode(errors='replace')}")
    return out.decode()


@pytest.fixture
async def vhost() -> AsyncIterator[str]:
    """A RabbitMQ vhost of this test's own (guest may do anything in it)."""
    name = f"tkw-defaults-{uuid.uuid4().hex[:10]}"
    await _rabbitmqctl("add_vhost", name)
    try:
        await _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield name
    finally:
        await _rabbitmqctl("delete_vhost", name)


def _tacker_defaults() -> None:
    """The global cfg.CONF as Tacker's conductor has it: the 'tacker' default and
    no override (the other tests name their exchange explicitly, or set and clear
    an override around themselves, so neither of these disturbs them)."""
    oslo_messaging.set_transport_defaults(control_exchange=TACKER_EXCHANGE)
    with contextlib.suppress(cfg.NoSuchOptError):  # not registered yet: no override either
        cfg.CONF.clear_override("control_exchange")


class TackerConductor:
    """An unmodified oslo RPCClient with Tacker's defaults only (no exchange given)."""

    def __init__(self, transport_url: str, topic: str, ctx: dict[str, Any]) -> None:
        _tacker_defaults()
        # oslo.messaging 18.3: an RPC client must be built on the global cfg.CONF.
        self.transport = oslo_messaging.get_rpc_transport(cfg.CONF, url=transport_url)
        assert cfg.CONF.control_exchange == TACKER_EXCHANGE
        self.client = oslo_messaging.get_rpc_client(
            self.transport,
            oslo_messaging.Target(topic=topic, version="1.0"),
            timeout=CALL_TIMEOUT,
        )
        self.ctx = ctx

    async def call(self, method: str, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.client.call, self.ctx, method, **kwargs)

    async def cast(self, method: str, **kwargs: Any) -> None:
        await asyncio.to_thread(self.client.cast, self.ctx, method, **kwargs)

    def close(self) -> None:
        self.transport.cleanup()


class TackerEvents(Events):
    """An unmodified oslo notification listener on ``topic`` with no exchange
    given, so on the control exchange's default."""

    def __init__(self, transport_url: str, topic: str) -> None:
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        _tacker_defaults()
        self.transport = oslo_messaging.get_notification_transport(cfg.CONF, url=transport_url)
        self.listener = oslo_messaging.get_notification_listener(
            self.transport,
            [oslo_messaging.Target(topic=topic)],
            [_Endpoint(self._add)],
            executor="threading",
        )
        self.listener.start()

    def stop(self) -> None:
        super().stop()
        self.transport.cleanup()


def _config_without_exchange(
    path: pathlib.Path, *, names: Names, transport_url: str, kubeconfig: str, host: str
) -> pathlib.Path:
    """harness.write_config's file without the control_exchange line."""
    path.write_text(f"""[DEFAULT]
transport_url = {transport_url}
[k8s_worker]
topic = {names.topic}
host = {host}
concurrency = 16
[kubernetes]
kubeconfig = {kubeconfig}
record_namespace = {names.records}
operation_timeout = 120
tenant_namespaces = *:tkw-test-*
[oslo_messaging_notifications]
topics = {names.notify}
[oslo_messaging_rabbit]
rabbit_retry_interval = 1
rabbit_interval_max = 2
[service]
http_host = 127.0.0.1
http_port = 0
""")
    assert "control_exchange" not in path.read_text()
    return path


# --- 1. out of the box with Tacker's settings -------------------------------------------
async def test_a_worker_with_no_exchange_configured_meets_tackers_defaults(
    transport_url: str,
    kubeconfig: str,
    vhost: str,
    namespace: str,
    kube_api: client.ApiClient,
    tmp_path: pathlib.Path,
) -> None:
    url = f"{transport_url.rstrip('/')}/{vhost}"
    names = Names.fresh()
    config = _config_without_exchange(
        tmp_path / "worker.conf",
        names=names,
        transport_url=url,
        kubeconfig=kubeconfig,
        host="defaults-1",
    )
    worker = WorkerProcess(config, log=tmp_path / "worker.log")
    await worker.start()
    tenant = f"t-defaults-{uuid.uuid4().hex[:8]}"
    conductor = events = None
    vnf_id = str(uuid.uuid4())
    instantiated = terminated = False
    try:
        events = TackerEvents(url, names.notify)
        conductor = TackerConductor(url, names.topic, {**CTX, "project_id": tenant})

        try:
            assert await conductor.call("oslo_rpc_server_ping") == "pong"
        except oslo_messaging.MessagingTimeout:
            exchanges = await _rabbitmqctl("list_exchanges", "-p", vhost, "name")
            pytest.fail(
                f"no answer on exchange {TACKER_EXCHANGE!r} within {CALL_TIMEOUT}s; the "
                f"worker's config names no control_exchange; exchanges of {vhost}:\n{exchanges}"
            )
        # The worker's queues and the listener's hang off 'tacker', and nothing is
        # on oslo's own default 'openstack'.
        bindings = {
            tuple(line.split("\t"))
            for line in (
                await _rabbitmqctl(
                    "list_bindings", "-p", vhost, "source_name", "destination_name", "routing_key"
                )
            ).splitlines()
        }
        assert (TACKER_EXCHANGE, names.topic, names.topic) in bindings, bindings
        assert (TACKER_EXCHANGE, f"{names.notify}.info", f"{names.notify}.info") in bindings
        exchanges = (await _rabbitmqctl("list_exchanges", "-p", vhost, "name")).split()
        assert "openstack" not in exchanges, exchanges

        assert await conductor.call("list_vnfs") == []

        vnf = {
            "id": vnf_id,
            "name": "defaults",
            "tenant_id": tenant,
            "vnfd": VNFD_SMALL,
            "namespace": namespace,
        }
        await conductor.cast("instantiate_vnf", vnf=vnf, op_id="def-i")
        instantiated = True
        end = (await events.wait(vnf_id, "vnf.instantiate.end", op_id="def-i", within=60))[0]
        assert end["priority"] == "INFO"
        assert end["payload"]["tenant_id"] == tenant
        assert end["publisher_id"] == "k8s_worker.defaults-1"
        listed = await conductor.call("list_vnfs")
        assert [(v["id"], v["status"]) for v in listed] == [(vnf_id, "ACTIVE")]
        deps = await client.AppsV1Api(kube_api).list_namespaced_deployment(
            namespace, label_selector=f"{LABEL_VNF_ID}={vnf_id}"
        )
        assert [d.status.ready_replicas for d in deps.items] == [1]

        await conductor.cast("terminate_vnf", vnf_id=vnf_id, op_id="def-t")
        await events.wait(vnf_id, "vnf.terminate.end", op_id="def-t", within=60)
        terminated = True
        for _ in range(50):  # the record goes right after the event
            if await conductor.call("list_vnfs") == []:
                break
            await asyncio.sleep(0.2)
        assert await conductor.call("list_vnfs") == []
    finally:
        if conductor is not None:
            if instantiated and not terminated:
                with contextlib.suppress(Exception):
                    await conductor.cast("terminate_vnf", vnf_id=vnf_id, op_id="def-t-cleanup")
                    if events is not None:
                        await events.wait(vnf_id, "vnf.terminate.end", within=30)
            conductor.close()
        if events is not None:
            events.stop()
        assert await worker.stop() == 0


# --- 2. Tacker's containerized samples in `default` --------------------------------------
SAMPLES_TENANT = f"t-samples-{uuid.uuid4().hex[:8]}"


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
        extra=f"[kubernetes]\ntenant_namespaces = {SAMPLES_TENANT}:default\n",
    )
    proc = WorkerProcess(config, log=tmp / "worker.log")
    await proc.start()
    yield proc
    assert await proc.stop() == 0


def _conductor(transport_url: str, names: Names, tenant: str) -> Conductor:
    return Conductor(transport_url, names, ctx={**CTX, "project_id": tenant})


async def _left_in_default(kube_api: client.ApiClient, vnf_id: str) -> list[str]:
    """Every object of the VNF in `default` (by kind/name), terminating ones included."""
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    selector = f"{LABEL_VNF_ID}={vnf_id}"
    left = []
    for kind, lister in (
        ("Deployment", apps.list_namespaced_deployment),
        ("ReplicaSet", apps.list_namespaced_replica_set),
        ("Pod", core.list_namespaced_pod),
        ("Service", core.list_namespaced_service),
        ("ConfigMap", core.list_namespaced_config_map),
    ):
        items = (await lister("default", label_selector=selector)).items
        left += [f"{kind}/{o.metadata.name}" for o in items]
    return left


async def _purge_default(kube_api: client.ApiClient, vnf_id: str) -> None:
    """`default` outlives the test run: whatever a failed test left there goes."""
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    selector = f"{LABEL_VNF_ID}={vnf_id}"
    for lister, deleter in (
        (apps.list_namespaced_deployment, apps.delete_namespaced_deployment),
        (core.list_namespaced_service, core.delete_namespaced_service),
        (core.list_namespaced_config_map, core.delete_namespaced_config_map),
    ):
        for obj in (await lister("default", label_selector=selector)).items:
            with contextlib.suppress(ApiException):
                await deleter(obj.metadata.name, "default", propagation_policy="Background")


@pytest.mark.parametrize("sample", sorted(SAMPLES))
async def test_tackers_containerized_sample_runs_in_default_when_granted(
    sample: str, transport_url: str, names: Names, events: Events, kube_api: client.ApiClient
) -> None:
    conductor = _conductor(transport_url, names, SAMPLES_TENANT)
    vnf_id = str(uuid.uuid4())
    vnf = {
        "id": vnf_id,
        "name": f"sample-{sample}",
        "tenant_id": SAMPLES_TENANT,
        "vnfd": SAMPLES[sample],
    }
    selector = f"{LABEL_VNF_ID}={vnf_id}"
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    terminated = False
    try:
        await conductor("instantiate_vnf", vnf=vnf, op_id="smp-i")
        try:
            end = (await events.wait(vnf_id, "vnf.instantiate.end", op_id="smp-i", within=60))[0]
        except AssertionError:
            errors = [e["payload"].get("error") for e in events.of(vnf_id, "vnf.instantiate.error")]
            raise AssertionError(f"sample {sample} did not instantiate: {errors}") from None
        assert end["payload"]["vdus"] == {"VDU1": 1}
        info = await conductor("get_vnf", vnf_id=vnf_id)
        assert info["namespace"] == "default" and info["status"] == "ACTIVE"

        deps = (await apps.list_namespaced_deployment("default", label_selector=selector)).items
        assert len(deps) == 1
        dep = deps[0]
        assert dep.spec.replicas == 1 and dep.status.ready_replicas == 1
        containers = {c.name: c for c in dep.spec.template.spec.containers}
        services = (await core.list_namespaced_service("default", label_selector=selector)).items
        assert len(services) == 1
        svc = services[0]
        if sample == "two-containers":
            assert sorted(c.image for c in containers.values()) == [
                "nginx",
                "nickchase/rss-php-nginx:v1",
            ]
            assert svc.spec.type == "NodePort"
            assert sorted(p.port for p in svc.spec.ports) == [80, 88]
        else:
            assert [c.image for c in containers.values()] == ["k8s.gcr.io/hpa-example"]
            assert dep.spec.template.metadata.labels["app"] == "webserver"
            assert svc.spec.type == "ClusterIP"
            assert [p.port for p in svc.spec.ports] == [80]
            cms = (await core.list_namespaced_config_map("default", label_selector=selector)).items
            assert [cm.data for cm in cms] == [{"param0": "key1", "param1": "key2"}]
        # `default` was not created by the worker: it is not claimed for the tenant.
        ns = await core.read_namespace("default")
        assert "tacker.openstack.org/tenant-id" not in (ns.metadata.labels or {})

        await conductor("terminate_vnf", vnf_id=vnf_id, op_id="smp-t")
        await events.wait(vnf_id, "vnf.terminate.end", op_id="smp-t", within=60)
        terminated = True
        assert await _left_in_default(kube_api, vnf_id) == []
    finally:
        if not terminated:
            with contextlib.suppress(Exception):
                await conductor("terminate_vnf", vnf_id=vnf_id, op_id="smp-t-cleanup")
                await events.wait(vnf_id, "vnf.terminate.end", within=30)
        await _purge_default(kube_api, vnf_id)


async def test_tackers_samples_are_refused_in_default_without_a_grant(
    transport_url: str, names: Names, events: Events, kube_api: client.ApiClient
) -> None:
    tenant = f"t-nogrant-{uuid.uuid4().hex[:8]}"
    conductor = _conductor(transport_url, names, tenant)
    vnfs = {
        sample: {"id": str(uuid.uuid4()), "name": sample, "tenant_id": tenant, "vnfd": vnfd}
        for sample, vnfd in SAMPLES.items()
    }
    try:
        for sample, vnf in vnfs.items():
            await conductor("instantiate_vnf", vnf=vnf, op_id=f"ng-i-{sample}")
        for sample, vnf in vnfs.items():
            err = (await events.wait(vnf["id"], "vnf.instantiate.error", within=60))[0]
            assert err["priority"] == "ERROR"
            assert err["payload"]["op_id"] == f"ng-i-{sample}"
            assert err["payload"]["error"]["type"] == "NamespaceForbidden", err["payload"]
            assert "'default'" in err["payload"]["error"]["message"]
            assert not events.of(vnf["id"], "vnf.instantiate.end")
            assert await _left_in_default(kube_api, vnf["id"]) == []
            # The refusal ended the operation: the VNF can be removed as usual.
            await conductor("terminate_vnf", vnf_id=vnf["id"], op_id=f"ng-t-{sample}")
        for sample, vnf in vnfs.items():
            await events.wait(vnf["id"], "vnf.terminate.end", op_id=f"ng-t-{sample}", within=60)
            assert await _left_in_default(kube_api, vnf["id"]) == []
    finally:
        for vnf in vnfs.values():
            await _purge_default(kube_api, vnf["id"])
