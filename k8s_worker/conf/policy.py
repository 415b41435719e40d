"""Options of the ``[policy]`` group: how the policy engine reads load."""

from __future__ import annotations

from oslo_config import cfg

GROUP = "policy"

OPTS: list[cfg.Opt] = [
    cfg.FloatOpt(
        "metrics_interval",
        default=15.0,
        min=0.0,
        help="Seconds between two reads of a VNF's pods' CPU from its VIM's metrics "
        "API (metrics.k8s.io) by the replica that owns it, for the scaling policies "
        "with a CPU target (target_cpu_utilization_percentage, or additionalParams "
        "autoscaling); each read is one decision per policy. 0: CPU targets are ignored.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [(GROUP, OPTS)]
