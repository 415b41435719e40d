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
        "max_vnfd_bytes",
        default=512 * 1024,
        min=1024,
        help="Largest VNFD (YAML text, or its JSON when sent as an object); a "
        "larger one is refused at the intake, before it is stored.",
    ),
    cfg.IntOpt(
        "max_package_bytes",
        default=16 << 20,
        min=1024,
        help="Largest CNF package (the CSAR zip, or the texts of a path -> text "
        "mapping) an instantiate or update may send.",
    ),
    cfg.IntOpt(
        "max_package_files",
        default=500,
        min=1,
        help="Most files one CNF package may hold.",
    ),
    cfg.IntOpt(
        "max_package_expanded_bytes",
        default=64 << 20,
        min=1024,
        help="Most bytes a CNF package's zip may expand to (counting what is "
        "read, never what its headers claim).",
    ),
    cfg.IntOpt(
        "max_package_ratio",
        default=100,
        min=2,
        help="Most one zip entry may expand over its compressed size (a zip bomb expands "
        "a thousandfold).",
    ),
    cfg.IntOpt(
        "max_yaml_nodes",
        default=200_000,
        min=100,
        help="Most YAML nodes a VNFD may have, counting every alias at its full "
        "size (a few hundred bytes of aliases can otherwise expand to gigabytes).",
    ),
    cfg.IntOpt("max_yaml_aliases", default=100, min=0, help="Most YAML aliases in a VNFD."),
    cfg.IntOpt("max_yaml_depth", default=64, min=8, help="Deepest YAML nesting of a VNFD."),
    cfg.IntOpt(
        "translation_memory_mb",
        default=1024,
        min=128,
        help="Address-space limit (RLIMIT_AS) of the process that translates VNFDs.",
    ),
    cfg.FloatOpt(
        "translation_timeout",
        default=30.0,
        min=1.0,
        help="Seconds one VNFD translation may take; the translating process is then killed.",
    ),
    cfg.IntOpt(
        "translation_processes",
        default=1,
        min=0,
        help="Processes that translate VNFDs (0: a thread of the worker, without the "
        "memory and time limits).",
    ),
    cfg.IntOpt(
        "max_pending_operations",
        default=100,
        min=1,
        help="Most operations one VNF may have waiting; another cast is refused "
        "(BadRequest, <op>.error). A terminate is always taken.",
    ),
    cfg.IntOpt(
        "max_record_bytes",
        default=1 << 20,
        min=64 * 1024,
        help="Largest a VNF record may grow (its JSON); a cast that would make it "
        "larger is refused (etcd refuses requests over 1.5 MiB).",
    ),
    cfg.IntOpt(
        "outbox_coalesce_after",
        default=50,
        min=1,
        help="Pending notifications of one VNF (the broker is away) past which a "
        "status update or respawn is merged into the one before it (coalesced: n); "
        "operation events are never merged.",
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
