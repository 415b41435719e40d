"""Options of the ``[kubernetes]`` group: which cluster, where records live,
which namespaces the worker manages, and how long operations may take."""

from __future__ import annotations

from oslo_config import cfg

GROUP = "kubernetes"

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "kubeconfig",
        default="",
        help="Path of a kubeconfig file; empty: the pod's service account "
        "(in-cluster), else ~/.kube/config.",
    ),
    cfg.StrOpt("context", default="", help="kubeconfig context to use (empty: current)."),
    cfg.StrOpt(
        "record_namespace",
        default="tacker-k8s-worker",
        help="Namespace of the Vnf records (vnfs.tacker.openstack.org).",
    ),
    cfg.ListOpt(
        "namespaces",
        default=[],
        help="Namespaces whose VNF objects the worker watches; empty: all "
        "namespaces (one cluster-wide watch per kind).",
    ),
    cfg.BoolOpt(
        "install_crd",
        default=True,
        help="Install or update the Vnf CRD at start-up when RBAC allows.",
    ),
    cfg.BoolOpt(
        "create_namespaces", default=True, help="Create a VNF's namespace when it does not exist."
    ),
    cfg.StrOpt(
        "tenant_namespace_prefix",
        default="tacker-",
        help="A VNF that names no namespace runs in <prefix><tenant_id>.",
    ),
    cfg.BoolOpt(
        "allow_foreign_namespaces",
        default=False,
        help="Let a tenant's VNF use a namespace labelled for another tenant.",
    ),
    cfg.IntOpt(
        "operation_timeout",
        default=600,
        min=1,
        help="Seconds an operation may take before it fails with a timeout.",
    ),
    cfg.FloatOpt(
        "backoff_max",
        default=60.0,
        min=0.1,
        help="Longest delay between reconcile retries of a failing VNF (seconds).",
    ),
    cfg.FloatOpt(
        "api_retry_seconds",
        default=30.0,
        min=0.0,
        help="How long a request is retried while the API server is unavailable.",
    ),
    cfg.FloatOpt(
        "watch_inactivity_seconds",
        default=70.0,
        min=1.0,
        help="Restart a watch stream that delivered nothing (not even a bookmark) for this long.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [(GROUP, OPTS)]
