"""The worker under tracemalloc, for the scale benchmark's ``--trace-memory``.

Resident memory says how much a VNF costs, not where it goes.  This module
runs ``k8s_worker.cmd.worker``'s main with tracemalloc tracing
(``FRAMES`` frames per allocation) and answers SIGUSR2: the first signal keeps
a snapshot as the baseline, each later one writes the growth since the
baseline, grouped by line and by call stack, to the file named by
``TKW_TRACE_OUT``.  Only the benchmark starts it; tracing makes the worker
slower and larger, so its latency figures are not comparable.
"""

from __future__ import annotations

import os
import signal
import sys
import tracemalloc
from types import FrameType

FRAMES = 8
TOP = 25
_baseline: list[tracemalloc.Snapshot] = []

_IGNORED = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, "<unknown>"),
)


def _short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path.replace(os.getcwd() + "/", "")


def _report(now: tracemalloc.Snapshot, base: tracemalloc.Snapshot) -> str:
    lines: list[str] = []
    diff = now.compare_to(base, "filename")
    grown = sum(d.size_diff for d in diff)
    lines.append(f"traced growth since the baseline: {grown / 2**20:.1f} MiB")
    lines.append("by file:")
    for d in diff[:TOP]:
        frame = d.traceback[0]
        lines.append(
            f"  {d.size_diff / 2**10:9.0f} KiB {d.count_diff:8d} blocks  {_short(frame.filename)}"
        )
    lines.append("by line:")
    for d in now.compare_to(base, "lineno")[:TOP]:
        frame = d.traceback[0]
        lines.append(
            f"  {d.size_diff / 2**10:9.0f} KiB {d.count_diff:8d} blocks"
            f"  {_short(frame.filename)}:{frame.lineno}"
        )
    lines.append("by call stack (innermost last):")
    for d in now.compare_to(base, "traceback")[:10]:
        lines.append(f"  {d.size_diff / 2**10:9.0f} KiB {d.count_diff:8d} blocks")
        for frame in d.traceback:
            lines.append(f"      {_short(frame.filename)}:{frame.lineno}")
    return "\n".join(lines) + "\n"


def _on_signal(signum: int, frame: FrameType | None) -> None:
    snap = tracemalloc.take_snapshot().filter_traces(_IGNORED)
    out = os.environ["TKW_TRACE_OUT"]
    if not _baseline:
        _baseline.append(snap)
        text = "baseline taken\n"
    else:
        text = _report(snap, _baseline[0])
    with open(out + ".tmp", "w") as fh:
        fh.write(text)
    os.replace(out + ".tmp", out)


def main() -> int:
    # Imported before tracing starts: importing kubernetes_asyncio traced takes
    # minutes, and the modules are not what a VNF costs.
    from k8s_worker.cmd import worker

    tracemalloc.start(FRAMES)
    signal.signal(signal.SIGUSR2, _on_signal)
    return worker.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
