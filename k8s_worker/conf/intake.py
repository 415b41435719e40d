"""Options of the ``[intake]`` group: delivery limits, de-duplication and draining."""

from __future__ import annotations

from oslo_config import cfg

GROUP = "intake"

OPTS: list[cfg.Opt] = [
    cfg.IntOpt(
        "max_delivery_attempts",
        default=3,
        min=1,
        help="How often a cast whose handler fails unexpectedly is delivered "
        "before it is rejected (dead-lettered when the queue has a dead-letter "
        "exchange) and reported with a *.error notification. Between attempts "
        "it waits in the delay queue <topic>.retry, its attempts counted in "
        "the message (x-tkw-attempts), so they add up across replicas.",
    ),
    cfg.IntOpt(
        "prefetch_count",
        default=0,
        min=0,
        help="Unacknowledged messages a replica may hold when "
        "[oslo_messaging_rabbit] rabbit_qos_prefetch_count is 0 (unlimited "
        "for oslo); 0 here means twice [k8s_worker] concurrency.",
    ),
    cfg.IntOpt(
        "dedup_cache_size",
        default=4096,
        min=16,
        help="How many recently completed _unique_id values a replica remembers "
        "to recognize a redelivered message whose ack was lost.",
    ),
    cfg.FloatOpt(
        "drain_timeout",
        default=30.0,
        min=0.0,
        help="On SIGTERM: seconds to finish in-flight requests after consuming "
        "stopped; what is left unfinished is handed back to the broker.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [(GROUP, OPTS)]
