"""What the cluster says about a VNF, computed from objects as they are.

Pure functions over the informers' dicts: readiness the way Kubernetes means it
(a Deployment is ready when the controller has seen its latest generation and
every wanted replica is updated, available and ready, and no old replica is
left; zero replicas is ready), pods counted ready only when Running with the
Ready condition (a Failed pod is failed, never running), and the VNF status
derived from every VDU at once, never from a single event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from k8s_worker.record.model import VnfStatus
from k8s_worker.tosca import LABEL_VDU

Obj = dict[str, Any]


def is_terminating(obj: Obj) -> bool:
    return obj.get("metadata", {}).get("deletionTimestamp") is not None


def pod_ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    if is_terminating(pod) or status.get("phase") != "Running":
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def pod_failed(pod: Obj) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") == "Failed":
        return True
    return status.get("reason") == "Evicted"


def replica_failure(dep: Obj, *, since: str | None = None) -> str | None:
    """The API server's reason why the Deployment's pods cannot be created
    (its ``ReplicaFailure`` condition: Pod Security, a quota, an admission
    webhook), or None; with ``since`` (ISO 8601), one last updated before the
    next whole second after it is not counted (the controllers' stamps are whole
    seconds: within that second it may be the attempt before's)."""
    floor = float(int(_epoch(since)) + 1) if since else None
    for condition in (dep.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            stamp = condition.get("lastUpdateTime") or condition.get("lastTransitionTime")
            if floor is not None and stamp and _epoch(stamp) < floor:
                continue
            return str(condition.get("message") or condition.get("reason") or "ReplicaFailure")
    return None


def _epoch(stamp: str) -> float:
    try:
        return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def deployment_ready(dep: Obj) -> bool:
    spec = dep.get("spec") or {}
    status = dep.get("status") or {}
    want = int(spec.get("replicas", 1))
    if int(status.get("observedGeneration", 0)) < int(dep["metadata"].get("generation", 0)):
        return False
    if want == 0:
        return int(status.get("replicas", 0)) == 0
    return (
        int(status.get("updatedReplicas", 0)) == want
        and int(status.get("availableReplicas", 0)) == want
        and int(status.get("readyReplicas", 0)) == want
        and int(status.get("replicas", 0)) == want
    )


def statefulset_ready(sts: Obj) -> bool:
    """Every wanted replica updated and ready, on the update revision."""
    spec = sts.get("spec") or {}
    status = sts.get("status") or {}
    want = int(spec.get("replicas", 1))
    if int(status.get("observedGeneration", 0)) < int(sts["metadata"].get("generation", 0)):
        return False
    if want == 0:
        return int(status.get("replicas", 0)) == 0
    strategy = spec.get("updateStrategy") or {}
    ready = int(status.get("readyReplicas", 0)) == want and int(status.get("replicas", 0)) == want
    if strategy.get("type") == "OnDelete":
        return ready  # its pods are updated when someone deletes them (kubectl does the same)
    partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
    if partition > 0:
        # Only the ordinals at or above the partition are rolled.
        return ready and int(status.get("updatedReplicas", 0)) >= max(0, want - partition)
    revision_done = not status.get("updateRevision") or status.get("currentRevision") == status.get(
        "updateRevision"
    )
    return revision_done and int(status.get("updatedReplicas", 0)) == want and ready


def daemonset_ready(ds: Obj) -> bool:
    status = ds.get("status") or {}
    if int(status.get("observedGeneration", 0)) < int(ds["metadata"].get("generation", 0)):
        return False
    desired = int(status.get("desiredNumberScheduled", 0))
    return desired == int(status.get("numberReady", 0)) and desired == int(
        status.get("updatedNumberScheduled", 0)
    )


def replicaset_ready(rs: Obj) -> bool:
    spec = rs.get("spec") or {}
    status = rs.get("status") or {}
    want = int(spec.get("replicas", 1))
    if int(status.get("observedGeneration", 0)) < int(rs["metadata"].get("generation", 0)):
        return False
    return int(status.get("readyReplicas", 0)) == want and int(status.get("replicas", 0)) == want


def workload_ready(obj: Obj) -> bool:
    """Whether a VDU's workload is ready, the way its kind means it."""
    kind = obj.get("kind")
    if kind == "StatefulSet":
        return statefulset_ready(obj)
    if kind == "DaemonSet":
        return daemonset_ready(obj)
    if kind == "ReplicaSet":
        return replicaset_ready(obj)
    if kind == "Pod":
        return pod_ready(obj)
    return deployment_ready(obj)


def workload_replicas(obj: Obj) -> int | None:
    """The replicas a workload is set to (None: a kind without them)."""
    if obj.get("kind") in ("Deployment", "StatefulSet", "ReplicaSet"):
        return int((obj.get("spec") or {}).get("replicas", 1))
    return None


def job_state(job: Obj) -> str:
    """ "complete", "failed" (its message after a colon) or "running"."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return "complete"
        if condition.get("type") == "Failed":
            return "failed: " + str(condition.get("message") or condition.get("reason") or "")
    return "running"


def claim_phase(pvc: Obj) -> str:
    return str((pvc.get("status") or {}).get("phase") or "Pending")


@dataclass(frozen=True)
class VduState:
    """What one VDU's Deployment and pods show now, against the replicas it should run."""

    name: str
    desired: int
    ready: int
    failed: int
    deployment_ready: bool


def vdu_states(
    *, vdus: dict[str, int], deployments: Iterable[Obj], pods: Iterable[Obj]
) -> list[VduState]:
    """Per VDU: desired replicas (from the record), ready and failed pods;
    ``deployments`` are the VDUs' workloads, of any kind."""
    deps = {d["metadata"].get("labels", {}).get(LABEL_VDU): d for d in deployments}
    ready: dict[str | None, int] = {}  # by VDU (None: a pod without the VDU label)
    failed: dict[str | None, int] = {}
    for pod in pods:
        vdu = (pod["metadata"].get("labels") or {}).get(LABEL_VDU)
        if pod_ready(pod):
            ready[vdu] = ready.get(vdu, 0) + 1
        elif pod_failed(pod):
            failed[vdu] = failed.get(vdu, 0) + 1
    return [
        VduState(
            name=name,
            desired=want,
            # The pods' and the workload's informers are separate streams: a
            # VDU is not counted down while its workload still reports ready
            # replicas the pod cache has not caught up with (right after an
            # instantiate, say), so no DEAD is told that never was.
            ready=max(ready.get(name, 0), _reported_ready(deps.get(name), want)),
            failed=failed.get(name, 0),
            deployment_ready=name in deps and workload_ready(deps[name]),
        )
        for name, want in sorted(vdus.items())
    ]


def _reported_ready(workload: Obj | None, desired: int) -> int:
    """The ready replicas a workload's current status reports (0: none, or a
    status older than its spec), at most ``desired``."""
    if workload is None or workload.get("kind") == "Pod":
        return 0
    status = workload.get("status") or {}
    if int(status.get("observedGeneration", 0)) < int(workload["metadata"].get("generation", 0)):
        return 0
    count = status.get("readyReplicas", status.get("numberReady", 0))
    return min(int(count or 0), desired)


def derive_status(states: list[VduState]) -> tuple[VnfStatus, str]:
    """ACTIVE, DEGRADED (some replicas not ready) or DEAD (a VDU has no ready pod)."""
    dead = [s for s in states if s.desired > 0 and s.ready == 0]
    if dead:
        names = ", ".join(s.name for s in dead)
        return VnfStatus.DEAD, f"no ready pod in VDU {names}"
    short = [s for s in states if s.ready < s.desired]
    if short:
        detail = "; ".join(f"{s.name} {s.ready}/{s.desired} ready" for s in short)
        return VnfStatus.DEGRADED, detail
    return VnfStatus.ACTIVE, "all replicas ready"
