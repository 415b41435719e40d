"""Options of the ``[alertmanager]`` group: the webhook receiver that lets
Prometheus Alertmanager drive the VNFs' policies (``POST /v1/alerts``)."""

from __future__ import annotations

from oslo_config import cfg

GROUP = "alertmanager"

OPTS: list[cfg.Opt] = [
    cfg.BoolOpt(
        "enabled",
        default=False,
        help="Serve Alertmanager's webhook (version 4) on POST /v1/alerts.",
    ),
    cfg.HostAddressOpt("bind_host", default="127.0.0.1", help="Address the receiver listens on."),
    cfg.PortOpt("bind_port", default=9094, help="Port the receiver listens on (0: any free one)."),
    cfg.StrOpt(
        "token_file",
        default="",
        help="File holding the bearer token Alertmanager sends (its http_config "
        "authorization credentials_file); re-read when it changes. Required when enabled.",
    ),
    cfg.StrOpt(
        "cert_file", default="", help="TLS certificate of the receiver (empty: plain HTTP)."
    ),
    cfg.StrOpt("key_file", default="", help="TLS key of the receiver."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [(GROUP, OPTS)]
