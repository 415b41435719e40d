"""A VNF's objects on its VIM: read from the informers' caches, and
the writes that change them (apply, scale, delete), all scoped by the VNF's
ownership label so that nothing belonging to another VNF is ever touched."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from k8s_worker.kube import KINDS, Kube, KubeConflict
from k8s_worker.lifecycle.outcome import OperationFailed
from k8s_worker.lifecycle.workloads import WorkloadWatch
from k8s_worker.packages.manifests import no_token_unless_account, pod_spec
from k8s_worker.tenancy import tenant_label_value
from k8s_worker.tosca import LABEL_VDU, LABEL_VNF_ID, Translation, vnf_selector
from k8s_worker.watch import Informer

Obj = dict[str, Any]
CONFIG_HASH_ANNOTATION = "tacker.openstack.org/config-hash"
TENANT_LABEL = "tacker.openstack.org/tenant-id"
OWNED_KINDS = ("Deployment", "Service", "ConfigMap", "Secret")
#: The order a VNF's objects are deleted in: what uses an object before it
#: (autoscalers and budgets, then workloads, then what they mount and run as).
DELETE_ORDER = (
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "CronJob",
    "Job",
    "Pod",
    "Service",
    "NetworkPolicy",
    "ConfigMap",
    "Secret",
    "RoleBinding",
    "Role",
    "ServiceAccount",
    "PersistentVolumeClaim",
    "LimitRange",
    "ResourceQuota",
    "ClusterRole",
    "PriorityClass",
    "StorageClass",
    "PersistentVolume",
    "Namespace",
)
#: Workload kinds a VDU may be (their pods are the VDU's).
VDU_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod")


def deletion_order(kinds: set[str] | frozenset[str]) -> list[str]:
    """``kinds`` (with the kinds every VNF may have) in the order they are deleted."""
    every = set(kinds) | set(OWNED_KINDS)
    return [k for k in DELETE_ORDER if k in every] + sorted(every - set(DELETE_ORDER))


PSA_ENFORCE = "pod-security.kubernetes.io/enforce"
PSA_WARN = "pod-security.kubernetes.io/warn"
GUARD_NAME = "tacker-k8s-worker-guard"


@dataclass(frozen=True)
class NamespaceGuard:
    """What a namespace the worker creates is given: Pod Security labels, and
    optionally a ResourceQuota (``quota``: spec.hard) and a LimitRange
    (``container_defaults``: default limits of a container)."""

    enforce: str = "baseline"
    warn: str = "restricted"
    quota: tuple[tuple[str, str], ...] = ()
    container_defaults: tuple[tuple[str, str], ...] = ()


RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@dataclass
class Applied:
    """What an apply wrote: object names, and each VDU's Deployment generation."""

    names: list[str] = field(default_factory=list)
    generations: dict[str, int] = field(default_factory=dict)


class VnfObjects:
    """A VNF's objects on its VIM: read from the informers' caches and written through the
    API (apply, scale, restart, delete), every write scoped by the VNF's ownership label."""

    def __init__(
        self,
        *,
        kube: Kube,
        pods: Sequence[Informer],
        deployments: Sequence[Informer],
        workloads: WorkloadWatch | None = None,
    ) -> None:
        self.kube = kube
        self.pods = pods  # one informer per managed namespace (or one for all)
        self.deployments = deployments
        self.workloads = workloads  # the kinds watched on demand (packages')

    # -- reading (caches) ----------------------------------------------------
    # Keyed by namespace and VNF id: a pod elsewhere that carries the VNF's
    # label (anyone may set labels in their own namespace) is not the VNF's.
    def vnf_pods(self, vnf_id: str, namespace: str | None) -> list[Obj]:
        return _of_vnf(self.pods, vnf_id, namespace)

    def vnf_deployments(self, vnf_id: str, namespace: str | None) -> list[Obj]:
        return _of_vnf(self.deployments, vnf_id, namespace)

    def deployment_of(self, vnf_id: str, vdu: str, namespace: str | None) -> Obj | None:
        return self.workload_of(vnf_id, vdu, namespace)

    def of_kind(self, kind: str, vnf_id: str, namespace: str | None) -> list[Obj]:
        """The VNF's cached objects of a kind watched on demand (empty until watched)."""
        if self.workloads is None:
            return []
        return self.workloads.of_vnf(kind, vnf_id, namespace)

    def vnf_workloads(self, vnf_id: str, namespace: str | None) -> list[Obj]:
        """The VNF's VDU workloads of every kind (objects carrying a VDU label
        that no controller of the VNF's owns: a Deployment's ReplicaSets and a
        StatefulSet's pods are not workloads of their own)."""
        found = [*self.vnf_deployments(vnf_id, namespace)]
        for kind in ("StatefulSet", "DaemonSet", "ReplicaSet"):
            found += self.of_kind(kind, vnf_id, namespace)
        found += [
            p
            for p in self.vnf_pods(vnf_id, namespace)
            if not any(r.get("controller") for r in p["metadata"].get("ownerReferences") or [])
        ]
        return [
            o
            for o in found
            if (o["metadata"].get("labels") or {}).get(LABEL_VDU)
            and not any(r.get("controller") for r in o["metadata"].get("ownerReferences") or [])
        ]

    def workload_of(self, vnf_id: str, vdu: str, namespace: str | None) -> Obj | None:
        """The VDU's workload, of whatever kind (None when not cached)."""
        for obj in self.vnf_workloads(vnf_id, namespace):
            if (obj["metadata"].get("labels") or {}).get(LABEL_VDU) == vdu:
                return obj
        return None

    async def watch(self, kinds: set[str] | frozenset[str] | list[str]) -> None:
        """Make sure the kinds watched on demand among ``kinds`` are watched."""
        if self.workloads is not None:
            await self.workloads.ensure(kinds)

    # -- namespaces --------------------------------------------------------------
    async def ensure_namespace(
        self, name: str, *, tenant_id: str, create: bool, guard: NamespaceGuard
    ) -> None:
        """Make sure ``name`` exists and may hold this tenant's VNFs: one labelled
        for another tenant is refused (whatever the grants say); one the worker
        creates is labelled for the tenant and gets the guard's rails."""
        tenant = tenant_label_value(tenant_id)
        ns = await self.kube.get_or_none(KINDS["Namespace"], name=name)
        if ns is None:
            if not create:
                raise OperationFailed(
                    "NamespaceNotFound",
                    f"namespace {name!r} does not exist and the worker may not create namespaces",
                )
            body = {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "labels": {
                        TENANT_LABEL: tenant,
                        PSA_ENFORCE: guard.enforce,
                        PSA_WARN: guard.warn,
                    },
                },
            }
            try:
                await self.kube.create(body)
            except KubeConflict:
                ns = await self.kube.get_or_none(KINDS["Namespace"], name=name)
            else:
                await self._namespace_rails(name, guard)
                return
        owner = ((ns or {}).get("metadata", {}).get("labels") or {}).get(TENANT_LABEL)
        if owner and owner != tenant:
            raise OperationFailed(
                "NamespaceForbidden", f"namespace {name!r} belongs to another tenant"
            )

    async def _namespace_rails(self, name: str, guard: NamespaceGuard) -> None:
        labels = {"app.kubernetes.io/managed-by": "tacker-k8s-worker"}
        if guard.quota:
            await self.kube.apply(
                {
                    "apiVersion": "v1",
                    "kind": "ResourceQuota",
                    "metadata": {"name": GUARD_NAME, "namespace": name, "labels": labels},
                    "spec": {"hard": dict(guard.quota)},
                }
            )
        if guard.container_defaults:
            await self.kube.apply(
                {
                    "apiVersion": "v1",
                    "kind": "LimitRange",
                    "metadata": {"name": GUARD_NAME, "namespace": name, "labels": labels},
                    "spec": {
                        "limits": [
                            {
                                "type": "Container",
                                "default": dict(guard.container_defaults),
                                "defaultRequest": dict(guard.container_defaults),
                            }
                        ]
                    },
                }
            )

    # -- writing --------------------------------------------------------------
    async def apply(self, objects: list[Obj], *, vnf_id: str) -> Applied:
        """Server-side apply the VNF's rendered objects, in order.

        An object of the same name that does not carry this VNF's ownership
        label (it belongs to nobody, or to another VNF) is never taken over:
        ``OperationFailed("ObjectConflict")``, and that object is left as it was.
        """
        applied = Applied()
        for obj in objects:
            await self._refuse_adoption(obj, vnf_id=vnf_id)
            result = await self.kube.apply(obj)
            applied.names.append(f"{obj['kind']}/{obj['metadata']['name']}")
            if obj["kind"] in VDU_KINDS and obj["kind"] != "Pod":
                vdu = (obj["metadata"].get("labels") or {}).get(LABEL_VDU, "")
                applied.generations[vdu] = int(result["metadata"].get("generation", 0))
        return applied

    async def _refuse_adoption(self, obj: Obj, *, vnf_id: str) -> None:
        kind = KINDS[obj["kind"]]
        meta = obj["metadata"]
        namespace = meta.get("namespace") if kind.namespaced else None
        existing = await self.kube.get_or_none(kind, name=meta["name"], namespace=namespace)
        if existing is None:
            return
        owner = (existing["metadata"].get("labels") or {}).get(LABEL_VNF_ID)
        if owner != vnf_id:
            where = f"{namespace}/{meta['name']}" if namespace else meta["name"]
            raise OperationFailed(
                "ObjectConflict",
                f"{obj['kind']} {where} already exists and is not "
                "this VNF's; the worker does not take it over",
            )

    async def restart(
        self, *, namespace: str, deployment: str, stamp: str, kind: str = "Deployment"
    ) -> Obj:
        """A rollout restart, as ``kubectl rollout restart`` does it (a
        Deployment, StatefulSet or DaemonSet)."""
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        return await self.kube.patch(KINDS[kind], name=deployment, namespace=namespace, patch=patch)

    async def scale(
        self, *, namespace: str, deployment: str, replicas: int, kind: str = "Deployment"
    ) -> None:
        """Set a workload's replicas through its scale subresource."""
        await self.kube.scale(KINDS[kind], name=deployment, namespace=namespace, replicas=replicas)

    async def delete_pod(self, *, namespace: str, name: str) -> None:
        await self.kube.delete(
            KINDS["Pod"], name=name, namespace=namespace, propagation="Background"
        )

    async def delete_pods_gracefully(
        self, *, namespace: str, vnf_id: str, grace: int, kinds: frozenset[str] = frozenset()
    ) -> int:
        """A terminate's ``graceful_timeout``: the VNF's workloads go without
        their pods (orphaned, so nothing recreates them), then each pod is
        deleted with ``grace`` seconds to stop; how many pods."""
        others = [k for k in ("StatefulSet", "DaemonSet", "Job") if k in kinds]
        for kind_name in ("Deployment", "ReplicaSet", *others):
            items, _ = await self.kube.list(
                KINDS[kind_name], namespace=namespace, selector=vnf_selector(vnf_id)
            )
            for obj in items:
                await self.kube.delete(
                    KINDS[kind_name],
                    name=obj["metadata"]["name"],
                    namespace=namespace,
                    propagation="Orphan",
                )
        pods, _ = await self.kube.list(
            KINDS["Pod"], namespace=namespace, selector=vnf_selector(vnf_id)
        )
        for pod in pods:
            if pod["metadata"].get("deletionTimestamp") is None:
                await self.kube.delete(
                    KINDS["Pod"],
                    name=pod["metadata"]["name"],
                    namespace=namespace,
                    propagation="Background",
                    grace_seconds=grace,
                )
        return len(pods)

    async def delete_all(
        self, *, namespace: str, vnf_id: str, kinds: frozenset[str] = frozenset()
    ) -> int:
        """Delete every object carrying the VNF's label (foreground), of the
        kinds every VNF has and of ``kinds`` (the ones its packages brought),
        in ``DELETE_ORDER``; how many were left."""
        left = 0
        for kind_name in deletion_order(kinds):
            kind = KINDS[kind_name]
            where = namespace if kind.namespaced else None
            items, _ = await self.kube.list(kind, namespace=where, selector=vnf_selector(vnf_id))
            for obj in items:
                left += 1
                if obj["metadata"].get("deletionTimestamp") is None:
                    await self.kube.delete(
                        kind,
                        name=obj["metadata"]["name"],
                        namespace=where,
                        propagation="Foreground",
                    )
        return left

    async def delete_others(
        self,
        *,
        namespace: str,
        vnf_id: str,
        keep: list[str],
        kinds: frozenset[str] = frozenset(),
    ) -> list[str]:
        """Delete the VNF's objects that are not in ``keep`` ("Kind/name"), e.g. the
        ones of a VDU an update dropped from the descriptor; their names.  Objects
        that a kept workload made (a StatefulSet's claims) are kept."""
        kept, removed = set(keep), []
        for kind_name in deletion_order(kinds):
            kind = KINDS[kind_name]
            if kind_name == "Pod" or (kind_name == "ReplicaSet" and "ReplicaSet" not in kinds):
                continue  # made by a workload, which owns them
            where = namespace if kind.namespaced else None
            items, _ = await self.kube.list(kind, namespace=where, selector=vnf_selector(vnf_id))
            for obj in items:
                name = f"{kind_name}/{obj['metadata']['name']}"
                meta = obj["metadata"]
                if name in kept or meta.get("deletionTimestamp") is not None:
                    continue
                if meta.get("ownerReferences") or _claim_of_kept(obj, kept):
                    continue
                await self.kube.delete(
                    kind, name=meta["name"], namespace=where, propagation="Foreground"
                )
                removed.append(name)
        return removed

    async def remaining(
        self, *, namespace: str, vnf_id: str, kinds: frozenset[str] = frozenset()
    ) -> list[str]:
        """Objects (and pods) of the VNF still in the cluster, asked of the API server."""
        names: list[str] = []
        for kind_name in deletion_order(kinds | {"ReplicaSet", "Pod"}):
            kind = KINDS[kind_name]
            where = namespace if kind.namespaced else None
            items, _ = await self.kube.list(kind, namespace=where, selector=vnf_selector(vnf_id))
            names.extend(f"{kind_name}/{o['metadata']['name']}" for o in items)
        return names


def _claim_of_kept(obj: Obj, kept: set[str]) -> bool:
    """Whether ``obj`` is a claim a kept StatefulSet made from its template
    (named ``<template>-<statefulset>-<ordinal>``)."""
    if obj.get("kind") != "PersistentVolumeClaim":
        return False
    name = str(obj["metadata"]["name"])
    return any(k.startswith("StatefulSet/") and f"-{k.split('/', 1)[1]}-" in name for k in kept)


def _of_vnf(informers: Sequence[Informer], vnf_id: str, namespace: str | None) -> list[Obj]:
    """The cached objects of the VNF in its namespace (none without one)."""
    if not namespace:
        return []
    return [
        o
        for informer in informers
        for o in informer.indexed(vnf_id)
        if o["metadata"].get("namespace") == namespace
    ]


def render(
    translation: Translation,
    *,
    namespace: str,
    replicas: dict[str, int],
    config: dict[str, Any] | None,
    hidden: set[str] | frozenset[str] = frozenset(),
) -> list[Obj]:
    """The translation's manifests made concrete for this VNF instance.

    Sets the namespace and each Deployment's replicas (the record's, so that a
    re-apply never undoes a scale), overlays ``config`` ({vdu: {container:
    {key: value}}}) on the ConfigMaps, and stamps each pod template with a
    hash of the configuration it mounts, so a config change rolls the pods.
    A ConfigMap entry whose value holds any of the ``hidden`` texts (the VNF's
    secret parameters) moves to a Secret of the same name, mounted the same way.
    """
    config = config or {}
    objects = json.loads(json.dumps(translation.objects))
    cm_by_name: dict[str, Obj] = {}
    for obj in objects:
        meta = obj["metadata"]
        known = KINDS.get(obj["kind"])
        if known is not None and not known.namespaced:
            meta.pop("namespace", None)
        elif translation.form == "tosca" or not meta.get("namespace"):
            # A package's object that names its namespace keeps it: the
            # tenancy checks decide whether it may be applied there.
            meta["namespace"] = namespace
        if obj["kind"] == "ConfigMap":
            cm_by_name[obj["metadata"]["name"]] = obj
        if translation.form != "tosca":
            no_token_unless_account(obj)
    secrets: list[Obj] = []
    for vdu in translation.vdus:
        overlay = config.get(vdu.name) or {}
        digest = hashlib.sha256()
        hidden_maps: set[str] = set()
        for container, cm_name in vdu.config_maps:
            cm = cm_by_name.get(cm_name)
            if cm is None:
                continue
            for key, value in (overlay.get(container) or {}).items():
                cm.setdefault("data", {})[str(key)] = (
                    value if isinstance(value, str) else json.dumps(value)
                )
            data = cm.get("data") or {}
            # Either way round: a secret inside a value, or a value that is part
            # of a secret (a whole config text passed as one secret parameter).
            moved = {
                k: v
                for k, v in data.items()
                if str(v) and any(h in str(v) or str(v) in h for h in hidden)
            }
            if moved and cm_name not in hidden_maps:
                hidden_maps.add(cm_name)
                cm["data"] = {k: v for k, v in data.items() if k not in moved}
                secrets.append(
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": copy.deepcopy(cm["metadata"]),
                        "type": "Opaque",
                        "stringData": moved,
                    }
                )
            # The Secret's keys count, never its values (a hash of a password is
            # no place for it).
            digest.update(json.dumps(cm.get("data", {}), sort_keys=True).encode())
            digest.update(json.dumps(sorted(moved), sort_keys=True).encode())
        for obj in objects:
            if obj["kind"] == vdu.kind and obj["metadata"]["name"] == vdu.deployment_name:
                if vdu.scalable:
                    obj["spec"]["replicas"] = int(replicas.get(vdu.name, vdu.default_replicas))
                if vdu.config_maps:
                    template_meta = obj["spec"]["template"].setdefault("metadata", {})
                    template_meta.setdefault("annotations", {})[CONFIG_HASH_ANNOTATION] = (
                        digest.hexdigest()[:16]
                    )
                for container in (pod_spec(obj) or {}).get("containers") or []:
                    refs = container.get("envFrom") or []
                    for ref in list(refs):
                        name = (ref.get("configMapRef") or {}).get("name")
                        if name in hidden_maps:
                            refs.append({"secretRef": {"name": name}})
    # Secrets first: the pods that mount them must find them.
    return [*secrets, *objects]
