"""Registration of oslo.messaging's own options (never redefined here).

``[DEFAULT] transport_url``/``control_exchange``, ``[oslo_messaging_rabbit]``
and ``[oslo_messaging_notifications]`` belong to oslo.messaging; the worker
reads them with the same names, defaults and meanings.  As in oslo's rabbit
driver, a ``[oslo_messaging_rabbit]`` option may also be given in the
transport URL's query (``rabbit://u:p@h:5672/?amqp_durable_queues=true``),
where it wins over the file: ``rabbit_options`` resolves that.
"""

from __future__ import annotations

from typing import Any

import oslo_messaging
from oslo_config import cfg
from oslo_messaging import opts as oslo_opts

RABBIT_GROUP = "oslo_messaging_rabbit"
#: ``[DEFAULT] control_exchange`` as Tacker sets it
#: (``oslo_messaging.set_transport_defaults(control_exchange='tacker')``).
DEFAULT_EXCHANGE = "tacker"


def set_tacker_defaults() -> None:
    """Make oslo's ``control_exchange`` default Tacker's, as Tacker itself does,
    so a worker whose config names no exchange meets Tacker's conductor."""
    oslo_messaging.set_transport_defaults(control_exchange=DEFAULT_EXCHANGE)


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """oslo.messaging's options the worker reads: all but the Kafka driver's.

    The ``oslo.config.opts`` entry point ``k8s_worker.messaging``, so that the
    sample config does not offer a driver the worker does not have.
    """
    set_tacker_defaults()
    return [
        (group, opts) for group, opts in oslo_opts.list_opts() if group != "oslo_messaging_kafka"
    ]


def register_oslo_opts(conf: cfg.ConfigOpts) -> None:
    """Register oslo.messaging's options on ``conf`` (idempotent)."""
    for group, opts in list_opts():
        conf.register_opts(opts, group=group)


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
    known = {opt.dest: opt for group, opts in list_opts() if group == RABBIT_GROUP for opt in opts}
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
