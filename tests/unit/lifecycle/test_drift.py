"""Which field managers' writes count as drift (pure)."""

from __future__ import annotations

from typing import Any

from k8s_worker.lifecycle.drift import Drift, foreign_editors


def _obj(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": "x", "managedFields": list(entries)}}


def test_only_other_managers_spec_writes_are_drift() -> None:
    ours = {"manager": "tacker-k8s-worker", "operation": "Apply", "fieldsV1": {"f:spec": {}}}
    controller = {"manager": "kube-controller-manager", "fieldsV1": {"f:spec": {}}}
    scaled = {"manager": "kubectl", "subresource": "scale", "fieldsV1": {"f:spec": {}}}
    labelled = {"manager": "kubectl-label", "fieldsV1": {"f:metadata": {}}}
    edited = {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {}}}
    assert foreign_editors(_obj("Deployment", ours, controller, scaled, labelled)) == []
    assert foreign_editors(_obj("Deployment", ours, edited)) == ["kubectl-edit"]


def test_a_configmaps_data_is_what_counts_for_it() -> None:
    patched = {"manager": "kubectl-patch", "fieldsV1": {"f:data": {"f:a": {}}}}
    assert foreign_editors(_obj("ConfigMap", patched)) == ["kubectl-patch"]
    assert foreign_editors(_obj("Service", patched)) == []


def test_a_finding_names_what_changed() -> None:
    drift = Drift("Service", "web", "re-created")
    assert drift.key == "Service/web:re-created"
    assert drift.payload(repaired=False) == {
        "kind": "Service",
        "name": "web",
        "change": "re-created",
        "repaired": False,
    }
