"""Percentiles and one-line summaries shared by the end-to-end benchmarks.

Every mode reports latencies the same way (count, p50, p99, max, in
milliseconds or seconds), together with the machine's load average, because
the two cores are shared with other developers' work and a figure without
the load beside it cannot be compared.
"""

from __future__ import annotations

import math
import os
import platform


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float], *, unit: str = "ms", scale: float = 1000.0) -> str:
    if not values:
        return "n=0"
    v = [x * scale for x in values]
    fmt = "{:.0f}" if unit == "ms" else "{:.2f}"
    p50, p99, top = (fmt.format(x) for x in (percentile(v, 50), percentile(v, 99), max(v)))
    return f"n={len(v)} p50 {p50} {unit}, p99 {p99} {unit}, max {top} {unit}"


def loadavg() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kib = 0
    try:
        with open("/proc/meminfo") as f:
            mem_kib = int(f.readline().split()[1])
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({model or platform.machine()}), {mem_kib / 1048576:.1f} GiB,"
        f" Linux {platform.release()}, Python {platform.python_version()}"
    )
