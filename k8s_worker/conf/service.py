"""Options of the ``[service]`` group: how the process is run and observed.

Logging format and level, the HTTP address of ``/healthz``, ``/readyz`` and
``/metrics``, and the start-up checks (how long to wait for the broker and the
API server, whether to verify RBAC before consuming anything).
"""

from __future__ import annotations

from oslo_config import cfg

GROUP = "service"

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "log_format",
        default="auto",
        choices=[
            ("auto", "console when stderr is a terminal, else json"),
            ("json", "one JSON object per line (for log collectors)"),
            ("console", "human-readable lines"),
        ],
        deprecated_for_removal=True,
        deprecated_reason="[DEFAULT] use_json (oslo.log's name) wins when it is set.",
        help="Format of the log lines written to stderr.",
    ),
    cfg.StrOpt(
        "log_level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        mutable=True,
        deprecated_for_removal=True,
        deprecated_reason="[DEFAULT] debug = true (oslo.log's name) turns on DEBUG and "
        "default_log_levels sets other loggers' levels.",
        help="Lowest level that is logged, unless [DEFAULT] debug is true.",
    ),
    cfg.HostAddressOpt(
        "http_host",
        default="127.0.0.1",
        help="Address of the HTTP endpoint serving /healthz, /readyz and /metrics. "
        "Loopback by default; in a pod set 0.0.0.0 so the kubelet's probes and "
        "Prometheus reach it (etc/kubernetes/configmap.yaml does).",
    ),
    cfg.PortOpt(
        "http_port",
        default=9469,
        help="Port of the HTTP endpoint; 0 picks a free port (logged at start-up).",
    ),
    cfg.BoolOpt(
        "http_enabled", default=True, help="Serve /healthz, /readyz and /metrics over HTTP."
    ),
    cfg.FloatOpt(
        "startup_timeout",
        default=30.0,
        min=1.0,
        help="Seconds the start-up checks wait for the message broker and the "
        "Kubernetes API server before the worker exits with an error.",
    ),
    cfg.BoolOpt(
        "check_rbac",
        default=True,
        help="At start-up, ask the API server (SelfSubjectAccessReview) whether "
        "the worker's identity may do everything it needs, and exit naming "
        "each missing permission otherwise.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [(GROUP, OPTS)]
