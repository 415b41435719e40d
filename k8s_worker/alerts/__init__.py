"""Alerts from Prometheus Alertmanager (its webhook) as the VNFs' alarms:
the body read (:mod:`.webhook`) and the listener (:mod:`.server`)."""

from k8s_worker.alerts.server import AlarmSink, AlertReceiver, ReceiverSettings
from k8s_worker.alerts.webhook import AlertAlarm, Skipped, WebhookError, parse

__all__ = [
    "AlarmSink",
    "AlertAlarm",
    "AlertReceiver",
    "ReceiverSettings",
    "Skipped",
    "WebhookError",
    "parse",
]
