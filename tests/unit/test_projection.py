"""The informers' projections keep every answer the worker draws from a pod or a
Deployment: each reader gives the same result on the projection as on the
object the API server sent, while the projection is much smaller."""

from __future__ import annotations

import copy
import json
from typing import Any

from k8s_worker.lifecycle import observe, respawn
from k8s_worker.lifecycle.drift import foreign_editors
from k8s_worker.watch.projection import (
    NETWORK_STATUS,
    project_pod,
    project_workload,
    without_managed_fields,
)

MANAGED = [
    {
        "manager": "kube-controller-manager",
        "operation": "Update",
        "apiVersion": "v1",
        "time": "2026-12-02T10:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:x": {}}},
    },
    {
        "manager": "kubectl-edit",
        "operation": "Update",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:containers": {}}},
    },
    {
        "manager": "kwok",
        "operation": "Update",
        "subresource": "status",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:status": {"f:phase": {}}},
    },
]


def pod(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-7d4-abcde",
            "namespace": "vnf",
            "uid": "u-1",
            "resourceVersion": "42",
            "creationTimestamp": "2026-12-02T10:00:00Z",
            "labels": {"tacker.openstack.org/vnf-id": "v", "tacker.openstack.org/vdu": "VDU1"},
            "annotations": {NETWORK_STATUS: "[]", "kubectl.kubernetes.io/restartedAt": "x"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-7d4",
                    "uid": "r",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": copy.deepcopy(MANAGED),
        },
        "spec": {
            "nodeName": "kwok-node-0",
            "containers": [
                {
                    "name": "app",
                    "image": "busybox:1.36",
                    "env": [{"name": f"E{i}", "value": "x" * 40} for i in range(20)],
                    "resources": {"requests": {"cpu": "10m", "memory": "8Mi"}},
                    "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run"}],
                }
            ],
            "volumes": [{"name": "kube-api-access", "projected": {"sources": [{"a": 1}] * 5}}],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}] * 2,
        },
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.7",
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-02T10:00:01Z"},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "t"},
            ],
            "containerStatuses": [
                {
                    "name": "app",
                    "ready": True,
                    "restartCount": 3,
                    "image": "busybox:1.36",
                    "imageID": "sha256:" + "0" * 64,
                    "state": {"running": {"startedAt": "t"}},
                    "lastState": {
                        "terminated": {"reason": "OOMKilled", "finishedAt": "t2", "exitCode": 137}
                    },
                }
            ],
            **status,
        },
    }


def test_a_pod_reads_the_same_projected() -> None:
    for variant in (
        pod(),
        pod(phase="Failed", reason="Evicted"),
        pod(phase="Pending", conditions=[]),
    ):
        small = project_pod(copy.deepcopy(variant))
        assert observe.pod_ready(small) == observe.pod_ready(variant)
        assert observe.pod_failed(small) == observe.pod_failed(variant)
        assert respawn._restarts(small) == respawn._restarts(variant)
        assert respawn._gone_reason(small) == respawn._gone_reason(variant)
        assert foreign_editors(small) == foreign_editors(variant) == ["kubectl-edit"]
    small = project_pod(pod())
    assert small["spec"]["nodeName"] == "kwok-node-0"
    assert small["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "10m"
    assert small["metadata"]["annotations"] == {NETWORK_STATUS: "[]"}
    assert small["metadata"]["ownerReferences"][0]["controller"] is True
    assert small["status"]["podIP"] == "10.0.0.7"
    assert len(json.dumps(small)) < len(json.dumps(pod())) / 2


def test_a_deployment_reads_the_same_projected() -> None:
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "vnf",
            "generation": 2,
            "resourceVersion": "9",
            "managedFields": copy.deepcopy(MANAGED),
            "labels": {"tacker.openstack.org/vdu": "VDU1"},
        },
        "spec": {"replicas": 2, "template": pod()},
        "status": {
            "observedGeneration": 2,
            "replicas": 2,
            "updatedReplicas": 2,
            "availableReplicas": 2,
            "readyReplicas": 2,
        },
    }
    small = project_workload(copy.deepcopy(dep))
    assert observe.deployment_ready(small) is observe.deployment_ready(dep) is True
    assert observe.workload_replicas(small) == observe.workload_replicas(dep) == 2
    assert foreign_editors(small) == foreign_editors(dep)
    assert "template" not in small["spec"]
    assert project_workload(copy.deepcopy(dep)) == small, "deterministic"


def test_cached_objects_share_their_strings() -> None:
    """Two pods decoded from two watch events (two json.loads: two copies of
    every key and value) share one string per key and per short value once
    projected, and a record keeps its content without its managedFields."""
    first, second = (project_pod(json.loads(json.dumps(pod()))) for _ in range(2))
    a, b = first["status"]["conditions"][0], second["status"]["conditions"][0]
    assert a == b
    key_a = next(k for k in a if k == "lastTransitionTime")
    key_b = next(k for k in b if k == "lastTransitionTime")
    assert key_a is key_b
    assert a["status"] is b["status"] and a["lastTransitionTime"] is b["lastTransitionTime"]
    assert first["metadata"]["uid"] is second["metadata"]["uid"]
    assert project_workload(json.loads(json.dumps(pod())))["kind"] is first["kind"]

    record = {
        "metadata": {"name": "vnf-1", "managedFields": copy.deepcopy(MANAGED)},
        "spec": {"vnfId": "1", "params": {"note": "y" * 100}},
        "status": {"outbox": [{"sequence": 1, "payload": {"ok": True}}]},
    }
    kept = without_managed_fields(json.loads(json.dumps(record)))
    again = without_managed_fields(json.loads(json.dumps(record)))
    del record["metadata"]["managedFields"]
    assert kept == record
    assert kept["spec"]["vnfId"] is again["spec"]["vnfId"]
    long_a, long_b = kept["spec"]["params"]["note"], again["spec"]["params"]["note"]
    assert long_a == long_b and long_a is not long_b, "long strings are left alone"
