"""Who acted on which VNF, judged from the kube-apiserver's audit log alone
(tools/testbed/audit-policy.yaml), not from anything the worker says.

A VNF's owner changes only by a write of its record's ``status.owner`` (a
compare-and-swap, so the claims are in one order; the intake's journal
patches never touch it).  Every successful write
by a worker replica (its User-Agent names it) to an object of that VNF other
than its record, params Secret or descriptors (which any replica's intake
writes) must come from the replica of the latest claim the API server had
accepted when it received the request.  A write from any other replica is a
VNF acted on by two replicas.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re

from tests.conftest import STATE

AUDIT_LOG = STATE / "audit" / "audit.log"
_AGENT = re.compile(r"^tacker-k8s-worker/\S+ \((?P<host>[^)]*)\)")
_WRITES = {"create", "update", "patch", "delete", "deletecollection"}
_INTAKE_KINDS = {"vnfs", "secrets", "configmaps"}


def _time(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _events(since: float) -> list[dict]:
    files = sorted(AUDIT_LOG.parent.glob("audit*.log"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise AssertionError(f"no audit log at {AUDIT_LOG} (tools/testbed/kube.sh writes it)")
    out = []
    for path in files:
        for line in path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by rotation
            if _time(event["stageTimestamp"]) >= since:
                out.append(event)
    return out


@dataclasses.dataclass(frozen=True)
class Act:
    vnf_id: str
    host: str
    owner: str | None
    verb: str
    resource: str
    name: str
    at: float


@dataclasses.dataclass
class Verdict:
    acts: int  # successful writes by replicas to the VNFs' objects
    claims: int  # accepted changes of status.owner
    foreign: list[Act]  # acts by a replica other than the owner of the moment
    agents: set[str]  # the replicas seen


def judge(objects: dict[str, str], *, since: float) -> Verdict:
    """Judge the audit log from ``since`` (a wall-clock time) for the VNFs of
    ``objects`` (object name -> VNF id: their Deployments, say; an object's
    dependents, its pods, are named after it)."""
    events = _events(since)
    claims: dict[str, list[tuple[float, str | None]]] = {v: [] for v in objects.values()}
    acts = []
    agents = set()
    for e in events:
        if e.get("verb") not in _WRITES or e.get("stage") != "ResponseComplete":
            continue
        if (e.get("responseStatus") or {}).get("code", 500) >= 300:
            continue
        ref = e.get("objectRef") or {}
        name = ref.get("name") or ""
        match = _AGENT.match(e.get("userAgent") or "")
        if match:
            agents.add(match["host"])
        if ref.get("resource") == "vnfs" and name in claims:
            body = e.get("requestObject")
            if not isinstance(body, dict):
                continue  # a journal's JSON Patch: it never changes the owner
            owner = (body.get("status") or {}).get("owner")
            history = claims[name]
            if owner is not None and (not history or history[-1][1] != owner):
                history.append((_time(e["stageTimestamp"]), owner))
            continue
        if not match or ref.get("resource") in _INTAKE_KINDS:
            continue
        vnf = next((v for o, v in objects.items() if name == o or name.startswith(o + "-")), None)
        if vnf is not None:
            acts.append((vnf, match["host"], e["verb"], ref.get("resource", ""), name, e))
    foreign = []
    for vnf, host, verb, resource, name, e in acts:
        at = _time(e["requestReceivedTimestamp"])
        owner = None
        for claimed_at, claimant in claims[vnf]:
            if claimed_at <= at:
                owner = claimant
        if owner != host:
            foreign.append(Act(vnf, host, owner, verb, resource, name, at))
    return Verdict(
        acts=len(acts),
        claims=sum(len(h) for h in claims.values()),
        foreign=foreign,
        agents=agents,
    )
