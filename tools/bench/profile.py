"""Sampling profiles of a worker process under benchmark load (py-spy).

py-spy samples from outside the process (no instrumentation in the worker's
event loop, so the latencies measured meanwhile stay close to the real
ones).  A worker is started under ``py-spy record --format raw`` and stopped
with SIGTERM; the collapsed stacks are then reduced to the functions that
take the largest share of the samples, inclusive (the function is anywhere on
the stack) and self (it is the leaf), so a report can name file, function
and measured share.
"""

from __future__ import annotations

import collections
import pathlib
import shutil
import sys

RATE = 200


def pyspy_wrap(output: pathlib.Path) -> list[str]:
    exe = shutil.which("py-spy", path=str(pathlib.Path(sys.executable).parent)) or "py-spy"
    return [exe, "record", "--format", "raw", "--rate", str(RATE), "-o", str(output), "--"]


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
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += weight
        leaf[frames[-1]] += weight
    if not total:
        return []
    chosen = [f for f, _ in inclusive.most_common() if only in f][:n]
    return [(f, inclusive[f] / total, leaf[f] / total) for f in chosen]


def report(output: pathlib.Path, *, n: int = 15, only: str = "k8s_worker") -> None:
    print(f"  profile (py-spy, {RATE} Hz, all threads; share of samples): {output}")
    for frame, incl, own in top(output, n=n, only=only):
        print(f"    {100 * incl:5.1f}% incl {100 * own:5.1f}% self  {frame}")
