"""Entry point: ``python -m tools.bench intake [--count N] [--url amqp://...]``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench")
    sub = parser.add_subparsers(dest="mode", required=True)
    intake = sub.add_parser("intake", help="RPC intake throughput: raw aio-pika vs ours vs oslo")
    intake.add_argument("--count", type=int, default=5000, help="casts per contender")
    intake.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/")
    intake.add_argument("--prefetch", type=int, default=128)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    from tools.bench import intake as bench_intake

    asyncio.run(bench_intake.run(url=args.url, count=args.count, prefetch=args.prefetch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
