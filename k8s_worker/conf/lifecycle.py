"""Options of the ``[lifecycle]`` group: how operations that fail are handled."""

from __future__ import annotations

from oslo_config import cfg

GROUP = "lifecycle"

OPTS: list[cfg.Opt] = [
    cfg.FloatOpt(
        "failed_temp_timeout",
        default=0.0,
        min=0.0,
        help="Seconds an operation parked in FAILED_TEMP waits for retry_operation, "
        "rollback_operation or fail_operation before it becomes FAILED by itself (so a "
        "conductor that never retries cannot leave a VNF stuck). 0: it waits for ever.",
    ),
    cfg.BoolOpt(
        "auto_rollback_updates",
        default=False,
        help="An update whose new pods fail (refused, or not ready within "
        "[kubernetes] operation_timeout) rolls back by itself to the descriptor and "
        "configuration it replaced; its final .error says rolled_back: true.",
    ),
    cfg.BoolOpt(
        "repair_drift",
        default=True,
        help="Put back what changed in a VNF's objects while no operation ran (a "
        "Deployment scaled by hand, an object deleted); off: only report it. Either way "
        "each finding is published once as vnf.drift.repaired (repaired: true/false).",
    ),
    cfg.FloatOpt(
        "claim_pending_timeout",
        default=30.0,
        min=1.0,
        help="Seconds a package's PersistentVolumeClaim may stay Pending during an "
        "operation; then the operation fails VolumeUnbound (it parks in FAILED_TEMP "
        "for a caller that handles it: add a volume or StorageClass, then retry).",
    ),
    cfg.FloatOpt(
        "drift_check_interval",
        default=60.0,
        min=0.0,
        help="Seconds between two checks of an idle VNF for objects deleted out of band "
        "(replicas are checked on every change the watches bring). 0: not checked.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [(GROUP, OPTS)]
