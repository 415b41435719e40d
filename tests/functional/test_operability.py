"""Operating the worker: what an operator sees when starting, probing and scraping it.

Start-up failures (bad configuration, unreachable broker or API server,
missing RBAC) are one line each; the manifests of ``etc/kubernetes`` apply to a
real API server and their RBAC is enough to run the worker; ``/readyz`` follows
a (private) broker going away and coming back; ``/metrics`` counts an
operation; no log line carries the caller's token.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import yaml
from kubernetes_asyncio import client

from k8s_worker.record.crd import crd_manifest
from k8s_worker.vims.crd import vim_crd_manifest
from tests.doubles.intake import wait_for
from tests.functional.harness import (
    CTX,
    KUBECTL,
    ROOT,
    Conductor,
    Events,
    Names,
    WorkerProcess,
    write_config,
)
from tests.functional.private_rabbit import PrivateRabbit

MANIFESTS = ROOT / "etc" / "kubernetes"
WORKER_NS = "tacker-k8s-worker"
SA = "tacker-k8s-worker"

VNFD = """
tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0
topology_template:
  node_templates:
    VDU1:
      type: tosca.nodes.nfv.VDU.Tacker
      properties:
        vnfcs:
          web:
            num_cpus: 0.1
            mem_size: 64 MB
            image: nginx:1.27
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run_worker(config: pathlib.Path, *, within: float = 90) -> tuple[int, list[str]]:
    """Run k8s-worker to its exit; (status, non-empty stderr lines)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "k8s_worker.cmd.worker",
        "--config-file",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore"),
        cwd=str(ROOT),
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError("k8s-worker did not exit on a start-up error") from None
    return proc.returncode, [line for line in err.decode().splitlines() if line.strip()]


def kubeconfig_for_token(admin_kubeconfig: str, token: str, path: pathlib.Path) -> str:
    """A kubeconfig with the test bed's server and CA, authenticating with ``token``."""
    admin = yaml.safe_load(pathlib.Path(admin_kubeconfig).read_text())
    cluster = admin["clusters"][0]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": "sa", "user": {"token": token}}],
                "contexts": [{"name": "sa", "context": {"cluster": cluster["name"], "user": "sa"}}],
                "current-context": "sa",
            }
        )
    )
    return str(path)


async def service_account_token(kube_api: Any, *, namespace: str, name: str) -> str:
    core = client.CoreV1Api(kube_api)
    try:
        await core.create_namespaced_service_account(
            namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
        )
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    answer = await core.create_namespaced_service_account_token(name, namespace, request)
    return answer.status.token


def moved_kubeconfig(kubeconfig: str, *, port: int, path: pathlib.Path) -> str:
    """The test bed's kubeconfig pointing at ``port`` (where nothing listens)."""
    text = pathlib.Path(kubeconfig).read_text()
    path.write_text(re.sub(r"https://127\.0\.0\.1:\d+", f"https://127.0.0.1:{port}", text))
    return str(path)


def kubectl(kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, "--kubeconfig", kubeconfig, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


async def http_get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.text()


async def cast_instantiate(conductor: Conductor, name: str, *, op_id: str, namespace: str) -> str:
    """Cast instantiate_vnf of a fresh VNF of VNFD named ``name``; its id."""
    vnf_id = str(uuid.uuid4())
    vnf = {"id": vnf_id, "name": name, "tenant_id": CTX["project_id"], "vnfd": VNFD}
    await conductor("instantiate_vnf", vnf={**vnf, "namespace": namespace}, op_id=op_id)
    return vnf_id


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a Prometheus exposition (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return 0.0


# -- start-up errors --------------------------------------------------------------------------


@pytest.fixture
def good_config(tmp_path: pathlib.Path, transport_url: str, kubeconfig: str) -> str:
    return write_config(
        tmp_path / "good.conf",
        names=Names.fresh(),
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="op-1",
    ).read_text()


#: For the "unreachable" tests only: give up on the missing peer quickly.
QUICK = "\n[service]\nstartup_timeout = 3\n"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("concurrency = 16", "concurrency = 0"), "[k8s_worker] concurrency"),
        (("[DEFAULT]", "[DEFAULT]\nuse_json = yaml"), "[DEFAULT] use_json"),
        (("[DEFAULT]", "[DEFAULT\n"), "Failed to parse"),
        (("transport_url = rabbit://", "transport_url = kafka://"), "[DEFAULT] transport_url"),
        (("kubeconfig = /", "kubeconfig = /nonexistent/"), "[kubernetes] kubeconfig"),
        (
            ("[DEFAULT]", "[oslo_messaging_rabbit]\nkombu_compression = snappy\n[DEFAULT]"),
            "[oslo_messaging_rabbit] kombu_compression: unknown compression 'snappy'",
        ),
        (
            ("[DEFAULT]", "[cluster]\nlease_duration = 4\nrenew_interval = 3\n[DEFAULT]"),
            "[cluster] renew_interval (3 s) must be at most half of lease_duration (4 s)",
        ),
    ],
    ids=[
        "out-of-range",
        "bad-choice",
        "unparsable",
        "unsupported-driver",
        "no-kubeconfig",
        "unknown-compression",
        "renewal-too-slow",
    ],
)
async def test_a_bad_configuration_is_one_clear_line(
    tmp_path: pathlib.Path, good_config: str, edit: tuple[str, str], expected: str
) -> None:
    config = tmp_path / "bad.conf"
    config.write_text(good_config.replace(*edit, 1))
    status, lines = await run_worker(config)
    assert status == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith("k8s-worker: error: configuration error:")
    assert expected in lines[0]


async def test_an_unreachable_broker_is_one_clear_line(
    tmp_path: pathlib.Path, good_config: str
) -> None:
    port = free_port()
    config = tmp_path / "nobroker.conf"
    config.write_text(re.sub(r"@127\.0\.0\.1:\d+/", f"@127.0.0.1:{port}/", good_config) + QUICK)
    status, lines = await run_worker(config)
    assert status == 1
    assert len(lines) == 1, lines
    assert f"cannot reach the message broker at 127.0.0.1:{port}" in lines[0]
    assert "guest:guest" not in lines[0]


async def test_an_unreachable_cluster_is_one_clear_line(
    tmp_path: pathlib.Path, good_config: str, kubeconfig: str
) -> None:
    port = free_port()
    elsewhere = moved_kubeconfig(kubeconfig, port=port, path=tmp_path / "kubeconfig")
    config = tmp_path / "nocluster.conf"
    config.write_text(
        good_config.replace(f"kubeconfig = {kubeconfig}", f"kubeconfig = {elsewhere}") + QUICK
    )
    status, lines = await run_worker(config)
    assert status == 1
    assert len(lines) == 1, lines
    assert f"cannot reach the Kubernetes API server at https://127.0.0.1:{port}" in lines[0]


async def test_missing_rbac_names_each_missing_permission(
    tmp_path: pathlib.Path, good_config: str, kubeconfig: str, kube_api: Any, namespace: str
) -> None:
    token = await service_account_token(kube_api, namespace=namespace, name="nobody")
    powerless = kubeconfig_for_token(kubeconfig, token, tmp_path / "kubeconfig")
    config = tmp_path / "norbac.conf"
    config.write_text(
        good_config.replace(f"kubeconfig = {kubeconfig}", f"kubeconfig = {powerless}")
    )
    status, lines = await run_worker(config)
    assert status == 1
    assert len(lines) == 1, lines
    line = lines[0]
    assert f"missing RBAC permissions for system:serviceaccount:{namespace}:nobody" in line
    assert "list pods in all namespaces" in line
    assert "create vnfs.tacker.openstack.org in namespace tkw-records-" in line
    assert token not in line


UPGRADE = ("upgrade", "check", "--json")


async def upgrade_check(config: pathlib.Path) -> tuple[int, dict[str, Any]]:
    """``k8s-worker-status --config-file <config> upgrade check --json``: (status, output)."""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "k8s_worker.cmd.status", "--config-file", str(config), *UPGRADE],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


async def test_upgrade_check_passes_on_the_bed_and_names_a_missing_permission(
    tmp_path: pathlib.Path, good_config: str, kubeconfig: str, kube_api: Any, namespace: str
) -> None:
    config = tmp_path / "good.conf"
    config.write_text(good_config)
    status, out = await upgrade_check(config)
    assert status == 0, out
    assert {c["check"]: c["result"] for c in out["checks"]} == {
        "Configuration": 0,
        "Message broker": 0,
        "Kubernetes API server": 0,
        "RBAC permissions": 0,
        "Vnf custom resource": 0,
        "Deprecated and ignored options": 0,
    }
    token = await service_account_token(kube_api, namespace=namespace, name="nobody")
    powerless = kubeconfig_for_token(kubeconfig, token, tmp_path / "kubeconfig")
    config.write_text(
        good_config.replace(f"kubeconfig = {kubeconfig}", f"kubeconfig = {powerless}")
        + "[service]\nlog_format = json\n"
    )
    status, out = await upgrade_check(config)
    assert status == 2  # a failure
    results = {c["check"]: c for c in out["checks"]}
    rbac = results["RBAC permissions"]
    assert rbac["result"] == 2 and "list pods in all namespaces" in rbac["details"]
    assert token not in json.dumps(out)
    deprecated = results["Deprecated and ignored options"]
    assert (
        deprecated["result"] == 1 and "[service] log_format is deprecated" in deprecated["details"]
    )


# -- the manifests -------------------------------------------------------------------------------


def test_the_checked_in_crd_is_the_one_the_worker_installs() -> None:
    assert yaml.safe_load((MANIFESTS / "crd.yaml").read_text()) == crd_manifest()
    assert yaml.safe_load((MANIFESTS / "crd-vim.yaml").read_text()) == vim_crd_manifest()


@pytest.fixture(scope="module")
def applied_rbac(kubeconfig: str) -> str:
    """The namespace and RBAC of etc/kubernetes applied for real (server-side)."""
    for name in ("namespace.yaml", "rbac.yaml"):
        done = kubectl(
            kubeconfig, "apply", "--server-side", "--field-manager=tkw-tests", "-f",
            str(MANIFESTS / name),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    return WORKER_NS


def test_every_manifest_passes_a_server_side_dry_run(kubeconfig: str, applied_rbac: str) -> None:
    done = kubectl(
        kubeconfig, "apply", "--server-side", "--dry-run=server", "--force-conflicts",
        "--field-manager=tkw-tests", "-k", str(MANIFESTS),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    applied = done.stdout
    for expected in (
        "deployment.apps/tacker-k8s-worker serverside-applied (server dry run)",
        "serviceaccount/tacker-k8s-worker serverside-applied (server dry run)",
        "customresourcedefinition.apiextensions.k8s.io/vnfs.tacker.openstack.org",
        "role.rbac.authorization.k8s.io/tacker-k8s-worker",
    ):
        assert expected in applied
    deployment = yaml.safe_load((MANIFESTS / "deployment.yaml").read_text())
    spec = deployment["spec"]
    container = spec["template"]["spec"]["containers"][0]
    assert spec["replicas"] >= 2
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert spec["template"]["spec"]["serviceAccountName"] == SA


async def test_the_manifests_rbac_is_enough_to_run_the_worker(
    tmp_path: pathlib.Path,
    transport_url: str,
    kubeconfig: str,
    kube_api: Any,
    applied_rbac: str,
) -> None:
    token = await service_account_token(kube_api, namespace=WORKER_NS, name=SA)
    as_sa = kubeconfig_for_token(kubeconfig, token, tmp_path / "kubeconfig")
    names = Names.fresh()
    names.records = WORKER_NS
    port = free_port()
    config = write_config(
        tmp_path / "sa.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=as_sa,
        host="sa-1",
        extra=f"[service]\nhttp_port = {port}\n",
    )
    config.write_text(
        config.read_text().replace("[kubernetes]", "[kubernetes]\ninstall_crd = false")
    )
    worker = WorkerProcess(config, log=tmp_path / "worker.log")
    await worker.start()
    try:
        status, body = await http_get(f"http://127.0.0.1:{port}/readyz")
        assert status == 200, body
    finally:
        assert await worker.stop() == 0
    assert "forbidden" not in (tmp_path / "worker.log").read_text().lower()


# -- /readyz follows the broker --------------------------------------------------------------------


async def test_readyz_turns_unready_without_the_broker_and_ready_again(
    private_rabbit: PrivateRabbit,
    private_broker: str,
    kubeconfig: str,
    tmp_path: pathlib.Path,
) -> None:
    port = free_port()
    config = write_config(
        tmp_path / "worker.conf",
        names=Names.fresh(),
        transport_url=private_broker,
        kubeconfig=kubeconfig,
        host="rz-1",
        extra=f"[service]\nhttp_port = {port}\n",
    )
    worker = WorkerProcess(config, log=tmp_path / "worker.log")
    await worker.start()
    url = f"http://127.0.0.1:{port}/readyz"
    seen: list[tuple[int, str]] = []

    async def probe_until(status: int) -> dict[str, Any]:
        while True:
            seen.append(await http_get(url))
            if seen[-1][0] == status:
                return json.loads(seen[-1][1])
            await asyncio.sleep(0.2)

    try:
        assert (await probe_until(200))["ready"] is True
        await asyncio.to_thread(private_rabbit.ctl, "stop_app")
        try:
            down = await asyncio.wait_for(probe_until(503), 60)
            assert down["checks"]["broker"]["ok"] is False
            assert down["checks"]["kubernetes"]["ok"] is True
            live, _ = await http_get(f"http://127.0.0.1:{port}/healthz")
            assert live == 200
        finally:
            await asyncio.to_thread(private_rabbit.ctl, "start_app")
        up = await asyncio.wait_for(probe_until(200), 90)
        assert up["checks"]["broker"]["ok"] is True
    finally:
        assert await worker.stop() == 0


# -- /metrics and the logs of one operation --------------------------------------------------


@pytest.fixture
async def observed_worker(
    tmp_path: pathlib.Path, transport_url: str, kubeconfig: str
) -> AsyncIterator[tuple[WorkerProcess, Names, int]]:
    names = Names.fresh()
    port = free_port()
    config = write_config(
        tmp_path / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="obs-1",
        extra=f"[service]\nhttp_port = {port}\nlog_format = json\n",
    )
    worker = WorkerProcess(config, log=tmp_path / "worker.log")
    await worker.start()
    try:
        yield worker, names, port
    finally:
        assert await worker.stop() == 0


async def test_metrics_count_an_operation_and_logs_name_it_without_the_token(
    observed_worker: tuple[WorkerProcess, Names, int],
    transport_url: str,
    namespace: str,
) -> None:
    worker, names, port = observed_worker
    scrape = f"http://127.0.0.1:{port}/metrics"
    events = Events(transport_url, names)
    try:
        conductor = Conductor(transport_url, names)
        _, before = await http_get(scrape)
        vnf_id = await cast_instantiate(
            conductor, "metrics", op_id="op-metrics", namespace=namespace
        )
        await events.wait(vnf_id, "vnf.instantiate.end", op_id="op-metrics", within=120)
        await conductor("terminate_vnf", vnf_id=vnf_id, op_id="op-metrics-term")
        await events.wait(vnf_id, "vnf.terminate.end", op_id="op-metrics-term", within=120)

        async def scraped(name: str, **labels: str) -> bool:
            _, text = await http_get(scrape)
            return metric(text, name, **labels) > metric(before, name, **labels)

        # The .end was confirmed by the broker before the counter moved: poll briefly.
        inst = {"operation": "instantiate", "outcome": "success"}
        for _ in range(50):
            if await scraped("tacker_k8s_worker_operations_total", **inst):
                break
            await asyncio.sleep(0.1)
        _, after = await http_get(scrape)
    finally:
        events.stop()

    def delta(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert delta("tacker_k8s_worker_operations_total", **inst) == 1
    assert delta("tacker_k8s_worker_operation_duration_seconds_count", **inst) == 1
    assert delta("tacker_k8s_worker_operation_duration_seconds_sum", **inst) > 0
    assert (
        delta("tacker_k8s_worker_rpc_requests_total", method="instantiate_vnf", outcome="ok") == 1
    )
    assert delta("tacker_k8s_worker_rpc_requests_total", method="terminate_vnf", outcome="ok") == 1
    assert (
        delta(
            "tacker_k8s_worker_notifications_published_total",
            event_type="vnf.instantiate.start",
            priority="INFO",
        )
        == 1
    )
    assert metric(after, "tacker_k8s_worker_watch_synced", kind="Pod", namespace="*") == 1
    assert "tacker_k8s_worker_reconcile_queue_depth" in after

    await wait_for(
        lambda: "op-metrics-term" in worker.log.read_text(), within=10, what="the terminate logs"
    )
    log = worker.log.read_text()
    assert CTX["auth_token"] not in log and "SECRET" not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    work = [entry for entry in lines if entry.get("vnf_id") == vnf_id]
    assert work, "no log line names the VNF"
    assert all({"vnf_id", "op_id", "request_id"} <= set(entry) for entry in work)
    journaled = [e for e in work if e["event"] == "intake.journaled" and e["op_id"] == "op-metrics"]
    assert journaled and journaled[0]["request_id"] == CTX["request_id"]
    assert any(e["op_id"] == "op-metrics" and e["event"].startswith("operation.") for e in work)
    assert all(e["request_id"] == CTX["request_id"] for e in work if e["op_id"] == "op-metrics")


# -- OpenStack service habits: oslo.log's options, SIGHUP, --version ------------------------------


async def test_default_debug_yields_debug_lines_and_sighup_reloads_it_while_serving(
    tmp_path: pathlib.Path, transport_url: str, kubeconfig: str
) -> None:
    names = Names.fresh()
    port = free_port()
    path = tmp_path / "worker.conf"

    def configure(debug: bool) -> None:
        write_config(
            path,
            names=names,
            transport_url=transport_url,
            kubeconfig=kubeconfig,
            host="hup-1",
            extra=f"[service]\nhttp_port = {port}\n",
        )
        # [DEFAULT] debug only: what devstack and openstack-helm write
        path.write_text(path.read_text().replace("[DEFAULT]\n", f"[DEFAULT]\ndebug = {debug}\n", 1))

    def levels() -> list[str]:
        found = []
        for line in log.read_text().splitlines():
            try:
                found.append(json.loads(line).get("level"))
            except ValueError:
                continue
        return found

    configure(debug=True)
    log = tmp_path / "worker.log"
    worker = WorkerProcess(path, log=log)
    await worker.start()
    try:
        await wait_for(lambda: "debug" in levels(), within=20, what="a debug line")
        configure(debug=False)
        assert worker.proc is not None
        worker.proc.send_signal(signal.SIGHUP)
        await wait_for(lambda: "config.reloaded" in log.read_text(), within=20, what="the reload")
        reloaded_at = len(levels())
        status, _ = await http_get(f"http://127.0.0.1:{port}/readyz")
        assert status == 200  # still serving
        await asyncio.sleep(1)
        # the reload's own config.changed line is at debug level: not shown now
        assert "debug" not in levels()[reloaded_at:]
        configure(debug=True)
        worker.proc.send_signal(signal.SIGHUP)
        await wait_for(lambda: "debug" in levels()[reloaded_at:], within=20, what="debug again")
        assert "[DEFAULT] debug" in log.read_text()  # config.changed names the option
        status, _ = await http_get(f"http://127.0.0.1:{port}/readyz")
        assert status == 200
    finally:
        assert await worker.stop() == 0


def test_every_console_script_prints_its_version_without_import_noise() -> None:
    from k8s_worker.version import version_string

    for module in ("k8s_worker.cmd.worker", "k8s_worker.cmd.tail"):
        done = subprocess.run(
            [sys.executable, "-m", module, "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert (done.stdout + done.stderr).strip() == version_string()
        assert "Eventlet" not in done.stderr


# -- the Vnf resource as kubectl shows it ---------------------------------------------------------


async def test_kubectl_waits_for_a_ready_vnf_and_describes_its_events(
    observed_worker: tuple[WorkerProcess, Names, int],
    transport_url: str,
    kubeconfig: str,
    namespace: str,
) -> None:
    _, names, _ = observed_worker
    events = Events(transport_url, names)
    try:
        conductor = Conductor(transport_url, names)
        vnf_id = await cast_instantiate(
            conductor, "seen-by-kubectl", op_id="op-kubectl", namespace=namespace
        )
        records = ("-n", names.records)
        # kubectl wait returns once the worker says Ready (after the instantiate)
        waited = await asyncio.to_thread(
            kubectl,
            kubeconfig,
            "wait",
            "--for=condition=Ready",
            f"vnf/{vnf_id}",
            "--timeout=120s",
            *records,
        )
        assert waited.returncode == 0, waited.stderr
        await events.wait(vnf_id, "vnf.instantiate.end", op_id="op-kubectl", within=30)

        table = (await asyncio.to_thread(kubectl, kubeconfig, "get", "vnfs", *records)).stdout
        header, row = table.splitlines()[:2]
        assert header.split() == [
            "NAME",
            "VNF-NAME",
            "TARGET-NS",
            "STATUS",
            "VIM",
            "LAST-OP",
            "AGE",
        ]
        assert row.split()[:4] == [vnf_id, "seen-by-kubectl", namespace, "ACTIVE"]
        wide = await asyncio.to_thread(kubectl, kubeconfig, "get", "vnfs", "-o", "wide", *records)
        header, row = wide.stdout.splitlines()[:2]
        assert header.split()[-4:] == ["READY", "REASON", "OWNER", "TENANT"]
        assert row.split()[-4:] == ["True", "Active", "obs-1", CTX["project_id"]]

        explained = await asyncio.to_thread(kubectl, kubeconfig, "explain", "vnf.status.conditions")
        assert explained.returncode == 0, explained.stderr
        assert "lastTransitionTime" in explained.stdout and "Ready, Progressing" in explained.stdout

        async def described() -> str:
            done = await asyncio.to_thread(kubectl, kubeconfig, "describe", "vnf", vnf_id, *records)
            return done.stdout

        for _ in range(50):  # the Events are written just after each publish
            text = await described()
            if "InstantiateEnd" in text:
                break
            await asyncio.sleep(0.2)
        events_part = text.split("Events:", 1)[1]
        assert "InstantiateStart" in events_part and "InstantiateEnd" in events_part
        assert "tacker-k8s-worker" in events_part
        assert "op_id=op-kubectl" in events_part
    finally:
        events.stop()


# -- k8s-worker-vnfd: what the worker would apply, accepted by the API server ----------------------

SAMPLES = ROOT / "samples"


@pytest.mark.parametrize(
    "sample",
    ["vnfd/tacker-web.yaml", "vnfd/sol001-cnf.yaml", "autoscaling/vnfd-cpu.yaml", "package"],
)
async def test_every_rendered_sample_passes_a_server_side_dry_run(
    sample: str, kubeconfig: str, namespace: str
) -> None:
    render = [sys.executable, "-m", "k8s_worker.cmd.vnfd", "render", str(SAMPLES / sample)]
    render += ["--namespace", namespace, "--vnf-id", str(uuid.uuid4())]
    if sample == "package":
        render += ["--request", str(SAMPLES / "package-instantiate-request.json")]

    def pipe() -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
        rendered = subprocess.run(
            render,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        applied = subprocess.run(
            [KUBECTL, "--kubeconfig", kubeconfig, "apply", "--dry-run=server", "-f", "-"],
            input=rendered.stdout,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return rendered, applied

    rendered, applied = await asyncio.to_thread(pipe)
    assert rendered.returncode == 0, rendered.stderr
    assert applied.returncode == 0, applied.stderr
    assert "created (server dry run)" in applied.stdout


# -- the Vnf delete guard (etc/kubernetes/delete-guard.yaml, applied by the bed) ------------------


async def test_a_vnf_deleted_by_hand_is_refused_but_not_in_a_terminating_namespace(
    kube_api: Any, kubeconfig: str
) -> None:
    from tests.conftest import STATE

    operator = str(STATE / "kubeconfig-operator")  # a second admin of the bed, not exempt
    names = Names.fresh()
    core, custom = client.CoreV1Api(kube_api), client.CustomObjectsApi(kube_api)
    await core.create_namespace({"metadata": {"name": names.records}})
    vnf_id = str(uuid.uuid4())
    body = {
        "apiVersion": "tacker.openstack.org/v1alpha1",
        "kind": "Vnf",
        "metadata": {"name": vnf_id},
        "spec": {"vnfId": vnf_id, "tenantId": CTX["project_id"], "name": "guarded"},
    }
    await custom.create_namespaced_custom_object(
        "tacker.openstack.org", "v1alpha1", names.records, "vnfs", body
    )
    refused = await asyncio.to_thread(
        kubectl, operator, "delete", "vnf", vnf_id, "-n", names.records
    )
    assert refused.returncode != 0
    assert "terminate the VNF through Tacker" in refused.stderr
    assert "tacker-k8s-worker-vnf-delete-guard" in refused.stderr
    still = await custom.get_namespaced_custom_object(
        "tacker.openstack.org", "v1alpha1", names.records, "vnfs", vnf_id
    )
    assert still["metadata"]["name"] == vnf_id
    # the namespace controller (its own ServiceAccount) may delete it with its namespace
    gone = await asyncio.to_thread(
        kubectl, operator, "delete", "namespace", names.records, "--wait=false"
    )
    assert gone.returncode == 0, gone.stderr

    async def namespace_gone() -> bool:
        try:
            await core.read_namespace(names.records)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    for _ in range(150):
        if await namespace_gone():
            break
        await asyncio.sleep(0.2)
    assert await namespace_gone(), "the namespace controller could not delete the Vnf"


async def test_with_the_record_finalizer_a_vnf_deleted_by_hand_is_terminated_first(
    tmp_path: pathlib.Path, transport_url: str, kubeconfig: str, kube_api: Any, namespace: str
) -> None:
    names = Names.fresh()
    config = write_config(
        tmp_path / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="fin-1",
        extra="[kubernetes]\nrecord_finalizer = true\n",
    )
    worker = WorkerProcess(config, log=tmp_path / "worker.log")
    await worker.start()
    events = Events(transport_url, names)
    try:
        conductor = Conductor(transport_url, names)
        vnf_id = await cast_instantiate(conductor, "finalized", op_id="op-fin", namespace=namespace)
        await events.wait(vnf_id, "vnf.instantiate.end", op_id="op-fin", within=120)
        # tkw-admin is exempt from the bed's delete guard: as with the guard disabled
        deleted = await asyncio.to_thread(
            kubectl, kubeconfig, "delete", "vnf", vnf_id, "-n", names.records, "--wait=false"
        )
        assert deleted.returncode == 0, deleted.stderr
        [end] = await events.wait(vnf_id, "vnf.terminate.end", within=120)
        assert end["payload"]["op_id"].startswith("record-deleted-")
        apps = client.AppsV1Api(kube_api)

        async def gone() -> bool:
            left = await apps.list_namespaced_deployment(
                namespace, label_selector=f"tacker.openstack.org/vnf-id={vnf_id}"
            )
            listed = await asyncio.to_thread(
                kubectl, kubeconfig, "get", "vnfs", "-n", names.records
            )
            return not left.items and vnf_id not in listed.stdout

        for _ in range(100):
            if await gone():
                break
            await asyncio.sleep(0.2)
        assert await gone(), "the VNF's objects or its record are left"
    finally:
        events.stop()
        assert await worker.stop() == 0
