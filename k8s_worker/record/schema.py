"""The structural OpenAPI schema of the Vnf resource's status.

``kubectl explain vnf.status`` reads it, and the API server prunes what it does
not declare, so every field the worker writes is here (a unit test scans the
code's writes against it).  Each object keeps
``x-kubernetes-preserve-unknown-fields``: during a rolling upgrade a newer
replica may add fields an older one must not lose.
"""

from __future__ import annotations

from typing import Any


def _open(description: str, properties: dict[str, Any] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "description": description,
        "x-kubernetes-preserve-unknown-fields": True,
    }
    if properties:
        schema["properties"] = properties
    return schema


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _integer(description: str) -> dict[str, Any]:
    return {"type": "integer", "description": description}


def _strings(description: str) -> dict[str, Any]:
    return {"type": "array", "description": description, "items": {"type": "string"}}


CONDITION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A metav1.Condition: Ready, Progressing or Degraded.",
    "required": ["type", "status", "lastTransitionTime", "reason", "message"],
    "properties": {
        "type": _string("Ready, Progressing or Degraded."),
        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
        "observedGeneration": _integer("The record's generation this condition was set from."),
        "lastTransitionTime": {"type": "string", "format": "date-time"},
        "reason": _string("CamelCase reason, e.g. Active, InstantiateInProgress, Dead."),
        "message": _string("What a person should know."),
    },
}

OPERATION_SCHEMA = _open(
    "One operation of the VNF's journal (SOL003 operation occurrence).",
    {
        "opId": _string("The caller's op_id."),
        "operation": _string("instantiate, terminate, scale, heal or update."),
        "state": _string(
            "STARTING, PROCESSING, COMPLETED, FAILED_TEMP, FAILED, ROLLING_BACK or ROLLED_BACK."
        ),
        "args": _open("The request's arguments as received (secrets kept apart)."),
        "createdAt": _string("When it was journaled."),
        "updatedAt": _string("When its state last changed."),
        "startedAt": _string("When its work started."),
        "automatic": {"type": "boolean", "description": "Started by a policy."},
        "parks": {
            "type": "boolean",
            "description": "Its caller handles FAILED_TEMP (contract 1.2 or later).",
        },
        "error": _open("type and message of its failure."),
        "detail": _open("What the operation recorded along the way (e.g. rollback state)."),
        "requestId": _string("The request id of the RPC that asked for it."),
    },
)

STATUS_SCHEMA = _open(
    "What the worker observed and did; written only by the worker.",
    {
        "status": _string("Tacker's VNF status: ACTIVE, PENDING_*, ERROR, DEAD, DEGRADED, ..."),
        "reason": _string("Why the status is what it is."),
        "conditions": {
            "type": "array",
            "description": "Ready, Progressing and Degraded (kubectl wait --for=condition=Ready).",
            "items": CONDITION_SCHEMA,
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
        "observedGeneration": _integer("The record's generation the status was written against."),
        "lastOperation": _string("The last finished operation, as operation:STATE."),
        "namespace": _string("The namespace the VNF's objects were placed in."),
        "owner": _string("The replica that owns the VNF (holds its lease)."),
        "waiting": _string("What the current operation waits for."),
        "operations": {
            "type": "array",
            "description": "The journal: operations in order, the finished ones trimmed.",
            "items": OPERATION_SCHEMA,
        },
        "seenOps": _strings("op_ids seen, for de-duplication."),
        "journalSeq": _integer("Bumped by each journal write (compare-and-swap)."),
        "sequence": _integer("The last notification's per-VNF sequence number."),
        "outbox": {
            "type": "array",
            "description": "Notifications not yet confirmed by the broker.",
            "items": _open("One notification: sequence, eventType, priority, payload, timestamp."),
        },
        "desiredReplicas": _open("VDU -> the replicas the worker applied."),
        "scaleLevels": _open("Scaling aspect -> its current level."),
        "autoscaledVdus": _strings("VDUs whose replicas a HorizontalPodAutoscaler owns."),
        "objectKinds": _strings("Kinds of object the VNF has."),
        "appliedObjects": _strings("kind/name of each object the worker applied."),
        "driftReported": _strings("Drift reported and not repaired (repair off)."),
        "helmRelease": _string("The Helm release of a Helm VNF."),
        "podMemory": _open("Pods' last restarts, for respawn detection."),
        "policy": _open("The policies' memory: cooldowns, alarms, CPU samples."),
    },
)
