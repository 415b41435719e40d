"""A scaling policy's CPU utilization, measured as the HPA measures it.

Pure: the engine passes the pods (from the informers' caches) and the usage
the metrics API reported for them.  Utilization is the pods' summed usage over
their summed cpu requests, over the Ready pods of the policy's VDUs; a VDU
whose containers do not all request cpu cannot be measured (the HPA refuses it
too).  Ready pods the metrics API has not reported yet are counted as the HPA
counts them: at no usage when the others call for a scale-out, at the target
when they call for a scale-in, and never so that the direction turns: a pod
just started neither speeds a scale-out nor causes a scale-in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from k8s_worker.kube.quantity import cpu_millis
from k8s_worker.lifecycle.observe import is_terminating, pod_ready
from k8s_worker.tosca import LABEL_VDU

Obj = dict[str, Any]


def pod_request_millis(pod: Obj) -> float | None:
    """The pod's summed cpu requests in millicores; None when a container requests none."""
    total = 0.0
    containers = (pod.get("spec") or {}).get("containers") or []
    if not containers:
        return None
    for container in containers:
        request = ((container.get("resources") or {}).get("requests") or {}).get("cpu")
        millis = cpu_millis(request) if request is not None else None
        if not millis:
            return None
        total += millis
    return total


@dataclass(frozen=True)
class Unmeasured:
    """Why the CPU cannot be measured now; ``lasting`` when it will not pass by
    itself (no cpu requests), as opposed to pods not Ready or not reported yet."""

    reason: str
    lasting: bool = False


@dataclass(frozen=True)
class Utilization:
    """What was measured: ``percent`` of requests, over ``pods`` Ready pods
    (``reported`` of them with metrics)."""

    percent: float
    pods: int
    reported: int


def measure(
    *,
    vdus: Iterable[str],
    pods: Sequence[Obj],
    usage: Mapping[str, float],
    target: float,
) -> Utilization | Unmeasured:
    """The utilization of the VDUs' Ready pods (``usage``: pod name ->
    millicores); or why it cannot be measured now."""
    names = set(vdus)
    mine = [
        p
        for p in pods
        if (p["metadata"].get("labels") or {}).get(LABEL_VDU) in names
        and pod_ready(p)
        and not is_terminating(p)
    ]
    if not mine:
        return Unmeasured(f"no Ready pods of {', '.join(sorted(names))}")
    used = requested = missing = 0.0
    reported = 0
    for pod in mine:
        request = pod_request_millis(pod)
        if request is None:
            vdu = (pod["metadata"].get("labels") or {}).get(LABEL_VDU)
            return Unmeasured(f"VDU {vdu} has containers without cpu requests", lasting=True)
        name = pod["metadata"]["name"]
        if name in usage:
            used += usage[name]
            requested += request
            reported += 1
        else:
            missing += request
    if not reported:
        return Unmeasured("the metrics API reports none of the VDUs' pods yet")
    percent = 100.0 * used / requested
    if missing:
        # As the HPA: counted so, the unreported pods may only hold a change
        # back, never turn it around (then: at the target, no change).
        if percent > target:
            percent = max(target, 100.0 * used / (requested + missing))
        else:
            percent = min(target, 100.0 * (used + missing * target / 100.0) / (requested + missing))
    return Utilization(percent=percent, pods=len(mine), reported=reported)
