"""Registration of oslo.messaging's own options (never redefined here).

``[DEFAULT] transport_url``/``control_exchange``, ``[oslo_messaging_rabbit]``
and ``[oslo_messaging_notifications]`` belong to oslo.messaging; the worker
reads them with the same names, defaults and meanings.
"""

from __future__ import annotations

from oslo_config import cfg
from oslo_messaging import opts as oslo_opts


def register_oslo_opts(conf: cfg.ConfigOpts) -> None:
    """Register oslo.messaging's options on ``conf`` (idempotent)."""
    for group, opts in oslo_opts.list_opts():
        if group == "oslo_messaging_kafka":
            continue
        conf.register_opts(opts, group=group)
