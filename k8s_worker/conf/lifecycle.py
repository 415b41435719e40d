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
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [(GROUP, OPTS)]
