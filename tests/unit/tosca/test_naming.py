"""Object names: deterministic, valid DNS, unique, never plainly truncated."""

from __future__ import annotations

import re

from k8s_worker.tosca import translate
from k8s_worker.tosca.naming import DEPLOYMENT_NAME_MAX, object_name
from tests.unit.tosca.conftest import OTHER_VNF_ID, VNF_ID, minimal_vdu, tacker_vnfd

DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def test_lowercase_vdu_name_gives_readable_lossless_name() -> None:
    assert object_name(vnf_id=VNF_ID, parts=("web",), max_len=47) == f"web-{VNF_ID}"


def test_names_that_would_collide_under_lowercasing_or_truncation_differ() -> None:
    long_a = "frontend-" + "a" * 60 + "-one"
    long_b = "frontend-" + "a" * 60 + "-two"
    vdus = ["VDU_1", "vdu-1", "Vdu-1", long_a, long_b, "1st", "x"]
    names = {object_name(vnf_id=VNF_ID, parts=(v,), max_len=47) for v in vdus}
    assert len(names) == len(vdus)
    for name in names:
        assert DNS1035.match(name) and len(name) <= 47, name


def test_container_and_vdu_parts_are_not_ambiguous() -> None:
    first = object_name(vnf_id=VNF_ID, parts=("a-b", "c"))
    second = object_name(vnf_id=VNF_ID, parts=("a", "b-c"))
    assert first != second


def test_multi_vdu_names_are_valid_and_within_limits() -> None:
    vdus = {f"VNF_Component_With_A_Rather_Long_Name_{i:02d}": minimal_vdu() for i in range(20)}
    vdus["1-starts-with-digit"] = minimal_vdu(mapping_ports=["80:80"])
    result = translate(tacker_vnfd(vdus), vnf_id=VNF_ID)

    names = [o["metadata"]["name"] for o in result.objects if o["kind"] == "Deployment"]
    assert len(set(names)) == 21
    assert all(DNS1035.match(n) and len(n) <= DEPLOYMENT_NAME_MAX for n in names)
    [service] = [o for o in result.objects if o["kind"] == "Service"]
    assert DNS1035.match(service["metadata"]["name"])


def test_same_vdu_in_two_vnfs_gets_different_names() -> None:
    vnfd = tacker_vnfd({"VDU1": minimal_vdu()})
    first = translate(vnfd, vnf_id=VNF_ID).vdus[0].deployment_name
    second = translate(vnfd, vnf_id=OTHER_VNF_ID).vdus[0].deployment_name
    assert first != second
    assert translate(vnfd, vnf_id=VNF_ID).vdus[0].deployment_name == first
