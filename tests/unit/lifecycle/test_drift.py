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


class _Workloads:
    """The VNF's workloads as the caches would have them."""

    def __init__(self, replicas: dict[str, int]) -> None:
        self.replicas = replicas

    def workload_of(self, vnf_id: str, vdu: str, namespace: str | None) -> dict[str, Any]:
        return {
            "kind": "Deployment",
            "metadata": {"name": vdu.lower()},
            "spec": {"replicas": self.replicas[vdu]},
        }


def test_replicas_an_autoscaler_sets_are_not_drift() -> None:
    from k8s_worker.lifecycle.drift import replica_drift
    from tests.unit.record.test_outbox import record

    rec = record()
    rec.placed_namespace = "ns"
    rec.desired_replicas.update({"VDU1": 1, "VDU2": 1})
    objects: Any = _Workloads({"VDU1": 4, "VDU2": 3})
    assert [d.name for d, _ in replica_drift(rec, objects)] == ["vdu1", "vdu2"]
    rec.autoscaled_vdus = ["VDU2"]
    assert [(d.name, want) for d, want in replica_drift(rec, objects)] == [("vdu1", 1)]
