"""Guard rails on what a VNF's manifests may ask of a shared cluster.

A namespace the worker did not create may lack Pod Security labels, so the
worker itself holds every pod template it applies to the Pod Security
Standards' *baseline* profile (no privileged containers, host namespaces,
hostPath volumes, host ports, added capabilities beyond baseline's, unsafe
sysctls, unconfined seccomp/AppArmor, custom SELinux users), and keeps
ServiceAccount tokens out of pods.  Services are held to the allowed types and
never get ``externalIPs``; Multus networks come from the VNF's own namespace
only; replicas, pods, cpu and memory stay within ``[limits]``.

Pure: :func:`check_objects` returns the problems (each naming the object,
container and field) and never touches a cluster.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from k8s_worker.packages.manifests import pod_spec
from k8s_worker.tosca.errors import Problem

MULTUS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
#: Capabilities the baseline profile lets a container add.
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES = frozenset(
    {"container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$"
)
_FACTORS = {
    None: Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def parse_quantity(value: Any) -> Decimal:
    """A Kubernetes quantity ("500m", "2", "1.5Gi", 3) as a number; ValueError if it is none."""
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    try:
        return Decimal(match.group(1)) * _FACTORS[match.group(2)]
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a Kubernetes quantity") from None


@dataclass(frozen=True)
class PodRules:
    """What a VNF's objects may ask for (``[kubernetes]`` and ``[limits]`` options).

    ``service_accounts`` are the ServiceAccount names a pod may name (the ones
    the same VNF creates); TOSCA pods name none.
    """

    allowed_service_types: tuple[str, ...] = ("ClusterIP", "NodePort")
    max_replicas_per_vdu: int = 100
    max_pods_per_vnf: int = 500
    max_container_cpu: str = "64"
    max_container_memory: str = "256Gi"
    service_accounts: tuple[str, ...] = ()


def _template_annotations(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("kind") == "Pod":
        return (obj.get("metadata") or {}).get("annotations") or {}
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return ((spec.get("template") or {}).get("metadata") or {}).get("annotations") or {}


class _Checker:
    def __init__(self, rules: PodRules, namespace: str) -> None:
        self.rules = rules
        self.namespace = namespace
        self.problems: list[Problem] = []

    def add(self, where: str, field: str, message: str) -> None:
        self.problems.append(Problem(node=where, property=field, message=message))

    # -- pods ----------------------------------------------------------------
    def pod(self, where: str, spec: dict[str, Any], annotations: dict[str, Any]) -> None:
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(key):
                self.add(where, f"spec.{key}", "host namespaces are not allowed (baseline)")
        account = spec.get("serviceAccountName") or spec.get("serviceAccount")
        if account and account not in self.rules.service_accounts:
            self.add(
                where,
                "spec.serviceAccountName",
                f"{account!r} is not a ServiceAccount of this VNF",
            )
        if spec.get("automountServiceAccountToken") is not False and not account:
            self.add(
                where,
                "spec.automountServiceAccountToken",
                "must be false: the pod has no ServiceAccount of its own",
            )
        for volume in spec.get("volumes") or []:
            if isinstance(volume, dict) and "hostPath" in volume:
                self.add(
                    where,
                    f"spec.volumes[{volume.get('name')}].hostPath",
                    "hostPath volumes are not allowed (baseline)",
                )
        self.security_context(where, "spec.securityContext", spec.get("securityContext") or {})
        for sysctl in (spec.get("securityContext") or {}).get("sysctls") or []:
            name = (sysctl or {}).get("name")
            if name not in SAFE_SYSCTLS:
                self.add(
                    where, "spec.securityContext.sysctls", f"sysctl {name!r} is not safe (baseline)"
                )
        for key, value in annotations.items():
            if (
                key.startswith("container.apparmor.security.beta.kubernetes.io/")
                and str(value) not in ("runtime/default",)
                and not str(value).startswith("localhost/")
            ):
                self.add(where, f"annotations.{key}", "AppArmor may not be unconfined (baseline)")
        self.networks(where, annotations.get(MULTUS_ANNOTATION))
        for listing in _CONTAINER_LISTS:
            for container in spec.get(listing) or []:
                if isinstance(container, dict):
                    self.container(where, listing, container)

    def security_context(self, where: str, field: str, ctx: dict[str, Any]) -> None:
        if not isinstance(ctx, dict):
            return
        seccomp = (ctx.get("seccompProfile") or {}).get("type")
        if seccomp == "Unconfined":
            self.add(where, f"{field}.seccompProfile", "may not be Unconfined (baseline)")
        apparmor = (ctx.get("appArmorProfile") or {}).get("type")
        if apparmor == "Unconfined":
            self.add(where, f"{field}.appArmorProfile", "may not be Unconfined (baseline)")
        selinux = ctx.get("seLinuxOptions") or {}
        if selinux.get("user") or selinux.get("role"):
            self.add(
                where, f"{field}.seLinuxOptions", "a custom SELinux user or role is not allowed"
            )
        if selinux.get("type") and selinux["type"] not in SELINUX_TYPES:
            self.add(where, f"{field}.seLinuxOptions.type", f"{selinux['type']!r} is not allowed")
        if (ctx.get("windowsOptions") or {}).get("hostProcess"):
            self.add(where, f"{field}.windowsOptions.hostProcess", "is not allowed (baseline)")

    def container(self, where: str, listing: str, c: dict[str, Any]) -> None:
        field = f"spec.{listing}[{c.get('name')}]"
        ctx = c.get("securityContext") or {}
        if isinstance(ctx, dict):
            if ctx.get("privileged"):
                self.add(
                    where,
                    f"{field}.securityContext.privileged",
                    "privileged containers are not allowed (baseline)",
                )
            added = set((ctx.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
            if added:
                self.add(
                    where,
                    f"{field}.securityContext.capabilities.add",
                    f"{', '.join(sorted(map(str, added)))} beyond the baseline profile",
                )
            if ctx.get("procMount") not in (None, "Default"):
                self.add(where, f"{field}.securityContext.procMount", "must be Default (baseline)")
            self.security_context(where, f"{field}.securityContext", ctx)
        for port in c.get("ports") or []:
            if isinstance(port, dict) and port.get("hostPort"):
                self.add(where, f"{field}.ports.hostPort", "host ports are not allowed (baseline)")
        resources = c.get("resources") or {}
        for bucket in ("requests", "limits"):
            for resource, bound in (
                ("cpu", self.rules.max_container_cpu),
                ("memory", self.rules.max_container_memory),
            ):
                value = (resources.get(bucket) or {}).get(resource)
                if value is None:
                    continue
                try:
                    over = parse_quantity(value) > parse_quantity(bound)
                except ValueError as exc:
                    self.add(where, f"{field}.resources.{bucket}.{resource}", str(exc))
                    continue
                if over:
                    self.add(
                        where,
                        f"{field}.resources.{bucket}.{resource}",
                        f"{value} is over the bound {bound} ([limits] max_container_{resource})",
                    )

    def networks(self, where: str, raw: Any) -> None:
        if not raw:
            return
        entries: list[tuple[str | None, str]] = []
        try:
            parsed = json.loads(raw)
        except (TypeError, ValueError):
            parsed = None
        if isinstance(parsed, list):
            for e in parsed:
                if isinstance(e, dict):
                    entries.append((e.get("namespace"), str(e.get("name"))))
        else:
            for item in str(raw).split(","):
                prefix, _, net = (
                    item.strip().partition("/") if "/" in item else ("", "", item.strip())
                )
                entries.append((prefix or None, net))
        for ns, name in entries:
            if ns and ns != self.namespace:
                self.add(
                    where,
                    f"annotations.{MULTUS_ANNOTATION}",
                    f"network {ns}/{name} is in another namespace; "
                    f"a VNF may attach only networks of its own namespace {self.namespace!r}",
                )

    # -- services ------------------------------------------------------------
    def service(self, where: str, spec: dict[str, Any]) -> None:
        kind = spec.get("type") or "ClusterIP"
        allowed = self.rules.allowed_service_types
        if kind not in allowed:
            self.add(
                where,
                "spec.type",
                f"Service type {kind} is not allowed here "
                f"([kubernetes] allowed_service_types: {', '.join(allowed)})",
            )
        if spec.get("externalIPs"):
            self.add(where, "spec.externalIPs", "externalIPs are never allowed")


def check_objects(
    objects: Iterable[dict[str, Any]], *, namespace: str, rules: PodRules
) -> list[Problem]:
    """Every way ``objects`` (manifests about to be applied in ``namespace``)
    break the rules; empty when they may be applied."""
    checker = _Checker(rules, namespace)
    for obj in objects:
        where = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
        if obj.get("kind") == "Service":
            checker.service(where, obj.get("spec") or {})
            continue
        spec = pod_spec(obj)
        if spec is None:
            continue
        checker.pod(where, spec, _template_annotations(obj))
        replicas = (obj.get("spec") or {}).get("replicas")
        if isinstance(replicas, int) and replicas > rules.max_replicas_per_vdu:
            checker.add(
                where,
                "spec.replicas",
                f"{replicas} is over the bound {rules.max_replicas_per_vdu} "
                "([limits] max_replicas_per_vdu)",
            )
    return checker.problems


def check_replica_bounds(vdus: Iterable[tuple[str, int, int]], *, rules: PodRules) -> list[Problem]:
    """Problems of ``(vdu, default replicas, max replicas)`` against the bounds
    on replicas per VDU and on pods per VNF (the sum of every VDU's max)."""
    problems: list[Problem] = []
    total = 0
    for name, default, maximum in vdus:
        total += max(default, maximum)
        for field, value in (("default_instances", default), ("max_instances", maximum)):
            if value > rules.max_replicas_per_vdu:
                problems.append(
                    Problem(
                        name,
                        field,
                        f"{value} is over the bound {rules.max_replicas_per_vdu} "
                        "([limits] max_replicas_per_vdu)",
                    )
                )
    if total > rules.max_pods_per_vnf:
        problems.append(
            Problem(
                None,
                "max_instances",
                f"the VDUs may reach {total} pods, over the bound {rules.max_pods_per_vnf} "
                "([limits] max_pods_per_vnf)",
            )
        )
    return problems


#: Kinds that exist outside any namespace (a package may hold them only where
#: the cluster is the tenant's own).
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
    }
)


def check_package_objects(
    objects: Iterable[dict[str, Any]],
    *,
    namespace: str,
    cluster_scoped: bool,
    sources: dict[str, str] | None = None,
) -> list[Problem]:
    """What a package's objects may not do here beyond the pod and Service
    rules: another namespace than the VNF's, a cluster-scoped kind where the
    cluster is not the tenant's own (``cluster_scoped``), a RoleBinding that
    binds anything but a Role of the same VNF to its own ServiceAccounts.
    Each problem names the file (``sources``: "Kind/name" -> path), kind and name."""
    sources = sources or {}
    objects = list(objects)
    accounts = {o["metadata"]["name"] for o in objects if o.get("kind") == "ServiceAccount"}
    roles = {o["metadata"]["name"] for o in objects if o.get("kind") == "Role"}
    problems: list[Problem] = []
    for obj in objects:
        kind = str(obj.get("kind"))
        meta = obj.get("metadata") or {}
        key = f"{kind}/{meta.get('name')}"
        where = f"{sources[key]}: {key}" if key in sources else key
        if kind in CLUSTER_SCOPED:
            if not cluster_scoped:
                problems.append(
                    Problem(
                        where,
                        "kind",
                        f"{kind} is cluster-scoped: allowed only on a VIM the tenant "
                        "registered with its own credentials",
                    )
                )
            continue
        ns = meta.get("namespace")
        if ns and ns != namespace:
            problems.append(
                Problem(
                    where,
                    "metadata.namespace",
                    f"{ns!r} is not the VNF's namespace {namespace!r}",
                )
            )
        if not cluster_scoped:
            problems += _shared_cluster_problems(obj, where)
        if kind == "RoleBinding" and not cluster_scoped:
            ref = obj.get("roleRef") or {}
            if ref.get("kind") != "Role" or ref.get("name") not in roles:
                problems.append(
                    Problem(
                        where,
                        "roleRef",
                        f"may bind only a Role of this VNF, not {ref.get('kind')} "
                        f"{ref.get('name')!r}",
                    )
                )
            for subject in obj.get("subjects") or []:
                if not isinstance(subject, dict):
                    continue
                if (
                    subject.get("kind") != "ServiceAccount"
                    or subject.get("name") not in accounts
                    or subject.get("namespace") not in (None, namespace)
                ):
                    problems.append(
                        Problem(
                            where,
                            "subjects",
                            f"may bind only ServiceAccounts of this VNF, not "
                            f"{subject.get('kind')} {subject.get('name')!r}",
                        )
                    )
    return problems


#: What a package's Role may grant on a shared cluster: reading only.
READ_VERBS = frozenset({"get", "list", "watch"})


def _shared_cluster_problems(obj: dict[str, Any], where: str) -> list[Problem]:
    """What a package may not hold on a cluster it shares: a Role that grants
    more than reading (or grants Secrets), a ServiceAccount token of its own
    making, a projected token volume, a claim naming its volume."""
    kind = obj.get("kind")
    raw_spec = obj.get("spec")
    spec: dict[str, Any] = raw_spec if isinstance(raw_spec, dict) else {}
    problems: list[Problem] = []
    if kind == "Role":
        for rule in obj.get("rules") or []:
            if not isinstance(rule, dict):
                continue
            verbs = set(rule.get("verbs") or [])
            resources = set(rule.get("resources") or [])
            if not verbs <= READ_VERBS or resources & {"secrets", "*"}:
                problems.append(
                    Problem(
                        where,
                        "rules",
                        "on a shared cluster a package's Role may only read (get, list, watch), "
                        f"and never Secrets: {sorted(verbs)} on {sorted(resources)}",
                    )
                )
    elif kind == "Secret" and obj.get("type") == "kubernetes.io/service-account-token":
        problems.append(
            Problem(
                where, "type", "a ServiceAccount token Secret is not allowed on a shared cluster"
            )
        )
    elif kind == "PersistentVolumeClaim" and spec.get("volumeName"):
        problems.append(
            Problem(where, "spec.volumeName", "a claim may not name its volume on a shared cluster")
        )
    pod = pod_spec(obj)
    for volume in (pod or {}).get("volumes") or []:
        sources = ((volume or {}).get("projected") or {}).get("sources") or []
        if any(isinstance(s, dict) and "serviceAccountToken" in s for s in sources):
            problems.append(
                Problem(
                    where,
                    f"spec.volumes[{volume.get('name')}].projected",
                    "a projected ServiceAccount token is not allowed on a shared cluster",
                )
            )
    return problems
