"""Alertmanager's webhook body (version 4) -> the alarms it stands for (pure).

An alert names its VNF, policy and trigger by labels, either ours or those of
Tacker v2's Prometheus plugin:

* ours: ``vnf_id``, ``policy`` (a scaling or alarm policy of the VNFD),
  ``trigger`` (default: ``alertname``); firing and resolved mean what they
  mean for the ``alarm`` cast (a scaling policy: out, then in);
* Tacker v2's: ``receiver_type: tacker``, ``function_type: auto_scale``,
  ``vnf_instance_id``, ``aspect_id`` (the policy) and ``auto_scale_type``
  (``SCALE_OUT``/``SCALE_IN``: what a firing alert does; a resolved one
  clears it and does nothing).

Each alert is identified by its ``fingerprint`` and ``startsAt`` (and status),
so a body delivered twice (Alertmanager repeats, or two replicas receive it)
acts once.  A body that is not webhook JSON is :class:`WebhookError` (a 400
with the reason); an alert that names no VNF is skipped and reported.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

MAX_ALERTS = 1000


class WebhookError(ValueError):
    """The body is not Alertmanager webhook JSON (version 4); the message says why."""


@dataclass(frozen=True)
class AlertAlarm:
    """One alert as the alarm it stands for."""

    vnf_id: str
    policy: str
    trigger: str
    state: str  # "firing" or "resolved"
    key: str  # fingerprint:startsAt:status, the duplicate check's
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Skipped:
    """An alert that stands for no alarm, and why."""

    index: int
    reason: str
    labels: dict[str, str] = field(default_factory=dict)


def _fingerprint(alert: dict[str, Any], labels: dict[str, str]) -> str:
    given = alert.get("fingerprint")
    if isinstance(given, str) and given:
        return given
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def parse(body: bytes | str) -> tuple[list[AlertAlarm], list[Skipped]]:
    """The alarms of a webhook body, and the alerts skipped; WebhookError when
    the body is not webhook JSON at all."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookError(f"the body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise WebhookError("the body must be a JSON object (Alertmanager's webhook)")
    if str(doc.get("version")) != "4":
        raise WebhookError(f"expected webhook version 4, got {doc.get('version')!r}")
    alerts = doc.get("alerts")
    if not isinstance(alerts, list):
        raise WebhookError("alerts: must be a list")
    if len(alerts) > MAX_ALERTS:
        raise WebhookError(f"alerts: at most {MAX_ALERTS} in one body")
    found: list[AlertAlarm] = []
    skipped: list[Skipped] = []
    for index, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            raise WebhookError(f"alerts[{index}]: must be an object")
        labels = alert.get("labels")
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise WebhookError(f"alerts[{index}].labels: must map names to strings")
        status = alert.get("status")
        if status not in ("firing", "resolved"):
            raise WebhookError(f"alerts[{index}].status: must be firing or resolved")
        key = f"{_fingerprint(alert, labels)}:{alert.get('startsAt', '')}:{status}"
        alarm = _alarm(labels, status=str(status), key=key)
        if isinstance(alarm, str):
            skipped.append(Skipped(index=index, reason=alarm, labels=dict(labels)))
        else:
            found.append(alarm)
    return found, skipped


def _alarm(labels: dict[str, str], *, status: str, key: str) -> AlertAlarm | str:
    alertname = labels.get("alertname", "alert")
    if labels.get("vnf_instance_id") or labels.get("receiver_type") == "tacker":
        if labels.get("function_type") != "auto_scale":
            return (
                f"function_type {labels.get('function_type')!r} is not served here "
                "(only auto_scale)"
            )
        vnf_id, aspect = labels.get("vnf_instance_id"), labels.get("aspect_id")
        kind = labels.get("auto_scale_type", "")
        if not vnf_id or not aspect or kind not in ("SCALE_OUT", "SCALE_IN"):
            return "a Tacker auto_scale alert needs vnf_instance_id, aspect_id and auto_scale_type"
        return AlertAlarm(
            vnf_id=vnf_id,
            policy=aspect,
            trigger=alertname,
            state=status,
            key=key,
            details={"direction": "out" if kind == "SCALE_OUT" else "in", "alert": alertname},
        )
    vnf_id, policy = labels.get("vnf_id"), labels.get("policy")
    if not vnf_id or not policy:
        return "the alert names no VNF and policy (labels vnf_id and policy)"
    return AlertAlarm(
        vnf_id=vnf_id,
        policy=policy,
        trigger=labels.get("trigger") or alertname,
        state=status,
        key=key,
        details={"alert": alertname},
    )
