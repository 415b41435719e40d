"""Options of the ``[cluster]`` group: membership leases of the replicas."""

from __future__ import annotations

from oslo_config import cfg

GROUP = "cluster"

OPTS: list[cfg.Opt] = [
    cfg.FloatOpt(
        "lease_duration",
        default=10.0,
        min=2.0,
        help="Seconds a replica's membership lease lasts without renewal. A "
        "replica that stops renewing (killed, paused, cut off) loses its VNFs to "
        "the others within this time. 10 s leaves room for four renewals (one "
        "slow request or a short API server restart does not move every VNF) and "
        "keeps failover, the lease plus a reconcile, under 15 s.",
    ),
    cfg.FloatOpt(
        "renew_interval",
        default=2.5,
        min=0.5,
        help="Seconds between renewals of this replica's lease (at most a third "
        "of lease_duration).",
    ),
    cfg.FloatOpt(
        "clock_tolerance",
        default=30.0,
        min=0.0,
        help="Seconds by which the replicas' wall clocks may differ. An "
        "operation started by another replica times out only when its start "
        "stamp is operation_timeout plus this old (a stamp in the future counts "
        "from when this replica first saw the operation); a scaling cooldown "
        "stamped by another replica lasts up to this much longer, and a stamp "
        "more than this far in the future restarts the cooldown on this "
        "replica's clock. Operations and cooldowns of this replica's own are "
        "timed exactly (on its monotonic clock for operations).",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [(GROUP, OPTS)]
