"""The real parts an end-to-end benchmark runs against, and their cleanup.

The lifecycle, respawn, scale and failover benchmarks start real worker
processes (``python -m k8s_worker.cmd.worker --print-ready``) on the test bed's
RabbitMQ and Kubernetes, each run under fresh names (topic, exchange,
notification topic, record namespace, VNF namespace) so that it neither sees
nor disturbs other developers' runs on the same bed.  Everything a run creates
is removed by :meth:`Run.cleanup`: the worker processes it started (by pid),
its namespaces and its queues and exchanges.  The workers watch only the run's
VNF namespace (``[kubernetes] namespaces``), so pods of concurrent test runs do
not inflate the figures.  The replicas' fanout queues have random names, so
they are declared to expire 60 s after their last consumer
(``rabbit_transient_queues_ttl``) rather than after oslo's 30 minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import signal
import sys
import tempfile
import uuid
from dataclasses import dataclass, field

import aio_pika
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.rest import ApiException

ROOT = pathlib.Path(__file__).resolve().parents[2]
STATE = pathlib.Path(
    os.environ.get("TKW_STATE", pathlib.Path.home() / ".cache/tacker-k8s-worker/testbed")
)
KUBECONFIG = os.environ.get("TKW_KUBECONFIG", str(STATE / "kubeconfig"))
AMQP_URL = f"amqp://guest:guest@127.0.0.1:{os.environ.get('TKW_AMQP_PORT', '5672')}/"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Names:
    """Fresh names of one run: nothing is shared with another run."""

    topic: str
    exchange: str
    notify: str
    records: str
    namespace: str

    @classmethod
    def fresh(cls, mode: str) -> Names:
        s = uuid.uuid4().hex[:8]
        return cls(
            topic=f"tkw_bench_{mode}_{s}",
            exchange=f"tkw_bench_x_{s}",
            notify=f"tkw_bench_n_{s}",
            records=f"tkw-bench-records-{s}",
            namespace=f"tkw-bench-{mode}-{s}",
        )


class WorkerProcess:
    """One worker replica, started and stopped by its own pid only."""

    def __init__(
        self,
        config_path: pathlib.Path,
        *,
        host: str,
        log: pathlib.Path,
        wrap: list[str] | None = None,
        module: str = "k8s_worker.cmd.worker",
        env: dict[str, str] | None = None,
    ) -> None:
        self.config = config_path
        self.module = module  # e.g. tools.bench.traced, which runs the worker traced
        self.env = env or {}
        self.host = host
        self.log = log
        self.wrap = wrap or []  # e.g. py-spy record ... --
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, *, within: float = 90.0, acting: bool = True) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore", **self.env)
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.wrap,
                sys.executable,
                "-m",
                self.module,
                "--config-file",
                str(self.config),
                "--print-ready",
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=env,
                cwd=str(ROOT),
            )
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(within):
                line = b"-"
                while line and line.strip() != b"READY":  # a wrapper may print first
                    line = await self.proc.stdout.readline()
        except TimeoutError:
            line = b""
        if line.strip() != b"READY":
            await self.kill()
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"worker {self.host} did not start; log tail:\n{tail}")
        if acting:
            await self.wait_logged("membership.acting", within=within)

    async def wait_logged(self, event: str, *, within: float) -> None:
        """Until the worker's log has ``event`` (e.g. membership.acting: READY
        says it consumes RPCs; it acts on VNFs once its lease settled, a few
        seconds later, which a long-running replica did long ago)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while f'"{event}"' not in self.log.read_text(errors="replace"):
            if loop.time() > deadline:
                raise RuntimeError(f"worker {self.host} logged no {event} in {within:.0f} s")
            await asyncio.sleep(0.1)

    @property
    def pid(self) -> int:
        """The worker's own pid (the child of the wrapper when there is one)."""
        assert self.proc is not None
        if not self.wrap:
            return self.proc.pid
        task = pathlib.Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        children = task.read_text().split()
        return int(children[0]) if children else self.proc.pid

    @property
    def http_port(self) -> int:
        """The port of the worker's /metrics (it asks for any; its log says which)."""
        for line in self.log.read_text(errors="replace").splitlines():
            if '"http.listening"' in line:
                return int(json.loads(line)["port"])
        raise RuntimeError(f"worker {self.host} logged no http.listening")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def rss_mib(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) of the process in MiB, from /proc/<pid>/status."""
        fields: dict[str, float] = {}
        for line in pathlib.Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
        return fields["VmRSS"], fields["VmHWM"]

    def cpu_seconds(self) -> float:
        """utime + stime of the process (all threads), from /proc/<pid>/stat."""
        stat = pathlib.Path(f"/proc/{self.pid}/stat").read_text()
        rest = stat[stat.rindex(")") + 2 :].split()
        return (int(rest[11]) + int(rest[12])) / CLK_TCK  # fields 14 and 15

    async def stop(self, *, within: float = 60.0) -> None:
        if not self.alive:
            return
        assert self.proc is not None
        os.kill(self.pid, signal.SIGTERM)  # the worker itself; a wrapper then exits too
        try:
            await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            await self.kill()

    async def kill(self) -> None:
        """SIGKILL the worker (and its wrapper, if any)."""
        if self.alive:
            assert self.proc is not None
            pid = self.pid
            os.kill(pid, signal.SIGKILL)
            if pid != self.proc.pid:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
            await self.proc.wait()


@dataclass
class Run:
    """One benchmark run on the test bed: its names, workers and Kubernetes client."""

    mode: str
    names: Names = field(init=False)
    workdir: pathlib.Path = field(init=False)
    workers: dict[str, WorkerProcess] = field(default_factory=dict)
    api: client.ApiClient | None = None

    def __post_init__(self) -> None:
        self.names = Names.fresh(self.mode)
        self.workdir = pathlib.Path(tempfile.mkdtemp(prefix=f"tkw-bench-{self.mode}-"))

    @property
    def transport_url(self) -> str:
        return "rabbit://" + AMQP_URL.split("://", 1)[1]

    async def open(self) -> client.ApiClient:
        cfg = client.Configuration()
        await config.load_kube_config(config_file=KUBECONFIG, client_configuration=cfg)
        cfg.connection_pool_maxsize = 32
        self.api = client.ApiClient(configuration=cfg)
        await client.CoreV1Api(self.api).create_namespace(
            client.V1Namespace(
                metadata=client.V1ObjectMeta(name=self.names.namespace, labels={"tkw-bench": "1"})
            )
        )
        return self.api

    def write_config(self, host: str, extra: str = "") -> pathlib.Path:
        n = self.names
        path = self.workdir / f"{host}.conf"
        path.write_text(f"""[DEFAULT]
use_json = true
transport_url = {self.transport_url}
control_exchange = {n.exchange}
[k8s_worker]
topic = {n.topic}
host = {host}
[kubernetes]
kubeconfig = {KUBECONFIG}
record_namespace = {n.records}
namespaces = {n.namespace}
# The bench's own per-run namespace, granted to every tenant it plays.
tenant_namespaces = *:{n.namespace}
[oslo_messaging_notifications]
topics = {n.notify}
[oslo_messaging_rabbit]
rabbit_transient_queues_ttl = 60
[service]
http_host = 127.0.0.1
http_port = 0
{extra}
""")
        return path

    async def start_worker(
        self,
        host: str,
        extra: str = "",
        *,
        wrap: list[str] | None = None,
        module: str = "k8s_worker.cmd.worker",
        env: dict[str, str] | None = None,
    ) -> WorkerProcess:
        proc = WorkerProcess(
            self.write_config(host, extra),
            host=host,
            log=self.workdir / f"{host}.log",
            wrap=wrap,
            module=module,
            env=env,
        )
        self.workers[host] = proc
        await proc.start()
        return proc

    async def cleanup(self) -> None:
        """Stop our workers (by pid), then delete our namespaces, queues and exchanges."""
        await asyncio.gather(*(w.stop() for w in self.workers.values()), return_exceptions=True)
        if self.api is not None:
            core = client.CoreV1Api(self.api)
            for ns in (self.names.namespace, self.names.records):
                try:
                    await core.delete_namespace(ns, propagation_policy="Background")
                except ApiException as exc:
                    if exc.status != 404:
                        print(f"  cleanup: namespace {ns}: {exc.status} {exc.reason}")
            await self.api.close()
        await delete_amqp(self.names, list(self.workers))

    def keep_note(self) -> str:
        return f"worker configs and logs: {self.workdir}"


async def delete_amqp(names: Names, hosts: list[str]) -> None:
    """The queues and exchanges the workers and the oslo peer declared for ``names``."""
    queues = [names.topic, f"{names.topic}.retry", *(f"{names.topic}.{h}" for h in hosts)]
    queues += [f"{names.notify}.{p}" for p in ("info", "error", "warn", "audit", "debug")]
    with contextlib.suppress(Exception):
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            for queue in queues:
                channel = await connection.channel()
                with contextlib.suppress(Exception):
                    await channel.queue_delete(queue)
            for exchange in (names.exchange, f"{names.topic}_fanout"):
                channel = await connection.channel()
                with contextlib.suppress(Exception):
                    await channel.exchange_delete(exchange)


async def wait_namespace_gone(api: client.ApiClient, name: str, *, within: float = 120) -> bool:
    core = client.CoreV1Api(api)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        try:
            await core.read_namespace(name)
        except ApiException as exc:
            if exc.status == 404:
                return True
        await asyncio.sleep(1)
    return False
