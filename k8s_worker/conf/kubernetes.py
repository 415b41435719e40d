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
        "record_finalizer",
        default=False,
        help="Put a finalizer on each Vnf record, so that a record deleted by hand "
        "(where etc/kubernetes/delete-guard.yaml is not applied) first has its VNF "
        "terminated by the worker. With the worker gone for good, such a record stays "
        "until its finalizer is removed: kubectl patch vnf ID --type=merge -p "
        '\'{"metadata":{"finalizers":null}}\'.',
    ),
    cfg.BoolOpt(
        "record_events",
        default=True,
        help="Record each notification of a VNF as a Kubernetes Event on its Vnf "
        "resource (kubectl describe vnf), best effort and rate-limited as client-go's "
        "event recorder (needs create and patch on events in record_namespace).",
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
        deprecated_for_removal=True,
        deprecated_reason="A namespace labelled for another tenant is always refused; "
        "grant namespaces with tenant_namespaces instead.",
        help="Ignored (a warning says so at start-up).",
    ),
    cfg.ListOpt(
        "forbidden_namespaces",
        default=["kube-*"],
        help="Namespaces (globs) no VNF may use, whoever asks, admins included; "
        "the record namespace is always forbidden too.",
    ),
    cfg.MultiStrOpt(
        "tenant_namespaces",
        default=[],
        help="Namespaces a tenant may use besides its own <prefix><tenant>: "
        "<tenant>:<namespace>[,<namespace>...], globs allowed in both parts (e.g. "
        "t1:default, so that Tacker's samples run for t1; *:sandbox-* for every "
        "tenant). Repeat the option for each tenant. A namespace labelled for "
        "another tenant, a forbidden one and any other <prefix>* one stay refused.",
    ),
    cfg.StrOpt(
        "pod_security_enforce",
        default="baseline",
        choices=["privileged", "baseline", "restricted"],
        help="pod-security.kubernetes.io/enforce level of the namespaces the worker creates.",
    ),
    cfg.StrOpt(
        "pod_security_warn",
        default="restricted",
        choices=["privileged", "baseline", "restricted"],
        help="pod-security.kubernetes.io/warn level of the namespaces the worker creates.",
    ),
    cfg.DictOpt(
        "namespace_quota",
        default={},
        help="A ResourceQuota's spec.hard for each namespace the worker creates "
        "(e.g. pods:200,requests.cpu:50,requests.memory:100Gi); empty: none.",
    ),
    cfg.DictOpt(
        "namespace_container_defaults",
        default={},
        help="A LimitRange's default limits of a container for each namespace the "
        "worker creates (e.g. cpu:1,memory:1Gi); empty: none.",
    ),
    cfg.ListOpt(
        "package_extra_kinds",
        default=[],
        help="Other namespaced kinds a CNF package may hold, each "
        "<apiVersion>/<Kind>/<plural> (e.g. monitoring.coreos.com/v1/ServiceMonitor/"
        "servicemonitors); the worker's RBAC must allow them. They get the same "
        "ownership, namespace and deletion as every other object (no readiness).",
    ),
    cfg.ListOpt(
        "allowed_service_types",
        default=["ClusterIP", "NodePort"],
        help="Service types a VNF may create (LoadBalancer only when listed). "
        "externalIPs are never allowed.",
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
