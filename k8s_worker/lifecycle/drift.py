"""Drift: what changed in a VNF's objects while no operation ran, found and
(unless repair is off) put back from the desired state the record holds.

Two kinds are looked for: a Deployment whose replicas are not the record's (a
hand-made scale, or a stale owner's late write), and an object of the VNF's
rendering that is gone (``kubectl delete svc``).  Objects that exist are never
re-applied here, so a worker whose rendering changed between versions re-rolls
nothing.  Each finding is reported once (``vnf.drift.repaired``), also when
repair is off (``repaired: false``), until it is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from k8s_worker.kube import KINDS
from k8s_worker.lifecycle.objects import VnfObjects
from k8s_worker.record import VnfRecord
from k8s_worker.tosca import vnf_selector

EVENT_TYPE = "vnf.drift.repaired"
#: Kinds whose existence is checked with the API (pods and Deployments are cached).
LISTED_KINDS = ("Service", "ConfigMap", "Secret")


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
    """Deployments whose replicas differ from the record's: (drift, wanted)."""
    ns = rec.placed_namespace
    found = []
    for vdu, want in sorted(rec.desired_replicas.items()):
        dep = objects.deployment_of(rec.vnf_id, vdu, ns)
        if dep is None or dep["metadata"].get("deletionTimestamp"):
            continue
        have = int((dep.get("spec") or {}).get("replicas", want))
        if have != want:
            name = dep["metadata"]["name"]
            found.append((Drift("Deployment", name, f"replicas {have} -> {want}"), want))
    return found


async def missing_objects(
    rec: VnfRecord, objects: VnfObjects, rendered: list[dict[str, Any]]
) -> list[tuple[Drift, dict[str, Any]]]:
    """Objects of ``rendered`` (the VNF's rendering) that are not in the
    cluster: (drift, the object to apply)."""
    ns = rec.placed_namespace
    present: set[tuple[str, str]] = {
        ("Deployment", d["metadata"]["name"]) for d in objects.vnf_deployments(rec.vnf_id, ns)
    }
    kinds = {o["kind"] for o in rendered}
    for kind in LISTED_KINDS:
        if kind in kinds:
            items, _ = await objects.kube.list(
                KINDS[kind], namespace=ns, selector=vnf_selector(rec.vnf_id)
            )
            present |= {(kind, o["metadata"]["name"]) for o in items}
    return [
        (Drift(o["kind"], o["metadata"]["name"], "re-created"), o)
        for o in rendered
        if (o["kind"], o["metadata"]["name"]) not in present
    ]


def to_report(rec: VnfRecord, found: list[Drift]) -> list[Drift]:
    """The findings not reported yet; the record remembers the current ones
    (a finding that is gone may be reported again if it comes back)."""
    before = set(rec.drift_reported)
    rec.drift_reported = sorted({d.key for d in found})
    return [d for d in found if d.key not in before]
