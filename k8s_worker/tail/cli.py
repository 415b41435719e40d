"""The tail tool's command line: options, configuration, output mode, exit status.

``k8s_worker.cmd.tail`` is the entry point; this module does the work once
the noisy imports (oslo.messaging pulls in eventlet) are silenced.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from typing import TextIO

import oslo_messaging
import structlog
from aio_pika.exceptions import AMQPError
from oslo_config import cfg

from k8s_worker.amqp.connection import ConnectionSettings
from k8s_worker.amqp.options import register_oslo_opts
from k8s_worker.amqp.topology import RabbitSettings
from k8s_worker.tail.consumer import Sink, Tail, TailEnd, TailOptions
from k8s_worker.tail.event import Event, Malformed
from k8s_worker.tail.filters import EventFilter
from k8s_worker.tail.formatting import Formatter, JsonLinesFormatter, TerminalFormatter
from k8s_worker.version import version_string

EXIT_OK = 0
EXIT_BROKER = 1
EXIT_USAGE = 2
EXIT_TIMED_OUT = 3

LOG = structlog.get_logger("k8s_worker.tail")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def build_parser(*, description: str = "") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="k8s-worker-tail",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=version_string())
    broker = parser.add_argument_group("broker")
    broker.add_argument(
        "--config-file",
        action="append",
        default=[],
        metavar="PATH",
        help="oslo.config file(s) with transport_url, control_exchange and "
        "[oslo_messaging_notifications]/[oslo_messaging_rabbit] (repeatable)",
    )
    broker.add_argument("--transport-url", help="oslo.messaging transport URL of the broker")
    broker.add_argument("--exchange", help="the control exchange (default: control_exchange)")
    broker.add_argument(
        "--topic",
        action="append",
        default=[],
        help="notification topic (repeatable; default: [oslo_messaging_notifications] topics)",
    )
    broker.add_argument(
        "--queue",
        metavar="NAME",
        help="consume from this durable queue, kept on exit: replays what it holds; "
        "what the filters hide is consumed too (default: an exclusive queue that starts "
        "from now and is deleted on exit)",
    )
    flt = parser.add_argument_group("filters (values of one filter: any; different filters: all)")
    flt.add_argument("--vnf", action="append", default=[], help="VNF id or glob (repeatable)")
    flt.add_argument("--tenant", action="append", default=[], help="tenant id or glob")
    flt.add_argument(
        "--vim",
        action="append",
        default=[],
        help="VIM id or glob: its vim.status.update events and its VNFs' ('default': the "
        "worker's own cluster)",
    )
    flt.add_argument(
        "--event", action="append", default=[], help="event type glob, e.g. 'vnf.scale.*'"
    )
    flt.add_argument(
        "--priority",
        action="append",
        default=[],
        help="one priority: that or more severe (warn); several (error,critical): exactly those",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--json",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="JSON lines (default: when stdout is not a terminal)",
    )
    out.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour terminal lines (auto: when stdout is a terminal and NO_COLOR is unset)",
    )
    out.add_argument("--count", type=_positive_int, help="exit after N events")
    out.add_argument("--timeout", type=_positive_float, help="exit after S seconds of listening")
    out.add_argument("-q", "--quiet", action="store_true", help="log only warnings to stderr")
    return parser


def build_conf(args: argparse.Namespace) -> cfg.ConfigOpts:
    """oslo.messaging's options from the configuration files, overridden by the flags."""
    conf = cfg.ConfigOpts()
    register_oslo_opts(conf)
    files = [arg for path in args.config_file for arg in ("--config-file", path)]
    conf(files, project="tacker", prog="k8s-worker")
    if args.transport_url:
        conf.set_override("transport_url", args.transport_url)
        conf.set_override("transport_url", None, group="oslo_messaging_notifications")
    if args.exchange:
        conf.set_override("control_exchange", args.exchange)
    if args.topic:
        conf.set_override("topics", args.topic, group="oslo_messaging_notifications")
    return conf


def use_json(args: argparse.Namespace, stream: TextIO) -> bool:
    return (not stream.isatty()) if args.json is None else bool(args.json)


def use_color(args: argparse.Namespace, stream: TextIO) -> bool:
    if args.color != "auto":
        return args.color == "always"
    return stream.isatty() and "NO_COLOR" not in os.environ


def printer(formatter: Formatter, stream: TextIO) -> Sink:
    def sink(item: Event | Malformed) -> None:
        line = formatter.event(item) if isinstance(item, Event) else formatter.malformed(item)
        stream.write(line + "\n")
        stream.flush()

    return sink


def configure_logging(*, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.INFO
    logging.basicConfig(stream=sys.stderr, level=level, format="%(message)s")
    renderer = (
        structlog.dev.ConsoleRenderer(colors="NO_COLOR" not in os.environ)
        if sys.stderr.isatty()
        else structlog.processors.JSONRenderer()
    )
    # aiormq logs a broker's close with a traceback; tail.connection_lost says it in one line.
    for noisy in ("aiormq", "aio_pika"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


async def run(tail: Tail, *, count: int | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        outcome = await tail.run(stop)
    except BrokenPipeError:
        raise
    except (OSError, AMQPError) as exc:
        LOG.error("tail.broker_unreachable", error=str(exc) or type(exc).__name__)
        return EXIT_BROKER
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    LOG.info(
        "tail.done", outcome=outcome.value, shown=tail.shown, repeats_skipped=tail.recent.repeats
    )
    if outcome is TailEnd.CONNECTION_LOST:
        return EXIT_BROKER
    if outcome is TailEnd.TIMED_OUT and count is not None:
        return EXIT_TIMED_OUT
    return EXIT_OK


def main(argv: list[str] | None = None, *, usage: str = "") -> int:
    parser = build_parser(description=usage)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        event_filter = EventFilter.build(
            vnf_ids=args.vnf,
            tenants=args.tenant,
            events=args.event,
            priorities=args.priority,
            vim_ids=args.vim,
        )
        conf = build_conf(args)
        url = conf.oslo_messaging_notifications.transport_url or conf.transport_url
        settings = ConnectionSettings.from_conf(conf, url=url)
        rabbit = RabbitSettings.from_conf(conf, url=url)
    except (ValueError, cfg.Error, oslo_messaging.MessagingException, RuntimeError) as exc:
        parser.error(str(exc))
    topics = tuple(conf.oslo_messaging_notifications.topics)
    if not topics:
        parser.error("no notification topic: give --topic")
    configure_logging(quiet=args.quiet)
    stdout = sys.stdout
    formatter: Formatter
    if use_json(args, stdout):
        formatter = JsonLinesFormatter()
    else:
        terminal = TerminalFormatter(color=use_color(args, stdout))
        stdout.write(terminal.header() + "\n")
        formatter = terminal
    tail = Tail(
        settings=settings,
        rabbit=rabbit,
        options=TailOptions(
            exchange=conf.control_exchange,
            topics=topics,
            queue=args.queue,
            count=args.count,
            timeout=args.timeout,
        ),
        event_filter=event_filter,
        sink=printer(formatter, stdout),
    )
    try:
        return asyncio.run(run(tail, count=args.count))
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as other filters do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())
        return EXIT_OK
