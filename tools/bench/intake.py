"""Intake throughput: how fast each contender drains a queue of real Tacker casts.

Issue 10's targets: our intake (one process, per-message ack) at >= 0.8x a
raw aio-pika loop that decodes the envelope and acks, and >= 2x
oslo.messaging's own RPC server.  What makes the three comparable:

- the same messages: ``count`` instantiate_vnf casts built by oslo's own
  encoder with a keystone context (``tools.bench.payload``), each naming a
  different VNF unless ``--vnfs`` says otherwise;
- drain rate, not producer rate: each run gets a fresh queue declared with the
  flags an oslo RPC server uses; one raw publisher pre-loads every message and
  the broker must report them all ready before the consumer process starts;
- the same clock (``tools.bench.contenders``): first delivery seen by the
  client library to the last message handled *and* acknowledged; the queue
  depth is checked after each run, so an unacknowledged message shows;
- a fresh process per run (no threads, garbage or warm caches left over from
  another contender), the parent idle while the child drains;
- prefetch: raw and ours use ``--prefetch`` (default 128, the worker's default
  of 2 x ``[k8s_worker] concurrency``); oslo uses its own default,
  ``rabbit_qos_prefetch_count = 0`` (unlimited), unless ``--oslo-prefetch``;
- ``--rounds`` rounds, the order of the contenders rotated each round, and the
  median reported, because other work shares the two cores (the load average
  is printed before and after).

``--processes 1,2,4`` also runs each contender as 2 and 4 competing consumer
processes on the same queue (each its own connection, as replicas are): the
children connect, wait at a barrier, start together and stop when the queue
has stayed empty for a second; the rate is every message over first delivery
(any child) to last ack (any child), and it is set beside the same contender
with one process.

``--profile ours`` runs that contender's first run under pyinstrument
(``pip install pyinstrument`` into the venv; not a dependency of the worker)
and writes the text report to the temp directory; that run is slower.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import uuid
from typing import Any

from k8s_worker.amqp.topology import RabbitSettings, rpc_server_queues
from tools.bench import broker, payload
from tools.bench.contenders import MODES, Result, bench_conf

HOST = "bench"


async def _loaded_queue(mode: str, *, url: str, bodies: list[bytes]) -> str:
    """A fresh topic queue, declared as an oslo RPC server would, holding ``bodies``."""
    topic = f"bench_{mode}_{uuid.uuid4().hex[:8]}"
    conf = bench_conf(url)
    spec = rpc_server_queues(
        RabbitSettings.from_conf(conf), exchange=conf.control_exchange, topic=topic, server=HOST
    )[0]
    await broker.declare(url, spec)
    await broker.fill(url, topic, bodies)
    return topic


def _drain_args(
    mode: str,
    *,
    url: str,
    topic: str,
    host: str,
    prefetch: int,
    oslo_prefetch: int | None,
    run_limit: float,
    count: int,
) -> list[str]:
    """``python`` arguments of one drain child (``count`` 0: until the queue is idle)."""
    args = [
        "-m", "tools.bench", "intake-drain", mode, f"--url={url}", f"--topic={topic}",
        f"--host={host}", f"--count={count}", f"--prefetch={prefetch}", f"--timeout={run_limit}",
    ]  # fmt: skip
    if oslo_prefetch is not None:
        args.append(f"--oslo-prefetch={oslo_prefetch}")
    return args


async def one_run(
    mode: str,
    *,
    url: str,
    bodies: list[bytes],
    prefetch: int,
    oslo_prefetch: int | None,
    run_limit: float,
    profile: str | None = None,
) -> Result:
    topic = await _loaded_queue(mode, url=url, bodies=bodies)
    argv = [sys.executable]
    if profile:
        argv += ["-m", "pyinstrument", "-r", "text", "--show-all", "-o", profile]
    argv += _drain_args(
        mode, url=url, topic=topic, host=HOST, prefetch=prefetch, oslo_prefetch=oslo_prefetch,
        run_limit=run_limit, count=len(bodies),
    )  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), run_limit + 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} run failed:\n{err.decode()[-3000:]}")
    data = json.loads(out.decode().strip().splitlines()[-1])
    queues = [topic, f"{topic}.{HOST}", *data.pop("queues", [])]
    left = await broker.depth(url, topic)
    await broker.delete(url, sorted(set(queues)))
    result = Result(**data)
    if left:
        result.note += f"; INVALID: {left} messages back in the queue"
    return result


async def parallel_run(
    mode: str,
    *,
    url: str,
    bodies: list[bytes],
    processes: int,
    prefetch: int,
    oslo_prefetch: int | None,
    run_limit: float,
) -> Result:
    """``processes`` children of one contender draining one pre-loaded queue together."""
    topic = await _loaded_queue(mode, url=url, bodies=bodies)
    hosts = [f"{HOST}{i}" for i in range(processes)]
    children = []
    for host in hosts:
        argv = [sys.executable, *_drain_args(
            mode, url=url, topic=topic, host=host, prefetch=prefetch, oslo_prefetch=oslo_prefetch,
            run_limit=run_limit, count=0,
        ), "--idle=1.0"]  # fmt: skip
        children.append(
            await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
        )
    try:
        for child in children:  # every consumer connected before any consumes
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), 60)
            if line.strip() != b"READY":
                raise RuntimeError(f"{mode} child did not get ready: {line!r}")
        for child in children:
            assert child.stdin is not None
            child.stdin.write(b"GO\n")
        outputs = await asyncio.wait_for(
            asyncio.gather(*(child.communicate() for child in children)), run_limit + 30
        )
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
    results: list[Result] = []
    queues = [topic]
    for child, (out, err) in zip(children, outputs, strict=True):
        if child.returncode != 0:
            raise RuntimeError(f"{mode} child failed:\n{err.decode()[-3000:]}")
        data = json.loads(out.decode().strip().splitlines()[-1])
        queues += data.pop("queues", [])
        results.append(Result(**data))
    queues += [f"{topic}.{host}" for host in hosts]
    left = await broker.depth(url, topic)
    await broker.delete(url, sorted(set(queues)))
    busy = [r for r in results if r.count]
    total = Result(
        mode,
        sum(r.count for r in results),
        max(r.ended for r in busy) - min(r.started for r in busy),
        sum(r.cpu_seconds for r in results),
        f"{processes} processes, messages each {[r.count for r in results]}",
    )
    if left or total.count != len(bodies):
        total.note += f"; INVALID: {total.count} of {len(bodies)} handled, {left} left"
    return total


def _profile_path(mode: str) -> str:
    path = os.path.join(tempfile.gettempdir(), f"bench-intake-{mode}.pyinstrument.txt")
    print(f"  profiling {mode} (round 1 is slower) into {path}")
    return path


def _loadavg() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


async def run(
    *,
    url: str,
    count: int,
    prefetch: int,
    oslo_prefetch: int | None = None,
    rounds: int = 5,
    vnfs: int | None = None,
    modes: tuple[str, ...] = MODES,
    run_limit: float = 120.0,
    profile: tuple[str, ...] = (),
    processes: tuple[int, ...] = (1,),
) -> dict[str, Any]:
    bodies = payload.bodies(count, vnfs=vnfs or count)
    print(
        f"intake drain: {count} {payload.METHOD} casts of {len(bodies[0])} B pre-loaded per run,"
        f" {vnfs or count} VNFs, {rounds} rounds (order rotated), {os.cpu_count()} CPUs"
    )
    print(f"  load average before: {_loadavg()}")
    runs: dict[str, list[Result]] = {m: [] for m in modes}
    for r in range(rounds):
        order = modes[r % len(modes) :] + modes[: r % len(modes)]
        line = []
        for mode in order:
            result = await one_run(
                mode,
                url=url,
                bodies=bodies,
                prefetch=prefetch,
                oslo_prefetch=oslo_prefetch,
                run_limit=run_limit,
                profile=_profile_path(mode) if mode in profile and r == 0 else None,
            )
            runs[mode].append(result)
            line.append(f"{mode} {result.rate:7.0f}/s {result.cpu_us_per_msg:5.0f} us-cpu/msg")
            if "INVALID" in result.note:
                line.append(result.note)
        print(f"  round {r + 1}: " + " | ".join(line))
    print(f"  load average after:  {_loadavg()}")
    summary: dict[str, Any] = {}
    for mode in modes:
        rates = [x.rate for x in runs[mode]]
        cpu = [x.cpu_us_per_msg for x in runs[mode]]
        summary[mode] = statistics.median(rates)
        summary[f"{mode}_cpu_us"] = statistics.median(cpu)
        print(
            f"  ({mode:4s}) median {summary[mode]:7.0f} msgs/s  (min {min(rates):.0f},"
            f" max {max(rates):.0f}), {summary[f'{mode}_cpu_us']:.0f} us CPU/msg;"
            f" {runs[mode][0].note}"
        )
    for other, target in (("raw", 0.8), ("oslo", 2.0)):
        if "ours" in runs and other in runs:
            ratio = summary["ours"] / summary[other]
            per_round = statistics.median(
                a.rate / b.rate for a, b in zip(runs["ours"], runs[other], strict=True)
            )
            cpu_ratio = summary[f"{other}_cpu_us"] / summary["ours_cpu_us"]
            summary[f"ours/{other}"] = ratio
            print(
                f"  ours/{other:4s} = {ratio:5.2f} (target >= {target});"
                f" median of per-round ratios {per_round:5.2f};"
                f" by CPU per message {cpu_ratio:5.2f}"
            )
    several = [n for n in processes if n > 1]
    if several:
        summary.update(
            await _scaling(
                url=url,
                bodies=bodies,
                modes=modes,
                processes=several,
                single=summary,
                rounds=rounds,
                prefetch=prefetch,
                oslo_prefetch=oslo_prefetch,
                run_limit=run_limit,
            )
        )
    return summary


async def _scaling(
    *,
    url: str,
    bodies: list[bytes],
    modes: tuple[str, ...],
    processes: list[int],
    single: dict[str, Any],
    rounds: int,
    prefetch: int,
    oslo_prefetch: int | None,
    run_limit: float,
) -> dict[str, Any]:
    """Each contender as N competing processes, beside its one-process median."""
    print(f"competing consumer processes on one queue: {processes}, {rounds} rounds each")
    print(f"  load average before: {_loadavg()}")
    summary: dict[str, Any] = {}
    for n in processes:
        runs: dict[str, list[Result]] = {m: [] for m in modes}
        for r in range(rounds):
            order = modes[r % len(modes) :] + modes[: r % len(modes)]
            for mode in order:
                result = await parallel_run(
                    mode,
                    url=url,
                    bodies=bodies,
                    processes=n,
                    prefetch=prefetch,
                    oslo_prefetch=oslo_prefetch,
                    run_limit=run_limit,
                )
                runs[mode].append(result)
                if "INVALID" in result.note:
                    print(f"  {n} x {mode}: {result.note}")
        for mode in modes:
            rate = statistics.median(x.rate for x in runs[mode])
            cpu = statistics.median(x.cpu_us_per_msg for x in runs[mode])
            summary[f"{mode}x{n}"] = rate
            print(
                f"  ({n} x {mode:4s}) median {rate:7.0f} msgs/s, {cpu:4.0f} us CPU/msg;"
                f" x{rate / single[mode]:.2f} of one process; {runs[mode][0].note}"
            )
        if "ours" in modes:
            for other in ("raw", "oslo"):
                if other in modes:
                    ratio = summary[f"oursx{n}"] / summary[f"{other}x{n}"]
                    print(f"  {n} processes: ours/{other} = {ratio:5.2f}")
    print(f"  load average after:  {_loadavg()}")
    return summary
