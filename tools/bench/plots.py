"""PNG pictures of a benchmark run, for ``--plot DIR`` (matplotlib, optional).

The tables give the percentiles; a picture shows the shape: whether ours
tracks the raw watch at every percentile or only at the median, whether the
respawn lag drifts during a churn, whether memory grows in a line with the
VNF count.  matplotlib is an optional bench dependency (``pip install
tacker-k8s-worker[bench]``); without it ``--plot`` says so and the run goes
on without pictures.  Each function writes one PNG and returns its path.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Any


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("  --plot: no matplotlib (pip install tacker-k8s-worker[bench]): no PNG written")
        return False
    return True


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: pathlib.Path) -> pathlib.Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _label(ax: Any, *, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)


def _ecdf(ax: Any, values: Sequence[float], *, label: str, **style: Any) -> None:
    if not values:
        return
    xs = sorted(values)
    ys = [(i + 1) / len(xs) for i in range(len(xs))]
    ax.step(xs, ys, where="post", label=f"{label} (p50 {xs[len(xs) // 2]:.2f} s)", **style)


def lifecycle(
    series: dict[int, dict[str, list[float]]], *, out_dir: pathlib.Path, title: str
) -> pathlib.Path:
    """Per M, the distributions (ECDF) of cast -> ``.end`` (ours), cast -> all
    pods Ready (raw watch) and cast -> ready seen (5 s poller), in seconds."""
    plt = _pyplot()
    sizes = sorted(series)
    fig, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 4.2), squeeze=False)
    for ax, m in zip(axes[0], sizes, strict=True):
        s = series[m]
        _ecdf(ax, s.get("watch", []), label="raw watch: all pods Ready", color="grey")
        _ecdf(ax, s.get("ours", []), label="ours: vnf.instantiate.end", color="tab:blue")
        _ecdf(ax, s.get("poller", []), label="5 s poller", color="tab:red", linestyle="--")
        ax.set_title(f"M = {m} VNFs at once")
        ax.set_xlabel("seconds after the cast")
        ax.set_ylabel("fraction of VNFs")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(title, fontsize=9)
    return _save(plt, fig, out_dir / "lifecycle.png")


def churn(
    timeline: list[tuple[float, float, float | None]],
    *,
    out_dir: pathlib.Path,
    title: str,
) -> pathlib.Path:
    """Each deletion of a churn: seconds into the churn -> its vnf.respawn lag
    after the raw watch, and Kubernetes' own share (pod gone -> replacement)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.scatter(
        [t for t, _, _ in timeline],
        [1000 * lag for _, lag, _ in timeline],
        s=8,
        label="vnf.respawn - raw watch saw the pod deleted",
        color="tab:blue",
    )
    k8s = [(t, k) for t, _, k in timeline if k is not None]
    ax.scatter(
        [t for t, _ in k8s],
        [1000 * k for _, k in k8s],
        s=8,
        marker="x",
        label="k8s: pod gone -> replacement seen",
        color="grey",
    )
    ax.set_yscale("log")
    _label(ax, xlabel="seconds into the churn (deletion time)", ylabel="ms", title=title)
    return _save(plt, fig, out_dir / "churn.png")


def memory(
    points: list[tuple[int, float]], *, out_dir: pathlib.Path, title: str, goal_kib: float = 20.0
) -> pathlib.Path:
    """Resident memory (MiB) against the VNFs held, with the line the 10,000
    VNF goal allows (``goal_kib`` per VNF over the first point)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    xs = [n for n, _ in points]
    ax.plot(xs, [m for _, m in points], marker="o", label="VmRSS", color="tab:blue")
    if points:
        base = points[0][1]
        ax.plot(
            [0, max(xs)],
            [base, base + goal_kib * max(xs) / 1024],
            linestyle="--",
            color="grey",
            label=f"goal: {goal_kib:.0f} KiB per VNF",
        )
    _label(ax, xlabel="VNFs (x 2 pods) held", ylabel="MiB", title=title)
    return _save(plt, fig, out_dir / "memory.png")
