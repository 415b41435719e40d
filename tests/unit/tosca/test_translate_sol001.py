"""Translation of the ETSI SOL001 form (Tacker v2 CNF style)."""

from __future__ import annotations

from k8s_worker.tosca import LABEL_VDU, translate
from tests.unit.tosca.conftest import VNF_ID, load


def test_each_vdu_compute_becomes_a_deployment_at_the_default_level() -> None:
    result = translate(load("sol001_cnf.yaml"), vnf_id=VNF_ID, namespace="cnf")

    vdus = {v.name: v for v in result.vdus}
    assert (vdus["VDU1"].min_replicas, vdus["VDU1"].max_replicas) == (1, 5)
    assert vdus["VDU1"].default_replicas == 2  # instantiation_level_2 is the default level
    assert vdus["VDU2"].default_replicas == 2  # from its initial delta
    deployments = {
        d["metadata"]["labels"][LABEL_VDU]: d for d in result.objects if d["kind"] == "Deployment"
    }
    assert set(deployments) == {"VDU1", "VDU2"}
    assert deployments["VDU1"]["spec"]["replicas"] == 2
    [container] = deployments["VDU1"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "nginx:1.25"  # get_input default
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "512M"}
    [vdu2] = deployments["VDU2"]["spec"]["template"]["spec"]["containers"]
    assert vdu2["image"] == "busybox:1.36"
    assert all(o["metadata"]["namespace"] == "cnf" for o in result.objects)


def test_scaling_aspect_steps_map_to_replica_deltas() -> None:
    result = translate(load("sol001_cnf.yaml"), vnf_id=VNF_ID)
    aspect = result.policies.scaling_policy("vdu1_aspect")

    assert aspect.targets == ("VDU1",)
    assert aspect.max_scale_level == 2
    assert aspect.increment == 1
    assert aspect.increment_for("VDU1", level=0) == 1
    assert aspect.increment_for("VDU1", level=1) == 2
    assert (aspect.min_instances, aspect.max_instances) == (1, 5)


def test_instantiation_levels_are_exposed() -> None:
    result = translate(load("sol001_cnf.yaml"), vnf_id=VNF_ID)

    assert result.default_instantiation_level == "instantiation_level_2"
    assert result.instantiation_levels == {
        "instantiation_level_1": {"VDU1": 1},
        "instantiation_level_2": {"VDU1": 2},
    }


def test_params_override_sol001_inputs() -> None:
    result = translate(load("sol001_cnf.yaml"), vnf_id=VNF_ID, params={"web_image": "nginx:2"})
    deployment = next(o for o in result.objects if o["metadata"]["labels"][LABEL_VDU] == "VDU1")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
