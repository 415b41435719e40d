"""``k8s-worker``: run one replica of the worker.

    k8s-worker --config-file /etc/tacker/k8s-worker.conf

Start-up checks the configuration, the broker, the API server and RBAC first
(``k8s_worker.preflight``); any failure is printed as one line
(``k8s-worker: error: ...``) and the exit status is 2 for a bad configuration,
1 for anything else.  Then it serves /healthz, /readyz and /metrics
(``[service] http_host``/``http_port``), prints READY on stdout (with
``--print-ready``) once it consumes RPCs, and on SIGTERM or SIGINT drains the
intake and exits 0.  SIGHUP re-reads the configuration files and applies the
mutable options (the log level: ``[DEFAULT] debug``, ``default_log_levels``)
without stopping; ``--version`` prints pbr's version.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Any

import structlog
from oslo_config import cfg

from k8s_worker import conf as worker_conf
from k8s_worker import logs, preflight
from k8s_worker.amqp.options import unimplemented_rabbit_options
from k8s_worker.health import HealthServer
from k8s_worker.kube.client import make_api_client
from k8s_worker.service import Worker
from k8s_worker.version import version_string

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
    ignored = unimplemented_rabbit_options(conf)
    if ignored:
        LOG.warning("config.rabbit_options_ignored", group="oslo_messaging_rabbit", options=ignored)
    await check_environment(conf)
    worker = Worker(conf)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    reloads: set[asyncio.Task[None]] = set()
    changes: list[dict[Any, Any]] = []
    conf.register_mutate_hook(lambda _, fresh: changes.append(fresh))
    one_at_a_time = asyncio.Lock()  # ConfigOpts is not safe for two mutations at once

    async def reload() -> None:
        async with one_at_a_time:
            await reload_config(conf, changes=changes)

    def on_hangup() -> None:
        task = asyncio.create_task(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hangup)
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


async def reload_config(conf: cfg.ConfigOpts, *, changes: list[dict[Any, Any]]) -> None:
    """SIGHUP: the files read again (in a thread), the logging set up anew from the
    mutable options; a file that cannot be used keeps the old settings.  The
    options that changed (``changes``, filled by a mutate hook) are logged at DEBUG."""
    changes.clear()
    try:
        await asyncio.to_thread(conf.mutate_config_files)
        # Values are converted when read: read the mutable ones now, so a bad one is said.
        for group, opts in worker_conf.list_opts():
            for opt in opts:
                if opt.mutable:
                    getattr(conf, opt.dest) if group == "DEFAULT" else getattr(
                        conf[group], opt.dest
                    )
        settings = logs.settings_from_conf(conf, program=PROG)
        logs.apply(settings)
    except Exception as exc:  # a bad file, value or logging config: keep serving
        LOG.error("config.reload_failed", error=logs.scrub(" ".join(str(exc).split())))
        return
    LOG.info("config.reloaded", log_level=settings.level)
    for fresh in changes:
        LOG.debug(
            "config.changed",
            options=sorted(f"[{group or 'DEFAULT'}] {name}" for group, name in fresh),
        )


def load_config(argv: list[str]) -> cfg.ConfigOpts:
    """Parse the command line and config files and validate every option."""
    conf = cfg.ConfigOpts()
    worker_conf.register_opts(conf)
    conf.register_cli_opts(CLI_OPTS)
    try:
        conf(argv, project="tacker", prog=PROG, version=version_string())
    except cfg.Error as exc:
        raise ConfigError(f"configuration error: {' '.join(str(exc).split())}") from exc
    try:
        preflight.check_config(conf)
    except preflight.StartupError as exc:
        raise ConfigError(str(exc)) from exc
    return conf


def log_settings(conf: cfg.ConfigOpts) -> logs.LogSettings:
    try:
        return logs.settings_from_conf(conf, program=PROG)
    except ValueError as exc:
        raise ConfigError(f"configuration error: {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    try:
        conf = load_config(sys.argv[1:] if argv is None else argv)
        try:
            logs.apply(log_settings(conf))
        except Exception as exc:  # a log file or logging config file that cannot be used
            raise ConfigError(f"configuration error: cannot set up logging: {exc}") from exc
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
