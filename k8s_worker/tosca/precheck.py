"""Structural checks of Tacker's form that run before tosca-parser.

tosca-parser reports some defects without saying where (an unknown node type,
a bad field inside one ``vnfcs`` entry, a policy target that does not exist) or
fails with an internal error (an unknown policy type). These checks catch those
cases first and name the node and property; tosca-parser still validates the rest.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any

import yaml

from k8s_worker.tosca.errors import ProblemCollector
from k8s_worker.tosca.parser import TYPES_FILE

VNFC_TYPE = "tosca.datatypes.nfv.VnfcConfigurableProperties"
VDU_TYPE = "tosca.nodes.nfv.VDU.Tacker"
BUILTIN_NODE_TYPES = frozenset({"tosca.nodes.nfv.VL"})
_VNFC_KINDS: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "number": numbers.Number,
    "list": list,
}


@functools.cache
def _types() -> dict[str, Any]:
    return yaml.safe_load(TYPES_FILE.read_text())


def _known(section: str, tpl: dict[str, Any]) -> set[str]:
    return set(_types().get(section) or {}) | set(tpl.get(section) or {})


def _check_vnfcs(node: str, vnfcs: Any, out: ProblemCollector) -> None:
    if not isinstance(vnfcs, dict):
        return  # tosca-parser reports the wrong type with the node name
    schema = _types()["data_types"][VNFC_TYPE]["properties"]
    for name, vnfc in vnfcs.items():
        where = f"vnfcs.{name}"
        if not isinstance(vnfc, dict):
            out.add(node, where, f"expected a map of {', '.join(schema)}, got {vnfc!r}")
            continue
        for key in vnfc:
            if key not in schema:
                out.add(
                    node, f"{where}.{key}", f"unknown field; expected one of {', '.join(schema)}"
                )
        for key, spec in schema.items():
            if key not in vnfc:
                if spec.get("required"):
                    out.add(node, f"{where}.{key}", "is required")
                continue
            value, kind = vnfc[key], _VNFC_KINDS.get(spec["type"])
            if isinstance(value, dict) and len(value) == 1 and "get_input" in value:
                continue
            if kind and (isinstance(value, bool) or not isinstance(value, kind)):
                out.add(node, f"{where}.{key}", f"expected a {spec['type']}, got {value!r}")


def precheck_tacker_form(tpl: dict[str, Any], *, out: ProblemCollector) -> None:
    """Add a located problem for each structural defect tosca-parser would misreport."""
    topology = tpl.get("topology_template") or {}
    nodes = topology.get("node_templates") or {}
    if not isinstance(nodes, dict):
        out.add(None, "node_templates", "expected a map of node templates")
        return
    node_types = _known("node_types", tpl) | BUILTIN_NODE_TYPES
    for name, node in nodes.items():
        node_type = node.get("type") if isinstance(node, dict) else None
        if node_type not in node_types:
            out.add(
                name,
                "type",
                f"unknown node type {node_type!r}; expected one of {', '.join(sorted(node_types))}",
            )
            continue
        for index, requirement in enumerate(node.get("requirements") or []):
            for req_name, target in (requirement or {}).items():
                target_name = target.get("node") if isinstance(target, dict) else target
                if target_name not in nodes:
                    out.add(
                        name,
                        f"requirements[{index}].{req_name}",
                        f"node {target_name!r} does not exist",
                    )
        if node_type == VDU_TYPE:
            _check_vnfcs(name, (node.get("properties") or {}).get("vnfcs"), out)

    policy_types = _known("policy_types", tpl)
    policies = topology.get("policies") or []
    if not isinstance(policies, list):
        out.add(None, "policies", "expected a list of {name: policy} maps")
        return
    for entry in policies:
        for name, policy in (entry or {}).items() if isinstance(entry, dict) else ():
            policy_type = policy.get("type") if isinstance(policy, dict) else None
            if policy_type not in policy_types:
                out.add(
                    name,
                    "type",
                    f"unknown policy type {policy_type!r}; "
                    f"expected one of {', '.join(sorted(policy_types))}",
                )
                continue
            for target in policy.get("targets") or []:
                if target not in nodes:
                    out.add(
                        name,
                        "targets",
                        f"target {target!r} is not a node of this descriptor "
                        f"(nodes: {', '.join(nodes)})",
                    )
