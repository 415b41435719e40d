"""Helpers for the TOSCA translation tests: sample descriptors and builders."""

from __future__ import annotations

import copy
import pathlib
from collections.abc import Callable
from typing import Any

import pytest
import yaml

DATA = pathlib.Path(__file__).parent / "data"
VNF_ID = "0b6a1b5e-5b0e-4d6c-9c1f-2f0e8c3a7d11"
OTHER_VNF_ID = "7c1d2e3f-4a5b-4c6d-8e7f-901234567890"


def load(name: str) -> str:
    return (DATA / name).read_text()


def minimal_vdu(**props: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"vnfcs": {"app": {"image": "nginx:1.25"}}}
    base.update(props)
    return {"type": "tosca.nodes.nfv.VDU.Tacker", "properties": base}


def tacker_vnfd(
    nodes: dict[str, Any], policies: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    tpl: dict[str, Any] = {
        "tosca_definitions_version": "tosca_simple_profile_for_nfv_1_0_0",
        "topology_template": {"node_templates": copy.deepcopy(nodes)},
    }
    if policies:
        tpl["topology_template"]["policies"] = copy.deepcopy(policies)
    return tpl


@pytest.fixture
def sample() -> Callable[[str], dict[str, Any]]:
    """A sample descriptor from data/ as a fresh dict (tests may mutate it)."""
    return lambda name: yaml.safe_load(load(name))
