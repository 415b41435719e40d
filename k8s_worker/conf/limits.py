"""Options of the ``[limits]`` group: the bounds every VNF is held to, so one
tenant's descriptor cannot take more of a shared cluster than an operator allows."""

from __future__ import annotations

from oslo_config import cfg

GROUP = "limits"

OPTS: list[cfg.Opt] = [
    cfg.IntOpt(
        "max_replicas_per_vdu",
        default=100,
        min=1,
        help="Most replicas one VDU may have (default_instances and max_instances).",
    ),
    cfg.IntOpt(
        "max_pods_per_vnf",
        default=500,
        min=1,
        help="Most pods one VNF may reach: the sum of its VDUs' max_instances.",
    ),
    cfg.StrOpt(
        "max_container_cpu",
        default="64",
        help="Largest cpu request or limit of one container (a Kubernetes quantity).",
    ),
    cfg.StrOpt(
        "max_container_memory",
        default="256Gi",
        help="Largest memory request or limit of one container (a Kubernetes quantity).",
    ),
    cfg.IntOpt(
        "max_vnfs_per_tenant",
        default=1000,
        min=1,
        help="Most VNFs one tenant may have at once; another instantiate is refused.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [(GROUP, OPTS)]
