"""What a VNF's objects say about it, written into its record: the status
its pods and Deployments show, and the pods replaced or restarted since the
record last looked (each reported once, as ``vnf.respawn``)."""

from __future__ import annotations

from typing import Any, Protocol

from k8s_worker.lifecycle.observe import derive_status, vdu_states
from k8s_worker.lifecycle.respawn import Respawn, track_pods
from k8s_worker.record import VnfRecord, VnfStatus
from k8s_worker.tosca import LABEL_VDU


class ObjectsView(Protocol):
    """What this module reads of a VNF's objects (``VnfObjects``, or a test's
    stand-in): the VNF's pods and VDU workloads as the informers have them."""

    def vnf_pods(self, vnf_id: str, namespace: str | None) -> list[dict[str, Any]]: ...

    def vnf_workloads(self, vnf_id: str, namespace: str | None) -> list[dict[str, Any]]: ...


def observed_status(rec: VnfRecord, objects: ObjectsView) -> tuple[str, str]:
    """(status, reason) as the VNF's objects show them now; the recorded ones
    when it has none to show."""
    states = vdu_states(
        vdus=rec.desired_replicas,
        deployments=objects.vnf_workloads(rec.vnf_id, rec.placed_namespace),
        pods=objects.vnf_pods(rec.vnf_id, rec.placed_namespace),
    )
    if not states:
        return rec.status or VnfStatus.ERROR, rec.reason or ""
    return derive_status(states)


def note_pod_changes(
    rec: VnfRecord, objects: ObjectsView, *, detect: bool, now: float
) -> list[Respawn] | None:
    """Update the record's pod memory and emit a ``vnf.respawn`` for each pod
    replaced or restarted (when ``detect``); the respawns, or None when the
    record is unchanged."""
    before = rec.pod_memory
    memory, respawns = track_pods(
        before,
        # A VDU's pods only (a Job's pods come and go as it runs).
        [
            p
            for p in objects.vnf_pods(rec.vnf_id, rec.placed_namespace)
            if (p["metadata"].get("labels") or {}).get(LABEL_VDU)
        ],
        now=now,
        detect=detect,
    )
    if memory == before and not respawns:
        return None
    rec.pod_memory = memory
    for respawn in respawns:
        rec.emit("vnf.respawn", respawn.payload())
    return respawns
