"""Entry point: ``python -m tools.bench intake [--count N] [--rounds R] [--url amqp://...]``.

``intake-drain`` is the child process one run of the intake benchmark
starts (one contender draining one pre-loaded queue); it is not meant to be
called by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import warnings

URL = "amqp://guest:guest@127.0.0.1:5672/"


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
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
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
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
