"""Alertmanager's webhook body -> alarms (pure)."""

from __future__ import annotations

import json

import pytest

from k8s_worker.alerts import WebhookError, parse


def body(*alerts: dict, version: str = "4") -> str:
    return json.dumps({"version": version, "status": "firing", "receiver": "tkw", "alerts": alerts})


def alert(labels: dict, *, status: str = "firing", fingerprint: str = "f1") -> dict:
    return {
        "status": status,
        "labels": labels,
        "annotations": {},
        "startsAt": "2026-12-02T06:00:00Z",
        "fingerprint": fingerprint,
    }


def test_our_labels_and_tackers_are_both_read() -> None:
    ours = alert({"alertname": "HighLoad", "vnf_id": "v1", "policy": "SP1"})
    tacker = alert(
        {
            "alertname": "Up",
            "receiver_type": "tacker",
            "function_type": "auto_scale",
            "vnf_instance_id": "v2",
            "aspect_id": "vdu2_aspect",
            "auto_scale_type": "SCALE_IN",
        },
        fingerprint="f2",
    )
    alarms, skipped = parse(body(ours, tacker))
    assert skipped == []
    assert [(a.vnf_id, a.policy, a.trigger, a.state) for a in alarms] == [
        ("v1", "SP1", "HighLoad", "firing"),
        ("v2", "vdu2_aspect", "Up", "firing"),
    ]
    assert alarms[1].details["direction"] == "in"
    assert alarms[0].key == "f1:2026-12-02T06:00:00Z:firing"


def test_an_alert_naming_no_vnf_is_skipped_with_its_reason() -> None:
    alarms, skipped = parse(body(alert({"alertname": "Other"})))
    assert alarms == [] and "names no VNF" in skipped[0].reason
    heal = alert({"receiver_type": "tacker", "function_type": "auto_heal", "vnf_instance_id": "v"})
    assert "only auto_scale" in parse(body(heal))[1][0].reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "not JSON"),
        ("[]", "must be a JSON object"),
        (body(version="3"), "expected webhook version 4"),
        (json.dumps({"version": "4", "alerts": {}}), "alerts: must be a list"),
        (body({"status": "firing", "labels": {"a": 1}}), "labels: must map names to strings"),
        (body({"status": "pending", "labels": {}}), "status: must be firing or resolved"),
    ],
)
def test_a_body_that_is_not_webhook_json_is_refused_with_the_reason(raw: str, reason: str) -> None:
    with pytest.raises(WebhookError, match=reason):
        parse(raw)
