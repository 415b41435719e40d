"""Registration of oslo.messaging's own options (never redefined here).

``[DEFAULT] transport_url``/``control_exchange``, ``[oslo_messaging_rabbit]``
and ``[oslo_messaging_notifications]`` belong to oslo.messaging; the worker
reads them with the same names, defaults and meanings.
"""

from __future__ import annotations

from oslo_config import cfg
from oslo_messaging import opts as oslo_opts


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """oslo.messaging's options the worker reads: all but the Kafka driver's.

    The ``oslo.config.opts`` entry point ``k8s_worker.messaging``, so that the
    sample config does not offer a driver the worker does not have.
    """
    return [
        (group, opts) for group, opts in oslo_opts.list_opts() if group != "oslo_messaging_kafka"
    ]


def register_oslo_opts(conf: cfg.ConfigOpts) -> None:
    """Register oslo.messaging's options on ``conf`` (idempotent)."""
    for group, opts in list_opts():
        conf.register_opts(opts, group=group)
