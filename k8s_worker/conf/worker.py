"""Options of the ``[k8s_worker]`` group: identity, RPC topic and concurrency."""

from __future__ import annotations

import socket

from oslo_config import cfg

GROUP = "k8s_worker"

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "topic",
        default="k8s_worker",
        help="RPC topic the worker consumes; every replica also listens on "
        "<topic>.<host> and on the <topic>_fanout exchange.",
    ),
    cfg.StrOpt(
        "host",
        default=socket.gethostname(),
        sample_default="<hostname>",
        help="Name of this replica: the server part of its RPC target, its "
        "publisher_id and its membership lease.",
    ),
    cfg.IntOpt(
        "concurrency",
        default=64,
        min=1,
        help="Most requests a replica works on at once; requests for the same "
        "VNF are always processed one at a time in arrival order.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [(GROUP, OPTS)]
