"""Reader of the ETSI SOL001 VNFD form used by Tacker's v2 CNF support.

Each ``tosca.nodes.nfv.Vdu.Compute`` becomes one Deployment: replicas bounded by
its ``vdu_profile``, the default from the default instantiation level (else the
initial delta, else the minimum), the image from its ``sw_image`` artifact (or
``sw_image_data.name``) and resources from its ``virtual_compute`` capability.
``ScalingAspects`` with ``VduScalingAspectDeltas`` become one scaling policy per
aspect whose steps are replica deltas.

The ETSI type files are not bundled: ``imports`` are not fetched, and the known
SOL001 types are checked here directly (as Tacker v2 does), so the descriptor's
own file is all that is read.
"""

from __future__ import annotations

from typing import Any

from k8s_worker.tosca import naming, values
from k8s_worker.tosca.errors import ProblemCollector
from k8s_worker.tosca.model import ContainerSpec, VduSpec, VnfModel
from k8s_worker.tosca.policies import Policies, ScalingPolicy

VERSIONS = ("tosca_simple_yaml_1_2", "tosca_simple_yaml_1_3")
VDU_TYPE = "tosca.nodes.nfv.Vdu.Compute"
VDU_PROPERTIES = frozenset(
    {
        "name",
        "description",
        "vdu_profile",
        "sw_image_data",
        "boot_order",
        "nfvi_constraints",
        "monitoring_parameters",
        "logical_node",
        "requested_additional_capabilities",
        "boot_data",
    }
)
IGNORED_NODE_TYPES = frozenset(
    {"tosca.nodes.nfv.VduCp", "tosca.nodes.nfv.VnfExtCp", "tosca.nodes.nfv.VnfVirtualLink"}
)
IGNORED_POLICY_TYPES = frozenset(
    {
        "tosca.policies.nfv.VirtualLinkInstantiationLevels",
        "tosca.policies.nfv.VirtualLinkBitrateInitialDelta",
        "tosca.policies.nfv.SupportedVnfInterface",
        "tosca.policies.nfv.SecurityGroupRule",
        "tosca.policies.nfv.AffinityRule",
        "tosca.policies.nfv.AntiAffinityRule",
    }
)
_TEMPLATE_KEYS = frozenset(
    {
        "tosca_definitions_version",
        "description",
        "metadata",
        "imports",
        "node_types",
        "data_types",
        "policy_types",
        "topology_template",
        "dsl_definitions",
        "repositories",
        "capability_types",
        "interface_types",
        "relationship_types",
        "artifact_types",
        "group_types",
    }
)


def is_sol001(tpl: dict[str, Any]) -> bool:
    return tpl.get("tosca_definitions_version") in VERSIONS


class _Reader:
    def __init__(
        self,
        tpl: dict[str, Any],
        params: dict[str, Any],
        out: ProblemCollector,
        *,
        images: bool = True,
    ) -> None:
        self.images = images
        self.tpl = tpl
        self.params = params
        self.out = out
        topology = tpl.get("topology_template") or {}
        self.inputs: dict[str, Any] = topology.get("inputs") or {}

    def value(self, raw: Any, node: str, prop: str) -> Any:
        """``raw`` with ``get_input`` resolved from params or the input's default."""
        if isinstance(raw, dict) and set(raw) == {"get_input"}:
            name = raw["get_input"]
            if name in self.params:
                return self.params[name]
            if isinstance(self.inputs.get(name), dict) and "default" in self.inputs[name]:
                return self.inputs[name]["default"]
            self.out.add(node, prop, f"input {name!r} has no value and no default")
            return None
        if isinstance(raw, dict):
            return {k: self.value(v, node, f"{prop}.{k}") for k, v in raw.items()}
        if isinstance(raw, list):
            return [self.value(v, node, f"{prop}[{i}]") for i, v in enumerate(raw)]
        return raw

    def vnf_types(self) -> set[str]:
        own = self.tpl.get("node_types") or {}
        return {
            name
            for name, spec in own.items()
            if isinstance(spec, dict) and spec.get("derived_from") == "tosca.nodes.nfv.VNF"
        }

    def integer(self, node: str, prop: str, raw: Any, *, minimum: int = 0) -> int | None:
        value = self.value(raw, node, prop)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.out.add(node, prop, f"expected an integer >= {minimum}, got {value!r}")
            return None
        return value

    def vdu(self, name: str, node: dict[str, Any]) -> tuple[VduSpec, dict[str, int]] | None:
        props = self.value(node.get("properties") or {}, name, "properties")
        for key in sorted(set(props) - VDU_PROPERTIES):
            self.out.add(name, key, f"unknown property of {VDU_TYPE}")
        if not naming.is_label_value(name):
            self.out.add(name, None, "a VDU name must be a valid label value (<= 63 characters)")
        profile = props.get("vdu_profile")
        if not isinstance(profile, dict):
            self.out.add(
                name, "vdu_profile", "expected min_number_of_instances and max_number_of_instances"
            )
            return None
        low = self.integer(
            name, "vdu_profile.min_number_of_instances", profile.get("min_number_of_instances")
        )
        high = self.integer(
            name, "vdu_profile.max_number_of_instances", profile.get("max_number_of_instances")
        )
        if low is None or high is None:
            return None
        if low > high:
            self.out.add(name, "vdu_profile.min_number_of_instances", f"min {low} > max {high}")
        artifacts = self.value(node.get("artifacts") or {}, name, "artifacts")
        image_artifact = artifacts.get("sw_image") if isinstance(artifacts, dict) else None
        image = image_artifact.get("file") if isinstance(image_artifact, dict) else image_artifact
        if not image and isinstance(props.get("sw_image_data"), dict):
            image = props["sw_image_data"].get("name")
        if not image and self.images:
            self.out.add(
                name, "artifacts.sw_image", "a container VDU needs an image (sw_image file)"
            )
        compute = (node.get("capabilities") or {}).get("virtual_compute") or {}
        compute = self.value(compute.get("properties") or {}, name, "virtual_compute")
        cpu = mem = None
        num_cpu = (compute.get("virtual_cpu") or {}).get("num_virtual_cpu")
        mem_size = (compute.get("virtual_memory") or {}).get("virtual_mem_size")
        try:
            cpu = values.cpu_quantity(num_cpu) if num_cpu is not None else None
        except ValueError as exc:
            self.out.add(name, "virtual_compute.virtual_cpu.num_virtual_cpu", str(exc))
        try:
            mem = values.memory_quantity(mem_size) if mem_size is not None else None
        except ValueError as exc:
            self.out.add(name, "virtual_compute.virtual_memory.virtual_mem_size", str(exc))
        container = naming.container_name(str(props.get("name") or name)) or "main"
        spec = VduSpec(
            name=name,
            containers=(
                ContainerSpec(
                    name=container, source_name=name, image=str(image), cpu=cpu, memory=mem
                ),
            )
            if self.images
            else (),
            min_replicas=low,
            max_replicas=high,
            default_replicas=low,
            workload=None if self.images else str(props.get("name") or name),
        )
        return spec, {"min": low, "max": high}

    def targets(self, policy: str, raw: Any, vdus: dict[str, Any]) -> list[str]:
        if not isinstance(raw, list) or not raw:
            self.out.add(policy, "targets", "expected a list of target VDUs")
            return []
        found = []
        for target in raw:
            if target in vdus:
                found.append(target)
            else:
                self.out.add(
                    policy,
                    "targets",
                    f"target {target!r} is not a VDU of this descriptor "
                    f"(VDUs: {', '.join(sorted(vdus)) or 'none'})",
                )
        return found

    def read(self) -> VnfModel:
        for key in sorted(set(self.tpl) - _TEMPLATE_KEYS):
            self.out.add(None, key, "unknown top-level section of a TOSCA template")
        topology = self.tpl.get("topology_template") or {}
        nodes = topology.get("node_templates") or {}
        vnf_types = self.vnf_types()
        specs: dict[str, VduSpec] = {}
        for name, node in nodes.items():
            node_type = node.get("type") if isinstance(node, dict) else None
            if node_type == VDU_TYPE:
                result = self.vdu(name, node)
                if result is not None:
                    specs[name] = result[0]
            elif node_type in IGNORED_NODE_TYPES or node_type == "tosca.nodes.nfv.VNF":
                continue
            elif node_type in vnf_types or str(node_type).endswith(".VNF"):
                continue
            else:
                self.out.add(
                    name,
                    "type",
                    f"node type {node_type!r} is not supported (expected {VDU_TYPE}, "
                    "VduCp, VnfExtCp, VnfVirtualLink or the VNF node)",
                )
        if not any(isinstance(n, dict) and n.get("type") == VDU_TYPE for n in nodes.values()):
            self.out.add(None, "node_templates", f"the descriptor has no {VDU_TYPE} node")
        return self.policies(specs, topology.get("policies") or [])

    def policies(self, specs: dict[str, VduSpec], raw_policies: list[Any]) -> VnfModel:
        aspects: dict[str, dict[str, Any]] = {}
        deltas: dict[str, dict[str, list[int]]] = {}  # aspect -> vdu -> per-step deltas
        initial: dict[str, int] = {}
        levels: dict[str, dict[str, int]] = {}  # level -> vdu -> replicas
        level_names: list[str] = []
        default_level: str | None = None
        pending_deltas: list[tuple[str, str, dict[str, Any], list[str]]] = []
        for entry in raw_policies:
            for pname, policy in (entry or {}).items():
                ptype = policy.get("type")
                props = self.value(policy.get("properties") or {}, pname, "properties")
                if ptype == "tosca.policies.nfv.ScalingAspects":
                    for aspect_id, aspect in (props.get("aspects") or {}).items():
                        aspects[aspect_id] = aspect or {}
                elif ptype == "tosca.policies.nfv.VduScalingAspectDeltas":
                    targets = self.targets(pname, policy.get("targets"), specs)
                    pending_deltas.append((pname, str(props.get("aspect")), props, targets))
                elif ptype == "tosca.policies.nfv.VduInitialDelta":
                    count = self.integer(
                        pname,
                        "initial_delta.number_of_instances",
                        (props.get("initial_delta") or {}).get("number_of_instances"),
                    )
                    for target in self.targets(pname, policy.get("targets"), specs):
                        if count is not None:
                            initial[target] = count
                elif ptype == "tosca.policies.nfv.InstantiationLevels":
                    level_names.extend((props.get("levels") or {}).keys())
                    default_level = props.get("default_level")
                elif ptype == "tosca.policies.nfv.VduInstantiationLevels":
                    targets = self.targets(pname, policy.get("targets"), specs)
                    for level, spec in (props.get("levels") or {}).items():
                        count = self.integer(
                            pname,
                            f"levels.{level}.number_of_instances",
                            (spec or {}).get("number_of_instances"),
                        )
                        for target in targets:
                            if count is not None:
                                levels.setdefault(level, {})[target] = count
                elif ptype not in IGNORED_POLICY_TYPES:
                    self.out.add(pname, "type", f"policy type {ptype!r} is not supported")

        for pname, aspect_id, props, targets in pending_deltas:
            aspect = aspects.get(aspect_id)
            if aspect is None:
                self.out.add(
                    pname,
                    "aspect",
                    f"aspect {aspect_id!r} is not defined by a ScalingAspects policy",
                )
                continue
            known = props.get("deltas") or {}
            steps = aspect.get("step_deltas") or []
            per_step = []
            for step in steps:
                if step not in known:
                    self.out.add(
                        pname, "deltas", f"step delta {step!r} of aspect {aspect_id!r} is missing"
                    )
                    continue
                count = self.integer(
                    pname,
                    f"deltas.{step}.number_of_instances",
                    (known[step] or {}).get("number_of_instances"),
                    minimum=1,
                )
                if count is not None:
                    per_step.append(count)
            for target in targets:
                deltas.setdefault(aspect_id, {})[target] = per_step

        if default_level is not None and level_names and default_level not in level_names:
            self.out.add(None, "default_level", f"{default_level!r} is not an instantiation level")
        for level in levels:
            if level_names and level not in level_names:
                self.out.add(
                    None, f"levels.{level}", "not an instantiation level of InstantiationLevels"
                )

        resolved_specs: list[VduSpec] = []
        for name, spec in specs.items():
            default = levels.get(default_level or "", {}).get(
                name, initial.get(name, spec.min_replicas)
            )
            if not spec.min_replicas <= default <= spec.max_replicas:
                self.out.add(
                    name,
                    "vdu_profile",
                    f"initial replicas {default} are outside min..max "
                    f"({spec.min_replicas}..{spec.max_replicas})",
                )
            resolved_specs.append(VduSpec(**{**spec.__dict__, "default_replicas": default}))
        by_name = {s.name: s for s in resolved_specs}

        scaling = []
        for aspect_id, aspect in aspects.items():
            per_vdu = deltas.get(aspect_id, {})
            if not per_vdu:
                continue
            first = next(iter(per_vdu))
            max_level = aspect.get("max_scale_level")
            if not isinstance(max_level, int) or isinstance(max_level, bool) or max_level < 0:
                self.out.add(
                    aspect_id, "max_scale_level", f"expected an integer >= 0, got {max_level!r}"
                )
                max_level = 0
            spec = by_name[first]
            scaling.append(
                ScalingPolicy(
                    name=aspect_id,
                    targets=tuple(per_vdu),
                    min_instances=spec.min_replicas,
                    max_instances=spec.max_replicas,
                    default_instances=spec.default_replicas,
                    increment=per_vdu[first][0] if per_vdu[first] else 1,
                    cooldown_seconds=0,
                    max_scale_level=max_level,
                    step_deltas=tuple((vdu, tuple(d)) for vdu, d in per_vdu.items()),
                )
            )
        return VnfModel(
            vdus=tuple(resolved_specs),
            policies=Policies(scaling=tuple(scaling)),
            instantiation_levels=tuple((level, tuple(levels[level].items())) for level in levels),
            default_instantiation_level=default_level,
        )


def read_sol001_form(
    tpl: dict[str, Any],
    *,
    params: dict[str, Any] | None,
    out: ProblemCollector,
    images: bool = True,
) -> VnfModel:
    """Build the model of a SOL001 VNFD given as a parsed YAML mapping
    (``images=False``: a package's, whose VDUs' pods come from its manifests)."""
    return _Reader(tpl, dict(params or {}), out, images=images).read()
