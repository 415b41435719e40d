"""``k8s-worker``: run one replica of the worker.

    k8s-worker --config-file /etc/tacker/k8s-worker.conf

Prints READY on stdout (with ``--print-ready``) once it consumes RPCs; SIGTERM
or SIGINT drains the intake and exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import structlog
from oslo_config import cfg

from k8s_worker import conf as worker_conf
from k8s_worker.amqp.options import register_oslo_opts
from k8s_worker.service import Worker

CLI_OPTS = [
    cfg.BoolOpt(
        "print-ready", default=False, help="Print READY on stdout once the worker consumes RPCs."
    ),
]


def configure_logging(*, json_lines: bool) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    renderer = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


async def serve(conf: cfg.ConfigOpts) -> None:
    worker = Worker(conf)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    async def announce() -> None:
        await worker.ready.wait()
        if conf.print_ready:
            print("READY", flush=True)

    announcer = asyncio.create_task(announce())
    try:
        await worker.run(stop)
    finally:
        announcer.cancel()


def main(argv: list[str] | None = None) -> int:
    conf = cfg.ConfigOpts()
    register_oslo_opts(conf)
    worker_conf.register_opts(conf)
    conf.register_cli_opts(CLI_OPTS)
    conf(sys.argv[1:] if argv is None else argv, project="tacker", prog="k8s-worker")
    configure_logging(json_lines=not sys.stderr.isatty())
    try:
        asyncio.run(serve(conf))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
