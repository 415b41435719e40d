"""Every validation error names the node (or policy), the property and what was expected."""

from __future__ import annotations

from typing import Any

import pytest

from k8s_worker.tosca import LABEL_VNF_ID, VnfdError, translate
from tests.unit.tosca.conftest import VNF_ID, load, minimal_vdu, tacker_vnfd

SCALING = {
    "type": "tosca.policies.tacker.Scaling",
    "targets": ["VDU1"],
    "properties": {"min_instances": 1, "max_instances": 3, "default_instances": 1, "increment": 1},
}


def _scaling(**props: Any) -> list[dict[str, Any]]:
    return [{"SP1": {**SCALING, "properties": {**SCALING["properties"], **props}}}]


def _problems(vnfd: Any, **kwargs: Any) -> list[tuple[str | None, str | None, str]]:
    with pytest.raises(VnfdError) as caught:
        translate(vnfd, **{"vnf_id": VNF_ID, **kwargs})
    return [(p.node, p.property, p.message) for p in caught.value.problems]


def _one(vnfd: Any, **kwargs: Any) -> tuple[str | None, str | None, str]:
    problems = _problems(vnfd, **kwargs)
    assert len(problems) == 1, problems
    return problems[0]


CASES: dict[str, tuple[dict[str, Any], tuple[str | None, str | None, str]]] = {
    "unknown node type": (
        tacker_vnfd({"VDU1": minimal_vdu(), "DB": {"type": "tosca.nodes.Database"}}),
        ("DB", "type", "unknown node type 'tosca.nodes.Database'"),
    ),
    "unknown VDU property": (
        tacker_vnfd({"VDU1": minimal_vdu(flavor="m1.tiny")}),
        ("VDU1", "flavor", 'unknown field "flavor"'),
    ),
    "unknown container field": (
        tacker_vnfd({"VDU1": minimal_vdu(vnfcs={"app": {"image": "x", "cpus": 1}})}),
        ("VDU1", "vnfcs.app.cpus", "unknown field"),
    ),
    "container without image": (
        tacker_vnfd({"VDU1": minimal_vdu(vnfcs={"app": {"num_cpus": 1}})}),
        ("VDU1", "vnfcs.app.image", "is required"),
    ),
    "non-numeric cpus": (
        tacker_vnfd({"VDU1": minimal_vdu(vnfcs={"app": {"image": "x", "num_cpus": "two"}})}),
        ("VDU1", "vnfcs.app.num_cpus", "expected a number"),
    ),
    "zero cpus": (
        tacker_vnfd({"VDU1": minimal_vdu(vnfcs={"app": {"image": "x", "num_cpus": 0}})}),
        ("VDU1", "vnfcs.app.num_cpus", "at least 0.001"),
    ),
    "bad size unit": (
        tacker_vnfd({"VDU1": minimal_vdu(vnfcs={"app": {"image": "x", "mem_size": "512 MBs"}})}),
        ("VDU1", "vnfcs.app.mem_size", "expected a size such as '512 MB'"),
    ),
    "size without number": (
        tacker_vnfd({"VDU1": minimal_vdu(vnfcs={"app": {"image": "x", "mem_size": "lots"}})}),
        ("VDU1", "vnfcs.app.mem_size", "expected a size"),
    ),
    "bad mapping port": (
        tacker_vnfd({"VDU1": minimal_vdu(mapping_ports=["80:http"])}),
        ("VDU1", "mapping_ports[0]", "expected 'published:target'"),
    ),
    "port out of range": (
        tacker_vnfd({"VDU1": minimal_vdu(mapping_ports=["80:80", "70000:80"])}),
        ("VDU1", "mapping_ports[1]", "outside 1-65535"),
    ),
    "bad protocol": (
        tacker_vnfd({"VDU1": minimal_vdu(mapping_ports=["80:80/HTTP"])}),
        ("VDU1", "mapping_ports[0]", "TCP, UDP, SCTP"),
    ),
    "bad container port": (
        tacker_vnfd({"VDU1": minimal_vdu(vnfcs={"app": {"image": "x", "ports": ["80:81"]}})}),
        ("VDU1", "vnfcs.app.ports[0]", "single container port"),
    ),
    "bad service type": (
        tacker_vnfd({"VDU1": minimal_vdu(service_type="ExternalName")}),
        ("VDU1", "service_type", "ClusterIP, NodePort, LoadBalancer"),
    ),
    "min greater than max": (
        tacker_vnfd({"VDU1": minimal_vdu()}, _scaling(min_instances=4, max_instances=2)),
        ("SP1", "min_instances", "min_instances 4 > max_instances 2"),
    ),
    "default outside bounds": (
        tacker_vnfd({"VDU1": minimal_vdu()}, _scaling(default_instances=9)),
        ("SP1", "default_instances", "outside"),
    ),
    "policy targets unknown VDU": (
        tacker_vnfd({"VDU1": minimal_vdu()}, [{"SP1": {**SCALING, "targets": ["VDU9"]}}]),
        ("SP1", "targets", "'VDU9'"),
    ),
    "policy targets a non-VDU node": (
        tacker_vnfd(
            {
                "VDU1": minimal_vdu(),
                "VL1": {
                    "type": "tosca.nodes.nfv.VL",
                    "properties": {"network_name": "n", "vendor": "x"},
                },
            },
            [{"SP1": {**SCALING, "targets": ["VL1"]}}],
        ),
        ("SP1", "targets", "'VL1' is not a VDU"),
    ),
    "unknown policy type": (
        tacker_vnfd({"VDU1": minimal_vdu()}, [{"P1": {"type": "tosca.policies.Bogus"}}]),
        ("P1", "type", "unknown policy type"),
    ),
    "alarm action names no policy": (
        tacker_vnfd(
            {"VDU1": minimal_vdu()},
            [
                {
                    "A1": {
                        "type": "tosca.policies.tacker.Alarming",
                        "triggers": {
                            "t1": {
                                "metric": "cpu_util",
                                "condition": {"threshold": 50, "comparison_operator": "gt"},
                                "metadata": "VDU1",
                                "action": ["SP9"],
                            }
                        },
                    }
                }
            ],
        ),
        ("A1", "triggers.t1.action", "'SP9' is neither a scaling policy"),
    ),
    "monitoring action unknown": (
        tacker_vnfd(
            {
                "VDU1": minimal_vdu(
                    monitoring_policy={"name": "ping", "actions": {"failure": "reboot"}}
                )
            }
        ),
        ("VDU1", "monitoring_policy.actions.failure", "respawn"),
    ),
    "user label sets an ownership key": (
        tacker_vnfd({"VDU1": minimal_vdu(labels=[f"{LABEL_VNF_ID}: someone-else"])}),
        ("VDU1", "labels[0]", "reserved"),
    ),
    "label without value separator": (
        tacker_vnfd({"VDU1": minimal_vdu(labels=["webserver"])}),
        ("VDU1", "labels[0]", "expected 'key: value'"),
    ),
    "label value not a label": (
        tacker_vnfd({"VDU1": minimal_vdu(labels=["app: web server"])}),
        ("VDU1", "labels[0]", "label value 'web server'"),
    ),
    "namespace not a DNS label": (
        tacker_vnfd({"VDU1": minimal_vdu(namespace="My_NS")}),
        ("VDU1", "namespace", "not a valid namespace name"),
    ),
    "VDU name cannot be a label value": (
        tacker_vnfd({"V" * 64: minimal_vdu()}),
        ("V" * 64, None, "label value"),
    ),
    "container names collide": (
        tacker_vnfd(
            {"VDU1": minimal_vdu(vnfcs={"web_app": {"image": "x"}, "web-app": {"image": "y"}})}
        ),
        ("VDU1", "vnfcs.web-app", "both become 'web-app'"),
    ),
    "container name without letters": (
        tacker_vnfd({"VDU1": minimal_vdu(vnfcs={"___": {"image": "x"}})}),
        ("VDU1", "vnfcs.___", "no letters or digits"),
    ),
    "config key not an env name": (
        tacker_vnfd({"VDU1": minimal_vdu(vnfcs={"app": {"image": "x", "config": "9lives: x"}})}),
        ("VDU1", "vnfcs.app.config", "config key '9lives'"),
    ),
    "bad network name": (
        tacker_vnfd(
            {
                "VDU1": minimal_vdu(),
                "CP1": {
                    "type": "tosca.nodes.nfv.CP.Tacker",
                    "requirements": [
                        {"virtualLink": {"node": "VL1"}},
                        {"virtualBinding": {"node": "VDU1"}},
                    ],
                },
                "VL1": {
                    "type": "tosca.nodes.nfv.VL",
                    "properties": {"network_name": "Data_Net", "vendor": "x"},
                },
            }
        ),
        ("VL1", "network_name", "NetworkAttachmentDefinition"),
    ),
    "requirement names a missing node": (
        tacker_vnfd(
            {
                "VDU1": minimal_vdu(),
                "CP1": {
                    "type": "tosca.nodes.nfv.CP.Tacker",
                    "requirements": [{"virtualBinding": {"node": "VDU7"}}],
                },
            }
        ),
        ("CP1", "requirements[0].virtualBinding", "'VDU7' does not exist"),
    ),
    "remote import": (
        {**tacker_vnfd({"VDU1": minimal_vdu()}), "imports": ["https://example.com/types.yaml"]},
        (None, "imports", "cannot import 'https://example.com/types.yaml'"),
    ),
    "unsupported TOSCA version": (
        {**tacker_vnfd({"VDU1": minimal_vdu()}), "tosca_definitions_version": "tosca_2_0"},
        (None, "tosca_definitions_version", "got 'tosca_2_0'"),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tacker_form_errors_are_located(case: str) -> None:
    vnfd, (node, prop, fragment) = CASES[case]
    found_node, found_prop, message = _one(vnfd)
    assert (found_node, found_prop) == (node, prop)
    assert fragment in message


def test_tosca_parser_rejection_is_passed_on_without_traceback() -> None:
    vnfd = tacker_vnfd({"VDU1": minimal_vdu(mapping_ports="80:80")})  # a string, not a list
    [(_, _, message)] = _problems(vnfd)
    assert "80:80" in message and "list" in message
    assert "Traceback" not in message


def test_missing_required_scaling_property_comes_from_tosca_parser() -> None:
    vnfd = tacker_vnfd(
        {"VDU1": minimal_vdu()},
        [{"SP1": {**SCALING, "properties": {"min_instances": 1, "max_instances": 2}}}],
    )
    problems = _problems(vnfd)
    assert any(n == "SP1" and "default_instances" in m for n, _, m in problems), problems


def test_all_problems_are_reported_together_in_a_readable_message() -> None:
    vnfd = tacker_vnfd(
        {"VDU1": minimal_vdu(mapping_ports=["x"], labels=["bad"])},
        _scaling(min_instances=5, max_instances=1),
    )
    with pytest.raises(VnfdError) as caught:
        translate(vnfd, vnf_id=VNF_ID)
    assert len(caught.value.problems) == 3
    text = str(caught.value)
    assert text.splitlines()[0] == "invalid VNFD (3 problems):"
    assert "node 'VDU1' property 'mapping_ports[0]'" in text
    assert "node 'SP1' property 'min_instances'" in text


def test_invalid_yaml_text() -> None:
    [(node, prop, message)] = _problems("topology_template: [unclosed")
    assert (node, prop) == (None, None)
    assert "not valid YAML" in message


@pytest.mark.parametrize("vnf_id", ["", "x" * 64, "has spaces"])
def test_vnf_id_that_cannot_be_a_label_value(vnf_id: str) -> None:
    node, prop, message = _one(load("tacker_sample.yaml"), vnf_id=vnf_id)
    assert (node, prop) == (None, "vnf_id")
    assert "label value" in message


def test_namespace_argument_must_be_a_dns_label() -> None:
    node, prop, _ = _one(tacker_vnfd({"VDU1": minimal_vdu()}), namespace="Bad_Namespace")
    assert (node, prop) == (None, "namespace")


def _sol001(**vdu_props: Any) -> dict[str, Any]:
    import yaml

    tpl = yaml.safe_load(load("sol001_cnf.yaml"))
    tpl["topology_template"]["node_templates"]["VDU2"]["properties"].update(vdu_props)
    return tpl


def test_sol001_min_greater_than_max() -> None:
    vnfd = _sol001(vdu_profile={"min_number_of_instances": 3, "max_number_of_instances": 1})
    problems = _problems(vnfd)
    assert ("VDU2", "vdu_profile.min_number_of_instances", "min 3 > max 1") in problems


def test_sol001_unknown_property_and_missing_image() -> None:
    vnfd = _sol001(flavour="big")
    del vnfd["topology_template"]["node_templates"]["VDU2"]["properties"]["sw_image_data"]
    problems = {(n, p) for n, p, _ in _problems(vnfd)}
    assert problems == {("VDU2", "flavour"), ("VDU2", "artifacts.sw_image")}


def test_sol001_unknown_aspect_and_unknown_target() -> None:
    import yaml

    tpl = yaml.safe_load(load("sol001_cnf.yaml"))
    policies = tpl["topology_template"]["policies"]
    for entry in policies:
        if "vdu1_scaling_aspect_deltas" in entry:
            entry["vdu1_scaling_aspect_deltas"]["properties"]["aspect"] = "nope"
        if "vdu2_initial_delta" in entry:
            entry["vdu2_initial_delta"]["targets"] = ["VDU9"]
    problems = {(n, p) for n, p, _ in _problems(tpl)}
    assert problems == {("vdu1_scaling_aspect_deltas", "aspect"), ("vdu2_initial_delta", "targets")}


def test_sol001_unknown_node_type() -> None:
    import yaml

    tpl = yaml.safe_load(load("sol001_cnf.yaml"))
    tpl["topology_template"]["node_templates"]["Disk"] = {
        "type": "tosca.nodes.nfv.Vdu.VirtualBlockStorage"
    }
    node, prop, message = _one(tpl)
    assert (node, prop) == ("Disk", "type")
    assert "not supported" in message
