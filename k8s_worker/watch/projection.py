"""What the informers keep of a Pod or a workload: the fields the worker reads.

A pod as the API server sends it is 3-6 kB of JSON and several times that as
Python objects, most of it never read (its spec's volumes, env, probes and
tolerations, full managedFields).  An informer with a projection caches a
new, smaller object instead: the fields below, which are everything the
worker reads of a cached pod or workload (its readiness, respawns, heal,
policies, drift and ``get_vnf``).  ``managedFields`` entries keep their
manager, subresource and the top-level keys of their fields (drift asks
whether another manager owns ``f:spec``, nothing more).  A projection is
deterministic: the same object gives the same projection.

Every projection is also :func:`compact`: its keys and short strings are
interned, so the thousands of cached objects share one copy of each field
name and of each repeated value ("True", "Ready", a node's or a VNF's name)
instead of each decoded event bringing its own; a VNF record as Python
objects shrinks by about 40% that way (``tools/bench scale --trace-memory``).
"""

from __future__ import annotations

import sys
from typing import Any

Obj = dict[str, Any]

#: The pod annotation ``get_vnf`` reports (Multus' network status).
NETWORK_STATUS = "k8s.v1.cni.cncf.io/network-status"

_META = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "labels",
)


#: Strings up to this length are interned by :func:`compact` (names, uids,
#: timestamps, enum values); longer ones (messages, JSON annotations) are
#: rarely repeated.
SHORT_STRING = 64


def compact(value: Any) -> Any:
    """``value`` (decoded JSON) rebuilt with every dict key and every string of
    up to ``SHORT_STRING`` characters interned: equal strings become one object."""
    if isinstance(value, dict):
        return {sys.intern(k): compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [compact(v) for v in value]
    if isinstance(value, str) and len(value) <= SHORT_STRING:
        return sys.intern(value)
    return value


def _pick(d: Obj | None, keys: tuple[str, ...]) -> Obj:
    d = d or {}
    return {k: d[k] for k in keys if k in d}


def _managed_fields(meta: Obj) -> list[Obj] | None:
    entries = meta.get("managedFields")
    if not isinstance(entries, list):
        return None
    out = []
    for e in entries:
        fields = e.get("fieldsV1")
        top: Obj = {k: {} for k in fields} if isinstance(fields, dict) else {}
        out.append({**_pick(e, ("manager", "subresource", "operation")), "fieldsV1": top})
    return out


def _metadata(meta: Obj) -> Obj:
    out = _pick(meta, _META)
    owners = meta.get("ownerReferences")
    if owners:
        out["ownerReferences"] = [
            _pick(o, ("apiVersion", "kind", "name", "uid", "controller")) for o in owners
        ]
    annotations = meta.get("annotations") or {}
    if NETWORK_STATUS in annotations:
        out["annotations"] = {NETWORK_STATUS: annotations[NETWORK_STATUS]}
    managed = _managed_fields(meta)
    if managed is not None:
        out["managedFields"] = managed
    return out


def _container_status(cs: Obj) -> Obj:
    out = _pick(cs, ("name", "restartCount", "ready"))
    state = cs.get("state") or {}
    if state:
        out["state"] = {k: _pick(v, ("reason", "finishedAt")) for k, v in state.items()}
    last = cs.get("lastState") or {}
    if last:
        out["lastState"] = {k: _pick(v, ("reason", "finishedAt")) for k, v in last.items()}
    return out


def project_pod(pod: Obj) -> Obj:
    """The pod as the worker reads it (see the module docstring)."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    containers = []
    for c in spec.get("containers") or []:
        requests = (c.get("resources") or {}).get("requests")
        entry: Obj = {"name": c.get("name")}
        if requests:
            entry["resources"] = {"requests": dict(requests)}
        containers.append(entry)
    out_spec: Obj = {"containers": containers}
    if "nodeName" in spec:
        out_spec["nodeName"] = spec["nodeName"]
    out_status = _pick(status, ("phase", "reason", "podIP"))
    if status.get("conditions"):
        out_status["conditions"] = [
            _pick(c, ("type", "status", "lastTransitionTime")) for c in status["conditions"]
        ]
    if status.get("containerStatuses"):
        out_status["containerStatuses"] = [
            _container_status(cs) for cs in status["containerStatuses"]
        ]
    return compact(
        {
            "apiVersion": pod.get("apiVersion", "v1"),
            "kind": pod.get("kind", "Pod"),
            "metadata": _metadata(pod.get("metadata") or {}),
            "spec": out_spec,
            "status": out_status,
        }
    )


def without_managed_fields(obj: Obj) -> Obj:
    """The object, :func:`compact`, without ``metadata.managedFields`` (often a
    third of its size), for kinds read whole but never for their field managers
    (VNF records: a PUT without them keeps the server's)."""
    obj.get("metadata", {}).pop("managedFields", None)
    return compact(obj)


def project_workload(obj: Obj) -> Obj:
    """A Deployment (or another workload) as the worker reads it: its metadata,
    the replicas and update strategy of its spec, and its whole status."""
    spec = obj.get("spec") or {}
    return compact(
        {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "metadata": _metadata(obj.get("metadata") or {}),
            "spec": _pick(spec, ("replicas", "updateStrategy")),
            "status": obj.get("status") or {},
        }
    )
