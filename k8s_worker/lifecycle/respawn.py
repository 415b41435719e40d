"""Respawn detection: which pods of a VNF were replaced or restarted.

Pure and level-triggered: the VNF record remembers the pods it has already
accounted for (``known``); each reconcile compares that memory with the pods the
informer holds now and returns the respawns since, plus the new memory, which
is stored in the same compare-and-swap write as the notifications it caused.
So a watch restart, a re-list or a new owner replica sees the same difference
once, and never reports a respawn twice.

A respawn is either a pod that went away (deleted, evicted, Failed) paired
with a new pod of the same VDU, in whichever order the two show up, or a
container whose restartCount grew.  Pods added or removed by an operation (a
scale, an update's rollout, a terminate) are accounted for silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from k8s_worker.lifecycle.observe import is_terminating, pod_failed
from k8s_worker.tosca import LABEL_VDU

Obj = dict[str, Any]
PAIR_WINDOW_SECONDS = 120.0  # a lost pod waits this long for its replacement
#: A lone new pod waits this long for a pod it replaced to be seen lost (the
#: replacement seen first): not longer, or a pod first seen after an operation
#: (the operation ended on its workload's status before the pod's own event
#: came) would be taken for the replacement of an unrelated pod lost later.
FRESH_WINDOW_SECONDS = 10.0


@dataclass(frozen=True)
class Respawn:
    """A pod of the VNF replaced (or restarted in place), as reported in ``vnf.respawn``."""

    vdu: str
    old_pod: str
    new_pod: str
    reason: str
    restart_count: int

    def payload(self) -> dict[str, Any]:
        return {
            "vdu": self.vdu,
            "old_pod": self.old_pod,
            "new_pod": self.new_pod,
            "reason": self.reason,
            "restart_count": self.restart_count,
        }


def _restarts(pod: Obj) -> tuple[int, str]:
    total = 0
    reason = ""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        total += int(status.get("restartCount", 0))
        terminated = (status.get("lastState") or {}).get("terminated") or {}
        if terminated.get("reason"):
            reason = terminated["reason"]
    return total, reason


def _gone_reason(pod: Obj | None) -> str:
    if pod is None:
        return "Deleted"
    status = pod.get("status") or {}
    if status.get("reason") == "Evicted":
        return "Evicted"
    if status.get("phase") == "Failed":
        for cs in status.get("containerStatuses") or []:
            terminated = (cs.get("state") or {}).get("terminated") or {}
            if terminated.get("reason"):
                return f"Failed: {terminated['reason']}"
        return "Failed"
    return "Deleted"


def track_pods(
    known: dict[str, Any], pods: list[Obj], *, now: float, detect: bool
) -> tuple[dict[str, Any], list[Respawn]]:
    """Compare remembered pods with current ones.

    ``known`` is the record's memory: ``{"pods": {name: {vdu, restarts, uid}},
    "lost": [{pod, vdu, reason, at}], "fresh": [{pod, vdu, at}]}``.  ``detect``
    is False while an operation other than heal runs: changes are then
    accounted for without reporting them.
    """
    old_pods: dict[str, dict[str, Any]] = dict(known.get("pods") or {})
    lost: list[dict[str, Any]] = [
        e for e in known.get("lost") or [] if now - float(e["at"]) < PAIR_WINDOW_SECONDS
    ]
    fresh: list[dict[str, Any]] = [
        e for e in known.get("fresh") or [] if now - float(e["at"]) < FRESH_WINDOW_SECONDS
    ]
    live = {p["metadata"]["name"]: p for p in pods if not is_terminating(p) and not pod_failed(p)}
    current = {p["metadata"]["name"]: p for p in pods}
    respawns: list[Respawn] = []
    new_pods: dict[str, dict[str, Any]] = {}

    # Pods that were live and are not any more.
    for name, entry in old_pods.items():
        if name in live:
            continue
        if detect:
            lost.append(
                {
                    "pod": name,
                    "vdu": entry["vdu"],
                    "reason": _gone_reason(current.get(name)),
                    "at": now,
                }
            )
    # Live pods: restarts of known ones, and new ones.
    for name, pod in sorted(
        live.items(), key=lambda kv: kv[1]["metadata"].get("creationTimestamp", "")
    ):
        vdu = (pod["metadata"].get("labels") or {}).get(LABEL_VDU, "")
        restarts, reason = _restarts(pod)
        before = old_pods.get(name)
        uid = pod["metadata"].get("uid")
        new_pods[name] = {"vdu": vdu, "restarts": restarts, **({"uid": uid} if uid else {})}
        if before is not None and before.get("uid") and uid and before["uid"] != uid:
            # Another pod of the same name (a StatefulSet's replacement), the
            # old one never seen gone: the old one is lost now.
            before = None
            if detect:
                lost.append({"pod": name, "vdu": vdu, "reason": "Replaced", "at": now})
        if before is not None:
            if detect and restarts > int(before.get("restarts", 0)):
                respawns.append(
                    Respawn(
                        vdu=vdu,
                        old_pod=name,
                        new_pod=name,
                        reason=reason or "ContainerRestarted",
                        restart_count=restarts,
                    )
                )
            continue
        if not detect:
            continue
        partner = next((e for e in lost if e["vdu"] == vdu), None)
        if partner is not None:
            lost.remove(partner)
            respawns.append(
                Respawn(
                    vdu=vdu,
                    old_pod=partner["pod"],
                    new_pod=name,
                    reason=partner["reason"],
                    restart_count=restarts,
                )
            )
        else:
            fresh.append({"pod": name, "vdu": vdu, "at": now})
    # Lost pods whose replacement appeared before they were seen lost.
    for entry in list(lost):
        partner = next((f for f in fresh if f["vdu"] == entry["vdu"] and f["pod"] in live), None)
        if partner is not None:
            lost.remove(entry)
            fresh.remove(partner)
            respawns.append(
                Respawn(
                    vdu=entry["vdu"],
                    old_pod=entry["pod"],
                    new_pod=partner["pod"],
                    reason=entry["reason"],
                    restart_count=new_pods[partner["pod"]]["restarts"],
                )
            )
    memory = {"pods": new_pods, "lost": lost, "fresh": [f for f in fresh if f["pod"] in live]}
    return memory, respawns
