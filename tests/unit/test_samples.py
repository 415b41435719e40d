"""The shipped samples (samples/) stay what they say: the VNFD translates
with its CPU target, the instantiate parameters pass the intake's checks, and
the alert labels and Alertmanager route reach the worker's webhook."""

from __future__ import annotations

import json
import pathlib

import yaml

from k8s_worker.alerts.webhook import AlertAlarm, parse
from k8s_worker.tosca import autoscaling_problems, translate, with_autoscaling

SAMPLES = pathlib.Path(__file__).resolve().parents[2] / "samples" / "autoscaling"
VNF_ID = "6f1c3a2e-0000-4000-8000-000000000001"


def test_the_cpu_vnfd_and_its_parameters():
    policies = translate((SAMPLES / "vnfd-cpu.yaml").read_text(), vnf_id=VNF_ID).policies
    assert policies.scaling_policy("SP1").target_cpu_utilization_percentage == 50
    params = json.loads((SAMPLES / "instantiate-params.json").read_text())
    assert autoscaling_problems(params["autoscaling"]) == []
    sp = with_autoscaling(policies, params["autoscaling"]).scaling_policy("SP1")
    assert (sp.cooldown_seconds, sp.scale_in_stabilization_seconds) == (60, 300)


def test_the_alert_and_route_reach_the_webhook():
    route = yaml.safe_load((SAMPLES / "alertmanager.yml").read_text())
    (hook,) = route["receivers"][1]["webhook_configs"]
    assert hook["url"].endswith("/v1/alerts") and hook["send_resolved"]
    rule = yaml.safe_load((SAMPLES / "prometheus-rule.yaml").read_text())
    labels = {"alertname": "VnfHighRequestRate", **rule["groups"][0]["rules"][0]["labels"]}
    body = {
        "version": "4",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": labels, "fingerprint": "f1"}],
    }
    (alarm,), skipped = parse(json.dumps(body))
    assert isinstance(alarm, AlertAlarm) and skipped == []
    assert (alarm.vnf_id, alarm.policy) == (VNF_ID, "SP1")
