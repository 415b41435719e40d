"""Entry point: ``python -m tools.bench <mode>``.

Modes: ``intake`` (RPC drain rate), ``lifecycle`` (M VNFs instantiated at
once), ``respawn`` (detection latency), ``scale`` (1,000 VNFs in one worker),
``failover`` (a replica killed), ``journal`` (casts journaled into records
against a bare client).  ``python -m tools.bench <mode> --help``
lists each mode's options.

``intake-drain`` is the child process one run of the intake benchmark
starts (one contender draining one pre-loaded queue); it is not meant to be
called by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import sys
import warnings

URL = "amqp://guest:guest@127.0.0.1:5672/"
PLOT_HELP = "write PNG plots into this directory (needs matplotlib: the [bench] extra)"


E2E_MODES = ("lifecycle", "respawn", "scale", "failover", "journal")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def add_e2e_modes(sub: argparse._SubParsersAction) -> None:
    """The end-to-end modes: real worker processes on the test bed."""
    lc = sub.add_parser("lifecycle", help="M VNFs instantiated at once: cast -> ACTIVE")
    lc.add_argument("--sizes", type=_ints, default=[10, 100], help="comma-separated M values")
    lc.add_argument("--rounds", type=int, default=1, help="rounds, sizes rotated")
    lc.add_argument("--timeout", type=float, default=300.0)
    lc.add_argument("--profile", type=int, default=None, help="M whose first round runs in py-spy")
    lc.add_argument(
        "--kube-events",
        default="on",
        help="on, off or on,off: the worker's [kubernetes] record_events (both: the cost "
        "of recording each notification as a Kubernetes Event, in the same run)",
    )
    lc.add_argument("--plot", type=pathlib.Path, default=None, help=PLOT_HELP)
    rs = sub.add_parser("respawn", help="respawn detection latency vs a raw watch")
    rs.add_argument("--respawns", type=int, default=60)
    rs.add_argument("--vnfs", type=int, default=10)
    rs.add_argument(
        "--profile", action="store_true", help="py-spy on the worker during the measured window"
    )
    sc = sub.add_parser("scale", help="1,000 VNFs x 2 pods in one worker: memory, CPU, lag")
    sc.add_argument("--vnfs", type=int, default=1000)
    sc.add_argument("--batch", type=int, default=100)
    sc.add_argument("--churn", type=int, default=500, help="pod deletions")
    sc.add_argument("--churn-rate", type=float, default=25.0, help="deletions per second")
    sc.add_argument(
        "--replicas", type=int, default=1, help="worker replicas sharing the fleet (e.g. 3)"
    )
    sc.add_argument(
        "--preload",
        action="store_true",
        help="instantiate one VNF, clone the rest directly (records and Deployments) and "
        "add kwok nodes for their pods: for fleets of thousands",
    )
    sc.add_argument(
        "--profile", action="store_true", help="py-spy on the worker during the measured window"
    )
    sc.add_argument(
        "--trace-memory",
        action="store_true",
        help="run the first replica under tracemalloc and print where its memory grew "
        "(slows it: its latency figures do not count)",
    )
    sc.add_argument("--plot", type=pathlib.Path, default=None, help=PLOT_HELP)
    jr = sub.add_parser("journal", help="N casts journaled into records vs a bare client")
    jr.add_argument("--vnfs", type=int, default=500, help="casts (one per VNF) per contender")
    jr.add_argument("--rounds", type=int, default=3, help="rounds, the contenders' order rotated")
    jr.add_argument("--timeout", type=float, default=120.0)
    fo = sub.add_parser("failover", help="SIGKILL one of 3 replicas: hand-over time")
    fo.add_argument("--vnfs", type=int, default=100)
    fo.add_argument("--replicas", type=int, default=3)
    fo.add_argument("--rounds", type=int, default=1)


def run_e2e(args: argparse.Namespace) -> int:
    import importlib
    import logging

    logging.basicConfig(level=logging.ERROR)
    module = importlib.import_module(f"tools.bench.{args.mode}")
    print(f"command: python -m tools.bench {' '.join(sys.argv[1:])}")
    return module.main(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench")
    sub = parser.add_subparsers(dest="mode", required=True)
    intake = sub.add_parser("intake", help="RPC intake drain rate: raw aio-pika vs ours vs oslo")
    intake.add_argument("--count", type=int, default=5000, help="casts per run")
    intake.add_argument("--rounds", type=int, default=5, help="runs per contender, interleaved")
    intake.add_argument("--url", default=URL)
    intake.add_argument(
        "--prefetch", type=int, default=128, help="raw and ours (the worker's default: 128)"
    )
    intake.add_argument(
        "--oslo-prefetch", type=int, default=None, help="oslo (default: its own, 0 = unlimited)"
    )
    intake.add_argument("--vnfs", type=int, default=None, help="distinct VNFs (default: count)")
    intake.add_argument("--only", default="raw,ours,oslo", help="comma-separated contenders to run")
    intake.add_argument(
        "--processes",
        type=_ints,
        default=[1],
        help="comma-separated numbers of competing consumer processes per contender, e.g. 1,2,4",
    )
    intake.add_argument(
        "--profile",
        default="",
        help="comma-separated contenders whose first run goes under pyinstrument",
    )
    drain = sub.add_parser("intake-drain", help="(internal) one contender drains one queue")
    drain.add_argument("contender", choices=("raw", "ours", "oslo"))
    drain.add_argument("--url", default=URL)
    drain.add_argument("--topic", required=True)
    drain.add_argument("--host", default="bench")
    drain.add_argument("--count", type=int, required=True)
    drain.add_argument("--prefetch", type=int, default=128)
    drain.add_argument("--oslo-prefetch", type=int, default=None)
    drain.add_argument("--timeout", type=float, default=120.0)
    drain.add_argument(
        "--idle", type=float, default=1.0, help="with --count 0: stop after this many idle seconds"
    )
    add_e2e_modes(sub)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    if args.mode in E2E_MODES:
        return run_e2e(args)
    if args.mode == "intake-drain":
        from tools.bench import contenders

        args.mode = args.contender
        return contenders.main(args)
    import logging

    import structlog

    from tools.bench import intake as bench_intake

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    asyncio.run(
        bench_intake.run(
            url=args.url,
            count=args.count,
            prefetch=args.prefetch,
            oslo_prefetch=args.oslo_prefetch,
            rounds=args.rounds,
            vnfs=args.vnfs,
            modes=tuple(m for m in args.only.split(",") if m),
            profile=tuple(m for m in args.profile.split(",") if m),
            processes=tuple(args.processes),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
