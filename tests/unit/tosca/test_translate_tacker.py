"""Translation of Tacker's containerized VNFD form."""

from __future__ import annotations

import json

import yaml

from k8s_worker.tosca import (
    LABEL_MANAGED_BY,
    LABEL_VDU,
    LABEL_VNF_ID,
    translate,
)
from tests.unit.tosca.conftest import OTHER_VNF_ID, VNF_ID, load, minimal_vdu, tacker_vnfd


def _kinds(objects: list[dict]) -> list[tuple[str, str]]:
    return [(o["kind"], o["metadata"]["name"]) for o in objects]


def _by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def test_docs_sample_gives_deployment_and_nodeport_service() -> None:
    result = translate(load("tacker_sample.yaml"), vnf_id=VNF_ID, vnf_name="web")

    assert result.namespace == "default"
    [vdu] = result.vdus
    assert (vdu.name, vdu.default_replicas, vdu.min_replicas, vdu.max_replicas) == (
        "VDU1",
        1,
        1,
        3,
    )
    [deployment] = _by_kind(result.objects, "Deployment")
    [service] = _by_kind(result.objects, "Service")
    assert deployment["metadata"]["name"] == vdu.deployment_name
    assert service["metadata"]["name"] == vdu.service_name
    assert deployment["metadata"]["namespace"] == "default"
    assert deployment["spec"]["replicas"] == 1
    assert service["spec"]["type"] == "NodePort"
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(80, 80), (88, 88)]
    assert deployment["metadata"]["annotations"]["tacker.openstack.org/vnf-name"] == "web"


def test_two_containers_get_resources_ports_and_dns_names() -> None:
    result = translate(load("tacker_sample.yaml"), vnf_id=VNF_ID)
    [deployment] = _by_kind(result.objects, "Deployment")
    containers = deployment["spec"]["template"]["spec"]["containers"]

    assert [c["name"] for c in containers] == ["front-end", "rss-reader"]
    assert [c["image"] for c in containers] == ["nginx", "nickchase/rss-php-nginx:v1"]
    for container in containers:
        assert container["resources"]["requests"] == {"cpu": "500m", "memory": "512M"}
        assert container["resources"]["limits"] == {"cpu": "500m", "memory": "512M"}
    assert [c["ports"][0]["containerPort"] for c in containers] == [80, 88]


def test_selectors_use_only_ownership_labels_and_user_labels_reach_pods() -> None:
    result = translate(load("tacker_sample.yaml"), vnf_id=VNF_ID)
    [deployment] = _by_kind(result.objects, "Deployment")
    [service] = _by_kind(result.objects, "Service")
    expected_selector = {LABEL_VNF_ID: VNF_ID, LABEL_VDU: "VDU1"}

    assert deployment["spec"]["selector"] == {"matchLabels": expected_selector}
    assert service["spec"]["selector"] == expected_selector
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["app"] == "webserver"
    assert pod_labels[LABEL_MANAGED_BY] == "tacker-k8s-worker"
    for obj in result.objects:
        labels = obj["metadata"]["labels"]
        assert labels[LABEL_MANAGED_BY] == "tacker-k8s-worker"
        assert labels[LABEL_VNF_ID] == VNF_ID
        assert labels[LABEL_VDU] == "VDU1"


def test_two_vnfs_from_same_vnfd_never_share_names_or_selectors() -> None:
    first = translate(load("tacker_sample.yaml"), vnf_id=VNF_ID)
    second = translate(load("tacker_sample.yaml"), vnf_id=OTHER_VNF_ID)

    assert not set(_kinds(first.objects)) & set(_kinds(second.objects))
    first_pods = _by_kind(first.objects, "Deployment")[0]["spec"]["template"]["metadata"]
    second_selector = _by_kind(second.objects, "Service")[0]["spec"]["selector"]
    assert not all(first_pods["labels"].get(k) == v for k, v in second_selector.items())


def test_translation_is_deterministic() -> None:
    first = translate(load("tacker_multi_vdu.yaml"), vnf_id=VNF_ID)
    again = translate(yaml.safe_load(load("tacker_multi_vdu.yaml")), vnf_id=VNF_ID)
    assert first.objects == again.objects


def test_every_vdu_of_multi_vdu_vnfd_is_deployed_in_apply_order() -> None:
    result = translate(load("tacker_multi_vdu.yaml"), vnf_id=VNF_ID, namespace="ns1")

    assert [v.name for v in result.vdus] == ["VDU1", "VDU2"]
    assert [o["kind"] for o in result.objects] == [
        "ConfigMap",
        "Deployment",
        "Deployment",
        "Service",
    ]
    deployments = {
        d["metadata"]["labels"][LABEL_VDU]: d for d in _by_kind(result.objects, "Deployment")
    }
    assert deployments["VDU1"]["spec"]["replicas"] == 3
    assert deployments["VDU2"]["spec"]["replicas"] == 1
    assert result.vdu("VDU2").service_name is None  # publishes no ports
    assert result.namespace == "ns1"
    assert all(o["metadata"]["namespace"] == "ns1" for o in result.objects)
    assert len({v.deployment_name for v in result.vdus}) == 2


def test_mapping_ports_with_different_target_and_udp() -> None:
    result = translate(load("tacker_multi_vdu.yaml"), vnf_id=VNF_ID)
    [service] = _by_kind(result.objects, "Service")

    assert service["spec"]["type"] == "LoadBalancer"
    assert [(p["port"], p["targetPort"], p["protocol"]) for p in service["spec"]["ports"]] == [
        (80, 8080, "TCP"),
        (53, 53, "UDP"),
    ]
    assert len({p["name"] for p in service["spec"]["ports"]}) == 2


def test_config_values_survive_colons_spaces_and_yaml_types() -> None:
    result = translate(load("tacker_multi_vdu.yaml"), vnf_id=VNF_ID)
    [config_map] = _by_kind(result.objects, "ConfigMap")
    data = config_map["data"]

    assert data["UPSTREAM_URL"] == "http://backend:9000/api"
    assert data["GREETING"] == "hello world: again"
    assert data["ENABLED"] == "yes"
    assert data["RETRIES"] == "007"
    assert data["RATIO"] == "1.10"
    assert yaml.safe_load(data["EXTRA"]) == {"nested": True, "list": ["a", "b"]}
    [web] = _by_kind(result.objects, "Deployment")[0]["spec"]["template"]["spec"]["containers"]
    assert web["envFrom"] == [{"configMapRef": {"name": config_map["metadata"]["name"]}}]
    assert dict(result.vdu("VDU1").config_maps) == {"web": config_map["metadata"]["name"]}


def test_plain_key_value_lines_that_are_not_yaml_keep_every_colon() -> None:
    vnfd = tacker_vnfd(
        {
            "VDU1": minimal_vdu(
                vnfcs={"app": {"image": "nginx", "config": "motd: hello: world\nurl: a:b:c\n"}}
            )
        }
    )
    [config_map] = _by_kind(translate(vnfd, vnf_id=VNF_ID).objects, "ConfigMap")
    assert config_map["data"] == {"motd": "hello: world", "url": "a:b:c"}


def test_non_management_cps_become_multus_networks() -> None:
    result = translate(load("tacker_multi_vdu.yaml"), vnf_id=VNF_ID)
    deployments = {
        d["metadata"]["labels"][LABEL_VDU]: d for d in _by_kind(result.objects, "Deployment")
    }

    vdu1_meta = deployments["VDU1"]["spec"]["template"]["metadata"]
    assert "annotations" not in vdu1_meta  # only a management CP: the pod network
    networks = json.loads(
        deployments["VDU2"]["spec"]["template"]["metadata"]["annotations"][
            "k8s.v1.cni.cncf.io/networks"
        ]
    )
    assert networks == [
        {"name": "data-net", "mac": "02:00:00:00:00:21"},
        {"name": "storage-net", "namespace": "infra"},
    ]


def test_scaling_policy_is_normalized_and_found_by_name() -> None:
    result = translate(load("tacker_multi_vdu.yaml"), vnf_id=VNF_ID)
    sp1 = result.policies.scaling_policy("SP1")

    assert sp1.targets == ("VDU1",)
    assert (sp1.min_instances, sp1.max_instances, sp1.default_instances) == (2, 6, 3)
    assert sp1.increment == 2
    assert sp1.cooldown_seconds == 60
    assert result.policies.scaling_policy("SP2").cooldown_seconds == 120  # TOSCA default
    assert result.policies.scaling_for("VDU2") == (result.policies.scaling_policy("SP2"),)
    sample = translate(load("tacker_sample.yaml"), vnf_id=VNF_ID).policies.scaling_policy("SP1")
    assert sample.target_cpu_utilization_percentage == 40


def test_alarm_triggers_map_to_scale_directions_and_heal_actions() -> None:
    result = translate(load("tacker_multi_vdu.yaml"), vnf_id=VNF_ID)
    alarms = {a.name: a for a in result.policies.alarms}

    high = alarms["vdu1_high_cpu"]
    assert high.metric == "cpu_util"
    assert high.targets == ("VDU1",)
    assert (high.comparison_operator, high.threshold, high.evaluations) == ("gt", 80, 2)
    assert [(a.kind, a.policy, a.direction) for a in high.actions] == [("scale", "SP1", "out")]
    low = alarms["vdu1_low_cpu"]
    assert [(a.kind, a.policy, a.direction) for a in low.actions] == [("scale", "SP1", "in")]
    down = alarms["vdu2_down"]
    assert [(a.kind, a.action) for a in down.actions] == [("heal", "vdu_autoheal")]


def test_monitoring_and_failure_policies_become_heal_policies() -> None:
    result = translate(load("tacker_multi_vdu.yaml"), vnf_id=VNF_ID)

    [vdu1_heal] = result.policies.heals_for("VDU1")
    assert (vdu1_heal.action, vdu1_heal.trigger, vdu1_heal.monitor) == (
        "respawn",
        "failure",
        "ping",
    )
    assert dict(vdu1_heal.parameters)["monitoring_delay"] == "45"
    [vdu2_heal] = result.policies.heals_for("VDU2")
    assert (vdu2_heal.name, vdu2_heal.action) == ("vdu2_failure", "log")
    assert len(result.policies) == 2 + 3 + 2


def test_inputs_are_resolved_from_params() -> None:
    vnfd = tacker_vnfd({"VDU1": minimal_vdu(vnfcs={"app": {"image": {"get_input": "image"}}})})
    vnfd["topology_template"]["inputs"] = {"image": {"type": "string", "default": "nginx:1"}}

    default = translate(vnfd, vnf_id=VNF_ID)
    given = translate(vnfd, vnf_id=VNF_ID, params={"image": "nginx:2"})
    image = lambda t: _by_kind(t.objects, "Deployment")[0]["spec"]["template"]["spec"][  # noqa: E731
        "containers"
    ][0]["image"]
    assert image(default) == "nginx:1"
    assert image(given) == "nginx:2"


def test_vnfd_namespace_wins_over_argument_and_absent_means_none() -> None:
    assert (
        translate(load("tacker_sample.yaml"), vnf_id=VNF_ID, namespace="x").namespace == "default"
    )
    plain = translate(tacker_vnfd({"VDU1": minimal_vdu()}), vnf_id=VNF_ID)
    assert plain.namespace is None
    assert all("namespace" not in o["metadata"] for o in plain.objects)
    assert plain.vdus[0].default_replicas == 1  # no scaling policy: one replica


def test_tacker_defs_imports_are_served_locally() -> None:
    vnfd = tacker_vnfd({"VDU1": minimal_vdu()})
    vnfd["imports"] = ["tacker_defs.yaml", "tacker_nfv_defs.yaml"]
    assert translate(vnfd, vnf_id=VNF_ID).vdus[0].name == "VDU1"


def test_a_config_update_may_name_a_container_as_the_descriptor_does() -> None:
    from k8s_worker.lifecycle.objects import render

    vnfd = tacker_vnfd(
        {"VDU1": minimal_vdu(vnfcs={"front_end": {"image": "nginx:1.25", "config": "K: old"}})}
    )
    result = translate(yaml.safe_dump(vnfd), vnf_id=VNF_ID)
    names = dict(result.vdu("VDU1").config_maps)
    assert set(names) == {"front-end", "front_end"}  # the container's name and its key
    for key in ("front_end", "front-end"):
        objects = render(result, namespace="ns", replicas={}, config={"VDU1": {key: {"K": "new"}}})
        [config_map] = _by_kind(objects, "ConfigMap")
        assert config_map["data"]["K"] == "new"
