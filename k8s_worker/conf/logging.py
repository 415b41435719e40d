"""oslo.log's option names in ``[DEFAULT]``, honoured by the worker's structlog.

An operator's config written for any OpenStack service (devstack and
openstack-helm write ``[DEFAULT] debug = true``) works here: these options have
oslo.log's names, defaults and meanings, and win over the older
``[service] log_format`` / ``log_level``, which stay as deprecated aliases.
oslo.log itself is not used: its handlers would bypass the worker's redaction.
"""

from __future__ import annotations

from oslo_config import cfg

#: What oslo.log's default_log_levels is for the libraries this service uses.
DEFAULT_LOG_LEVELS = [
    "aiormq=WARN",
    "aio_pika=WARN",
    "kubernetes_asyncio=WARN",
    "asyncio=WARN",
    "aiohttp.access=WARN",
    "amqp=WARN",
    "oslo.messaging=INFO",
    "oslo_messaging=INFO",
    "stevedore=WARN",
    "urllib3.connectionpool=WARN",
]

OPTS: list[cfg.Opt] = [
    cfg.BoolOpt(
        "debug",
        default=False,
        mutable=True,
        help="If set to true, the logging level will be set to DEBUG instead of the "
        "default INFO level (oslo.log's option; re-read on SIGHUP).",
    ),
    cfg.StrOpt(
        "log_config_append",
        metavar="PATH",
        deprecated_name="log-config",
        mutable=True,
        help="The name of a logging configuration file (Python logging.config "
        "fileConfig format). When set, it configures the handlers and formatters and "
        "log_file, log_dir and use_json are ignored; secrets are still scrubbed from "
        "every line (oslo.log's option; re-read on SIGHUP).",
    ),
    cfg.StrOpt(
        "log_file",
        metavar="PATH",
        deprecated_name="logfile",
        help="Name of the log file to send logging output to (reopened when it is "
        "rotated away, as oslo.log's WatchedFileHandler does). If not set, logging "
        "goes to stderr (oslo.log's option).",
    ),
    cfg.StrOpt(
        "log_dir",
        deprecated_name="logdir",
        help="The base directory used for a relative log_file; with no log_file, the "
        "log goes to <log_dir>/<program>.log (oslo.log's option).",
    ),
    cfg.BoolOpt(
        "use_json",
        default=False,
        help="Use JSON formatting for logging (oslo.log's option). When it is not "
        "set, [service] log_format decides (JSON when stderr is not a terminal).",
    ),
    cfg.ListOpt(
        "default_log_levels",
        default=DEFAULT_LOG_LEVELS,
        mutable=True,
        help="List of package logging levels in logger=LEVEL pairs (oslo.log's "
        "option; re-read on SIGHUP).",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [("DEFAULT", OPTS)]
