"""The pod and Service guard rails (pure)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from k8s_worker.tenancy import PodRules, check_objects, check_replica_bounds, parse_quantity

RULES = PodRules(max_container_cpu="4", max_container_memory="8Gi")


def deployment(**pod: Any) -> dict[str, Any]:
    spec = {
        "automountServiceAccountToken": False,
        "containers": [{"name": "app", "image": "nginx"}],
        **pod,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "ns"},
        "spec": {"replicas": 1, "template": {"metadata": {}, "spec": spec}},
    }


def problems(*objects: dict[str, Any], rules: PodRules = RULES) -> list[str]:
    return [str(p) for p in check_objects(objects, namespace="ns", rules=rules)]


def test_a_plain_pod_passes() -> None:
    assert problems(deployment()) == []


@pytest.mark.parametrize(
    ("pod", "field"),
    [
        ({"hostNetwork": True}, "spec.hostNetwork"),
        ({"hostPID": True}, "spec.hostPID"),
        ({"hostIPC": True}, "spec.hostIPC"),
        ({"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}, "hostPath"),
        (
            {"containers": [{"name": "app", "securityContext": {"privileged": True}}]},
            "spec.containers[app].securityContext.privileged",
        ),
        (
            {
                "initContainers": [
                    {"name": "init", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}
                ]
            },
            "spec.initContainers[init].securityContext.capabilities.add",
        ),
        (
            {"containers": [{"name": "app", "ports": [{"containerPort": 80, "hostPort": 80}]}]},
            "hostPort",
        ),
        ({"securityContext": {"seccompProfile": {"type": "Unconfined"}}}, "seccompProfile"),
        ({"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}}, "sysctls"),
        (
            {"containers": [{"name": "app", "securityContext": {"procMount": "Unmasked"}}]},
            "procMount",
        ),
        ({"serviceAccountName": "admin"}, "serviceAccountName"),
        ({"automountServiceAccountToken": True}, "automountServiceAccountToken"),
        (
            {"containers": [{"name": "app", "resources": {"limits": {"cpu": "1000000"}}}]},
            "resources.limits.cpu",
        ),
        (
            {"containers": [{"name": "app", "resources": {"requests": {"memory": "1000Ti"}}}]},
            "resources.requests.memory",
        ),
    ],
)
def test_baseline_and_bounds_are_held(pod: dict[str, Any], field: str) -> None:
    found = problems(deployment(**pod))
    assert len(found) == 1 and field in found[0], found
    assert "Deployment/d" in found[0]


def test_baseline_capabilities_may_be_added() -> None:
    ctx = {"capabilities": {"add": ["NET_BIND_SERVICE", "CHOWN"], "drop": ["ALL"]}}
    assert problems(deployment(containers=[{"name": "app", "securityContext": ctx}])) == []


def test_multus_networks_only_from_the_own_namespace() -> None:
    def with_networks(value: str) -> dict[str, Any]:
        d = deployment()
        d["spec"]["template"]["metadata"]["annotations"] = {"k8s.v1.cni.cncf.io/networks": value}
        return d

    assert problems(with_networks(json.dumps([{"name": "net", "namespace": "ns"}]))) == []
    assert problems(with_networks("net1,ns/net2")) == []
    for bad in (json.dumps([{"name": "net", "namespace": "other"}]), "net1, other/net2@eth1"):
        found = problems(with_networks(bad))
        assert len(found) == 1 and "other/net" in found[0]


def service(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": spec}


def test_services_keep_to_the_allowed_types_and_never_get_external_ips() -> None:
    assert problems(service(type="ClusterIP"), service(type="NodePort"), service()) == []
    (lb,) = problems(service(type="LoadBalancer"))
    assert "LoadBalancer" in lb and "allowed_service_types" in lb
    assert (
        problems(
            service(type="LoadBalancer"), rules=PodRules(allowed_service_types=("LoadBalancer",))
        )
        == []
    )
    (ext,) = problems(service(externalIPs=["8.8.8.8"]))
    assert "externalIPs" in ext


def test_pod_templates_of_every_workload_kind_are_checked() -> None:
    privileged = {
        "automountServiceAccountToken": False,
        "containers": [{"name": "c", "securityContext": {"privileged": True}}],
    }
    cron = {
        "kind": "CronJob",
        "metadata": {"name": "cj"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": privileged}}}},
    }
    pod = {"kind": "Pod", "metadata": {"name": "p"}, "spec": privileged}
    sts = {
        "kind": "StatefulSet",
        "metadata": {"name": "s"},
        "spec": {"template": {"spec": privileged}},
    }
    found = problems(cron, pod, sts)
    assert [f.split(":")[0] for f in found] == [
        "node 'CronJob/cj' property 'spec.containers[c].securityContext.privileged'",
        "node 'Pod/p' property 'spec.containers[c].securityContext.privileged'",
        "node 'StatefulSet/s' property 'spec.containers[c].securityContext.privileged'",
    ]


def test_replica_bounds() -> None:
    rules = PodRules(max_replicas_per_vdu=10, max_pods_per_vnf=15)
    assert check_replica_bounds([("a", 1, 10), ("b", 1, 5)], rules=rules) == []
    huge = [str(p) for p in check_replica_bounds([("a", 100000000, 100000000)], rules=PodRules())]
    assert any("default_instances" in f and "100000000" in f for f in huge)
    found = [str(p) for p in check_replica_bounds([("a", 1, 11), ("b", 2, 10)], rules=rules)]
    assert any("max_instances" in f and "max_replicas_per_vdu" in f for f in found)
    assert any("21 pods" in f and "max_pods_per_vnf" in f for f in found)


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", "0.5"), ("2", "2"), ("1Gi", str(2**30)), ("1.5k", "1500"), ("1e3", "1000"), (3, "3")],
)
def test_quantities(text: object, value: str) -> None:
    assert parse_quantity(text) == Decimal(value)


def test_a_bad_quantity_is_a_problem_not_a_crash() -> None:
    with pytest.raises(ValueError):
        parse_quantity("lots")
    (found,) = problems(
        deployment(containers=[{"name": "app", "resources": {"limits": {"cpu": "lots"}}}])
    )
    assert "not a Kubernetes quantity" in found
