"""oslo.config options of the worker, gathered for the service and for
oslo-config-generator (``tox -e genconfig``).

Each area of the service declares its options in a module of its own here and
is listed in ``_MODULES``; ``list_opts`` is the generator's entry point.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from oslo_config import cfg

CONF = cfg.CONF

# Modules of this package that define ``register_opts(conf)`` and ``list_opts()``.
_MODULES: tuple[str, ...] = (
    "logging",
    "worker",
    "intake",
    "kubernetes",
    "limits",
    "cluster",
    "service",
    "vim",
    "lifecycle",
    "helm",
    "alertmanager",
    "policy",
)


def _modules() -> Iterable[Any]:
    for name in _MODULES:
        yield importlib.import_module(f"{__name__}.{name}")


def register_opts(conf: cfg.ConfigOpts = CONF) -> None:
    """Register every option of the worker on ``conf``, oslo.messaging's too
    (idempotent): a program calls it once, before it builds its settings."""
    from k8s_worker.amqp.options import register_oslo_opts

    register_oslo_opts(conf)
    for module in _modules():
        module.register_opts(conf)


def set_by_user(conf: cfg.ConfigOpts, name: str, group: str | None = None) -> bool:
    """The option's value comes from a file, the command line or the environment
    (not from its default)."""
    where = conf.get_location(name, group)
    return where is not None and bool(where.location.is_user_controlled)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """The (group, options) pairs for oslo-config-generator."""
    merged: dict[str, list[cfg.Opt]] = {}
    for module in _modules():
        for group, opts in module.list_opts():
            merged.setdefault(group, []).extend(opts)
    return sorted(merged.items())
