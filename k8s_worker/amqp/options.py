"""Registration of oslo.messaging's own options (never redefined here).

``[DEFAULT] transport_url``/``control_exchange``, ``[oslo_messaging_rabbit]``
and ``[oslo_messaging_notifications]`` belong to oslo.messaging; the worker
reads them with the same names, defaults and meanings.  As in oslo's rabbit
driver, a ``[oslo_messaging_rabbit]`` option may also be given in the
transport URL's query (``rabbit://u:p@h:5672/?amqp_durable_queues=true``),
where it wins over the file: ``rabbit_options`` resolves that.

Two differences from oslo, both in the sample config: the notification
``driver`` defaults to ``messagingv2`` (notifications are this service's
output; ``noop`` sends nothing and ``log`` writes them to the log, as oslo's
drivers do), and the ``[oslo_messaging_rabbit]`` options the worker does not
implement are marked so; ``unimplemented_rabbit_options`` names those that a
config sets, for the one warning at start-up.
"""

from __future__ import annotations

import copy
from typing import Any

import oslo_messaging
from oslo_config import cfg
from oslo_messaging import opts as oslo_opts

from k8s_worker.conf import set_by_user

RABBIT_GROUP = "oslo_messaging_rabbit"
#: ``[DEFAULT] control_exchange`` as Tacker sets it
#: (``oslo_messaging.set_transport_defaults(control_exchange='tacker')``).
DEFAULT_EXCHANGE = "tacker"
NOTIFICATIONS_GROUP = "oslo_messaging_notifications"
#: ``[oslo_messaging_notifications] driver`` unless the config says otherwise.
DEFAULT_NOTIFICATION_DRIVERS = ["messagingv2"]
#: The notification drivers the worker has (oslo's names).
NOTIFICATION_DRIVERS = frozenset({"messaging", "messagingv2", "log", "noop"})

#: The ``[oslo_messaging_rabbit]`` options the worker reads; oslo's others are
#: accepted and ignored (a config that sets one is warned about once).
IMPLEMENTED_RABBIT_OPTIONS = frozenset(
    {
        "amqp_auto_delete",
        "amqp_durable_queues",
        "enable_cancel_on_failover",
        "heartbeat_timeout_threshold",
        "kombu_compression",
        "kombu_failover_strategy",
        "rabbit_ha_queues",
        "rabbit_interval_max",
        "rabbit_qos_prefetch_count",
        "rabbit_quorum_delivery_limit",
        "rabbit_quorum_max_memory_bytes",
        "rabbit_quorum_max_memory_length",
        "rabbit_quorum_queue",
        "rabbit_retry_backoff",
        "rabbit_retry_interval",
        "rabbit_stream_fanout",
        "rabbit_transient_queues_ttl",
        "rabbit_transient_quorum_queue",
        "ssl",
        "ssl_ca_file",
        "ssl_cert_file",
        "ssl_key_file",
        "ssl_version",
    }
)
UNIMPLEMENTED_NOTE = "Not implemented by tacker-k8s-worker: accepted and ignored. "


def set_tacker_defaults() -> None:
    """Make oslo's ``control_exchange`` default Tacker's, as Tacker itself does,
    so a worker whose config names no exchange meets Tacker's conductor."""
    oslo_messaging.set_transport_defaults(control_exchange=DEFAULT_EXCHANGE)


def _oslo_opt_groups() -> list[tuple[str | None, list[cfg.Opt]]]:
    """oslo.messaging's own option objects the worker reads: all but Kafka's."""
    set_tacker_defaults()
    return [
        (group, opts) for group, opts in oslo_opts.list_opts() if group != "oslo_messaging_kafka"
    ]


def _as_in_the_sample(group: str | None, opt: cfg.Opt) -> cfg.Opt:
    if group == NOTIFICATIONS_GROUP and opt.dest == "driver":
        opt = copy.copy(opt)
        opt.default = list(DEFAULT_NOTIFICATION_DRIVERS)
        opt.help = (
            f"{opt.help} tacker-k8s-worker: messagingv2 by default (notifications are "
            "its output); messaging, messagingv2, log and noop are available."
        )
    elif group == RABBIT_GROUP and opt.dest not in IMPLEMENTED_RABBIT_OPTIONS:
        opt = copy.copy(opt)
        opt.help = UNIMPLEMENTED_NOTE + (opt.help or "")
    return opt


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """oslo.messaging's options as the worker reads them, for the sample config.

    The ``oslo.config.opts`` entry point ``k8s_worker.messaging``: no Kafka
    driver (the worker has none), the worker's notification driver default, and
    the rabbit options it ignores marked so.
    """
    return [
        (group, [_as_in_the_sample(group, opt) for opt in opts])
        for group, opts in _oslo_opt_groups()
    ]


def register_oslo_opts(conf: cfg.ConfigOpts) -> None:
    """Register oslo.messaging's options on ``conf`` (idempotent), with the
    worker's default notification driver."""
    for group, opts in _oslo_opt_groups():
        conf.register_opts(opts, group=group)
    conf.set_default("driver", list(DEFAULT_NOTIFICATION_DRIVERS), group=NOTIFICATIONS_GROUP)


def check_notification_drivers(drivers: list[str]) -> None:
    """ValueError naming ``[oslo_messaging_notifications] driver`` values the
    worker does not have."""
    unknown = set(drivers) - NOTIFICATION_DRIVERS
    if unknown:
        raise ValueError(
            f"[{NOTIFICATIONS_GROUP}] driver: {', '.join(sorted(unknown))} not available "
            f"(choose from {', '.join(sorted(NOTIFICATION_DRIVERS))})"
        )


def unimplemented_rabbit_options(conf: cfg.ConfigOpts) -> list[str]:
    """The ``[oslo_messaging_rabbit]`` options the config sets that the worker ignores."""
    register_oslo_opts(conf)
    group = conf[RABBIT_GROUP]
    rabbit = [opt for name, opts in _oslo_opt_groups() if name == RABBIT_GROUP for opt in opts]
    return sorted(
        opt.dest
        for opt in rabbit
        if opt.dest not in IMPLEMENTED_RABBIT_OPTIONS
        and set_by_user(conf, opt.dest, RABBIT_GROUP)
        and getattr(group, opt.dest) != opt.default
    )


class RabbitOptions:
    """``[oslo_messaging_rabbit]`` with the transport URL's query laid over it."""

    def __init__(self, group: Any, overrides: dict[str, Any]) -> None:
        self._group = group
        self.overrides = overrides

    def __getattr__(self, name: str) -> Any:
        if name in self.overrides:
            return self.overrides[name]
        return getattr(self._group, name)


def rabbit_options(conf: cfg.ConfigOpts, *, url: str | None = None) -> RabbitOptions:
    """The rabbit options as oslo's driver would use them for ``url``
    (default ``[DEFAULT] transport_url``).

    Raises ValueError naming the parameter when the query holds something that
    is not a ``[oslo_messaging_rabbit]`` option or not a valid value for it
    (oslo refuses those too).
    """
    register_oslo_opts(conf)
    parsed = oslo_messaging.TransportURL.parse(conf, url or conf.transport_url)
    known = {
        opt.dest: opt for group, opts in _oslo_opt_groups() if group == RABBIT_GROUP for opt in opts
    }
    overrides: dict[str, Any] = {}
    for name, raw in parsed.query.items():
        opt = known.get(name)
        if opt is None:
            raise ValueError(f"query parameter {name!r} is not an [{RABBIT_GROUP}] option")
        try:
            overrides[name] = opt.type(raw)
        except ValueError as exc:
            raise ValueError(f"query parameter {name}={raw!r}: {exc}") from None
    return RabbitOptions(conf[RABBIT_GROUP], overrides)
