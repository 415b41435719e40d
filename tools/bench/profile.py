"""Sampling profiles of a worker process under benchmark load (py-spy).

py-spy samples from outside the process (no instrumentation in the worker's
event loop, so the latencies measured meanwhile stay close to the real
ones).  A worker is either started under ``py-spy record --format raw`` (its whole
life) or attached to for a measured window only (:class:`Attached`); the
collapsed stacks are then reduced to the functions that
take the largest share of the samples, inclusive (the function is anywhere on
the stack) and self (it is the leaf), so a report can name file, function
and measured share.
"""

from __future__ import annotations

import asyncio
import collections
import pathlib
import re
import shutil
import signal
import sys

RATE = 200
_LINE = re.compile(r":\d+\)$")


def pyspy_wrap(output: pathlib.Path) -> list[str]:
    exe = shutil.which("py-spy", path=str(pathlib.Path(sys.executable).parent)) or "py-spy"
    return [
        exe,
        "record",
        "--nonblocking",
        "--format",
        "raw",
        "--rate",
        str(RATE),
        "-o",
        str(output),
        "--",
    ]


def top(output: pathlib.Path, *, n: int = 15, only: str = "") -> list[tuple[str, float, float]]:
    """(frame, inclusive share, self share) of the ``n`` heaviest frames containing ``only``."""
    inclusive: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    total = 0
    for line in output.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        weight = int(count)
        total += weight
        frames = [_LINE.sub(")", f) for f in stack.split(";")]  # per function, not line
        for frame in set(frames):
            inclusive[frame] += weight
        leaf[frames[-1]] += weight
    if not total:
        return []
    chosen = [f for f, _ in inclusive.most_common() if only in f][:n]
    return [(f, inclusive[f] / total, leaf[f] / total) for f in chosen]


def report(output: pathlib.Path, *, n: int = 15) -> None:
    """The heaviest worker functions (inclusive), then the heaviest leaves anywhere."""
    print(f"  profile (py-spy, {RATE} Hz, busy samples of all threads): {output}")
    for frame, incl, own in top(output, n=n, only="k8s_worker"):
        print(f"    {100 * incl:5.1f}% incl {100 * own:5.1f}% self  {frame}")
    print("  heaviest leaves (self time) anywhere:")
    leaves = sorted(top(output, n=10_000), key=lambda x: -x[2])[:n]
    for frame, incl, own in leaves:
        print(f"    {100 * incl:5.1f}% incl {100 * own:5.1f}% self  {frame}")


class Attached:
    """py-spy attached to a running worker for a measured window only.

    ``--nonblocking`` reads the process's memory without pausing it, so the
    latencies measured meanwhile are not stretched by the sampler.
    """

    def __init__(self, pid: int, output: pathlib.Path) -> None:
        self.pid = pid
        self.output = output
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Attached:
        exe = shutil.which("py-spy", path=str(pathlib.Path(sys.executable).parent)) or "py-spy"
        self.proc = await asyncio.create_subprocess_exec(
            exe, "record", "--nonblocking", "--format", "raw", "--rate", str(RATE),
            "--pid", str(self.pid), "-o", str(self.output),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await asyncio.sleep(0.5)  # attached before the window opens
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes the profile and exits
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
