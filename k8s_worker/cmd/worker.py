"""``k8s-worker``: run one replica of the worker.

    k8s-worker --config-file /etc/tacker/k8s-worker.conf

Start-up checks the configuration, the broker, the API server and RBAC first
(``k8s_worker.preflight``); any failure is printed as one line
(``k8s-worker: error: ...``) and the exit status is 2 for a bad configuration,
1 for anything else.  Then it serves /healthz, /readyz and /metrics
(``[service] http_host``/``http_port``), prints READY on stdout (with
``--print-ready``) once it consumes RPCs, and on SIGTERM or SIGINT drains the
intake and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

import structlog
from oslo_config import cfg

from k8s_worker import conf as worker_conf
from k8s_worker import logs, preflight
from k8s_worker.health import HealthServer
from k8s_worker.kube.client import make_api_client
from k8s_worker.service import Worker

LOG = structlog.get_logger(__name__)
PROG = "k8s-worker"
EXIT_CONFIG = 2
EXIT_STARTUP = 1

CLI_OPTS = [
    cfg.BoolOpt(
        "print-ready", default=False, help="Print READY on stdout once the worker consumes RPCs."
    ),
]


class ConfigError(preflight.StartupError):
    """The configuration cannot be used (exit status 2)."""


async def check_environment(conf: cfg.ConfigOpts) -> None:
    """Broker, API server and RBAC, checked concurrently where independent."""
    timeout = conf.service.startup_timeout
    kconf = conf.kubernetes
    try:
        api = await make_api_client(
            kubeconfig=kconf.kubeconfig or None,
            context=kconf.context or None,
            host=conf.k8s_worker.host,
        )
    except Exception as exc:
        raise ConfigError(
            f"configuration error: cannot load the Kubernetes client configuration "
            f"([kubernetes] kubeconfig/context): {logs.scrub(str(exc))}"
        ) from exc
    try:
        broker = asyncio.create_task(preflight.check_broker(conf, within=timeout))
        try:
            version = await preflight.check_cluster(api, within=timeout)
        except BaseException:
            broker.cancel()
            with contextlib.suppress(BaseException):
                await broker
            raise
        await broker
        if conf.service.check_rbac:
            await preflight.check_rbac(api, conf)
        LOG.info("startup.checked", kubernetes=version, rbac=conf.service.check_rbac)
    finally:
        await api.close()


async def serve(conf: cfg.ConfigOpts) -> None:
    await check_environment(conf)
    worker = Worker(conf)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    http: HealthServer | None = None
    if conf.service.http_enabled:
        http = HealthServer(
            host=conf.service.http_host,
            port=conf.service.http_port,
            readiness=worker.readiness,
            metrics=worker.metrics,
        )
        try:
            await http.start()
        except OSError as exc:
            raise preflight.StartupError(
                f"cannot serve HTTP on {conf.service.http_host}:{conf.service.http_port} "
                f"([service] http_host/http_port): {exc.strerror or exc}"
            ) from exc

    async def announce() -> None:
        await worker.ready.wait()
        if conf.print_ready:
            print("READY", flush=True)

    announcer = asyncio.create_task(announce())
    try:
        await worker.run(stop)
    finally:
        announcer.cancel()
        if http is not None:
            await http.stop()


def load_config(argv: list[str]) -> cfg.ConfigOpts:
    """Parse the command line and config files and validate every option."""
    conf = cfg.ConfigOpts()
    worker_conf.register_opts(conf)
    conf.register_cli_opts(CLI_OPTS)
    try:
        conf(argv, project="tacker", prog=PROG)
    except cfg.Error as exc:
        raise ConfigError(f"configuration error: {' '.join(str(exc).split())}") from exc
    try:
        preflight.check_config(conf)
    except preflight.StartupError as exc:
        raise ConfigError(str(exc)) from exc
    return conf


def main(argv: list[str] | None = None) -> int:
    try:
        conf = load_config(sys.argv[1:] if argv is None else argv)
        logs.configure(fmt=conf.service.log_format, level=conf.service.log_level)
        asyncio.run(serve(conf))
    except preflight.StartupError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_CONFIG if isinstance(exc, ConfigError) else EXIT_STARTUP
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        # Through the log pipeline (JSON, redacted), not as a bare traceback.
        structlog.get_logger(__name__).critical("worker.crashed", error=repr(exc), exc_info=exc)
        return EXIT_STARTUP
    return 0


if __name__ == "__main__":
    sys.exit(main())
