"""Drift: what changed in a VNF's objects while no operation ran, found and
(unless repair is off) put back from the desired state the record holds.

Three kinds are looked for: a Deployment whose replicas are not the record's
(a hand-made scale, or a stale owner's late write); an object of the VNF's
rendering that is gone (``kubectl delete svc``); and an object whose spec (or
data) another field manager changed (``kubectl edit``, ``kubectl patch``), as
its ``managedFields`` show.  Only those are applied again: an object nobody
else touched is never re-applied, so a worker whose rendering changed between
versions re-rolls nothing.  Each finding is reported once (``vnf.drift.repaired``), also when
repair is off (``repaired: false``), until it is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from k8s_worker.kube import KINDS
from k8s_worker.lifecycle.objects import VnfObjects
from k8s_worker.lifecycle.observe import workload_replicas
from k8s_worker.record import VnfRecord
from k8s_worker.tosca import vnf_selector

EVENT_TYPE = "vnf.drift.repaired"
#: Field managers whose writes are not drift: this worker (server-side apply and
#: its patches, named by its User-Agent) and the cluster's own controllers.
OWN_MANAGERS = ("tacker-k8s-worker",)
SYSTEM_MANAGERS = ("kube-controller-manager", "kube-scheduler", "kubelet", "kwok")
#: The top-level fields whose change by another manager is drift, per kind.
DESIRED_FIELDS = {"ConfigMap": ("f:data", "f:binaryData"), "Secret": ("f:data", "f:stringData")}


@dataclass(frozen=True)
class Drift:
    """One difference between the VNF's objects and its desired state."""

    kind: str
    name: str
    change: str  # "re-created", or "replicas 5 -> 1"

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}:{self.change}"

    def payload(self, *, repaired: bool) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "change": self.change, "repaired": repaired}


def replica_drift(rec: VnfRecord, objects: VnfObjects) -> list[tuple[Drift, int]]:
    """VDU workloads whose replicas differ from the record's: (drift, wanted).
    A VDU a HorizontalPodAutoscaler of the VNF scales is not looked at (its
    replicas are the autoscaler's to set)."""
    ns = rec.placed_namespace
    found = []
    autoscaled = rec.autoscaled_vdus
    for vdu, want in sorted(rec.desired_replicas.items()):
        if vdu in autoscaled:
            continue
        dep = objects.workload_of(rec.vnf_id, vdu, ns)
        if dep is None or dep["metadata"].get("deletionTimestamp"):
            continue
        have = workload_replicas(dep)
        if have is not None and have != want:
            name = dep["metadata"]["name"]
            kind = str(dep.get("kind") or "Deployment")
            found.append((Drift(kind, name, f"replicas {have} -> {want}"), want))
    return found


def foreign_editors(obj: dict[str, Any]) -> list[str]:
    """The field managers other than this worker and the cluster's controllers
    that own part of ``obj``'s spec (or a ConfigMap's or Secret's data); writes
    to a subresource (a scale, the status) do not count here."""
    fields = DESIRED_FIELDS.get(str(obj.get("kind")), ("f:spec",))
    editors = []
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        manager = str(entry.get("manager") or "")
        if entry.get("subresource") or manager.startswith(OWN_MANAGERS + SYSTEM_MANAGERS):
            continue
        owned = entry.get("fieldsV1") or {}
        if any(f in owned for f in fields):
            editors.append(manager or "unknown")
    return sorted(set(editors))


Live = dict[tuple[str, str], dict[str, Any]]


async def live_objects(rec: VnfRecord, objects: VnfObjects, rendered: list[dict[str, Any]]) -> Live:
    """The VNF's objects in the cluster, by (kind, name): its Deployments from
    the cache, and one LIST per other kind its rendering has."""
    ns = rec.placed_namespace
    live: Live = {
        ("Deployment", d["metadata"]["name"]): d for d in objects.vnf_deployments(rec.vnf_id, ns)
    }
    kinds = {o["kind"] for o in rendered} - {"Deployment"}
    for kind in sorted(kinds):
        watch = objects.workloads
        if kind == "Pod":
            cached = objects.vnf_pods(rec.vnf_id, ns)
        elif watch is not None and watch.started(kind):
            cached = watch.of_vnf(kind, rec.vnf_id, ns)
        else:
            known = KINDS[kind]
            cached, _ = await objects.kube.list(
                known,
                namespace=ns if known.namespaced else None,
                selector=vnf_selector(rec.vnf_id),
            )
        live.update({(kind, o["metadata"]["name"]): o for o in cached})
    return live


def missing_objects(
    rendered: list[dict[str, Any]], live: Live
) -> list[tuple[Drift, dict[str, Any]]]:
    """Objects of ``rendered`` (the VNF's rendering) that are not ``live``:
    (drift, the object to apply)."""
    return [
        (Drift(o["kind"], o["metadata"]["name"], "re-created"), o)
        for o in rendered
        if (o["kind"], o["metadata"]["name"]) not in live and not _runs_once(o)
    ]


def _runs_once(obj: dict[str, Any]) -> bool:
    """A Job that removes itself when done (its TTL): gone is not drift."""
    return (
        obj.get("kind") == "Job"
        and (obj.get("spec") or {}).get("ttlSecondsAfterFinished") is not None
    )


def edited_objects(
    rendered: list[dict[str, Any]], live: Live
) -> list[tuple[Drift, dict[str, Any]]]:
    """Objects of ``rendered`` another manager changed: (drift, the object to
    apply again)."""
    found = []
    for obj in rendered:
        current = live.get((obj["kind"], obj["metadata"]["name"]))
        editors = foreign_editors(current) if current is not None else []
        if editors:
            change = f"edited by {', '.join(editors)}"
            found.append((Drift(obj["kind"], obj["metadata"]["name"], change), obj))
    return found
