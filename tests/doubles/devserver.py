"""A stand-alone intake process for tests and demos (real broker, test-double handler).

    python -m tests.doubles.devserver --transport-url rabbit://... --host w1 \
        --topic t1 [--journal ops.jsonl] [--delay 0.2] [--durable] [--config-file x.conf]

``--config-file`` is an oslo.config file for options without a flag (e.g.
``[oslo_messaging_rabbit] ssl``, ``ssl_ca_file``); the flags and the settings
fixed in ``build_conf`` override it.

Prints ``READY`` on stdout once it consumes; SIGTERM drains and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import pathlib
import signal
import sys

import structlog
from oslo_config import cfg

from k8s_worker import conf as worker_conf
from k8s_worker.intake.service import IntakeService, IntakeSettings
from k8s_worker.notify.notifier import Notifier, NotifierSettings
from tests.doubles.intake import InMemoryHandler, JournalHandler


def build_conf(args: argparse.Namespace) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    worker_conf.register_opts(conf)
    files = [args.config_file] if args.config_file else []
    conf([], project="k8s_worker", default_config_files=files)
    conf.set_override("transport_url", args.transport_url)
    conf.set_override("control_exchange", args.exchange)
    conf.set_override("topic", args.topic, group="k8s_worker")
    conf.set_override("host", args.host, group="k8s_worker")
    conf.set_override("concurrency", args.concurrency, group="k8s_worker")
    conf.set_override("drain_timeout", args.drain_timeout, group="intake")
    conf.set_override("max_delivery_attempts", args.max_delivery_attempts, group="intake")
    conf.set_override("prefetch_count", args.prefetch, group="intake")
    conf.set_override("topics", [args.notify_topic], group="oslo_messaging_notifications")
    conf.set_override("amqp_durable_queues", args.durable, group="oslo_messaging_rabbit")
    conf.set_override("rabbit_retry_interval", 1, group="oslo_messaging_rabbit")
    conf.set_override("rabbit_interval_max", 2, group="oslo_messaging_rabbit")
    conf.set_override("heartbeat_timeout_threshold", 10, group="oslo_messaging_rabbit")
    return conf


def configure_logging() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


async def serve(args: argparse.Namespace) -> None:
    conf = build_conf(args)
    if args.journal:
        handler: InMemoryHandler = JournalHandler(
            host=args.host, delay=args.delay, journal=pathlib.Path(args.journal)
        )
    else:
        handler = InMemoryHandler(host=args.host, delay=args.delay)
    notifier = Notifier(NotifierSettings.from_conf(conf))
    service = IntakeService(IntakeSettings.from_conf(conf), handler, notifier)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    async def announce() -> None:
        await service.ready.wait()
        print("READY", flush=True)

    announcer = asyncio.create_task(announce())
    try:
        await service.run(stop)
    finally:
        announcer.cancel()
        await notifier.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transport-url", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--topic", default="k8s_worker")
    parser.add_argument("--exchange", default="tacker")
    parser.add_argument("--notify-topic", default="notifications")
    parser.add_argument("--journal", default="")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--drain-timeout", type=float, default=10.0)
    parser.add_argument("--max-delivery-attempts", type=int, default=3)
    parser.add_argument("--prefetch", type=int, default=0)
    parser.add_argument("--durable", action="store_true")
    parser.add_argument("--config-file", default="")
    args = parser.parse_args(argv)
    configure_logging()
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
