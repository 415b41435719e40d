"""Reader of Tacker's containerized VNFD form (``tosca.nodes.nfv.VDU.Tacker``).

Turns a tosca-parser :class:`ToscaTemplate` into the form-independent
:class:`VnfModel`, checking every value tosca-parser cannot check (port strings,
sizes, labels, names, scaling bounds, policy targets) and reporting each defect
with its node and property.
"""

from __future__ import annotations

from typing import Any

from toscaparser.tosca_template import ToscaTemplate

from k8s_worker.tosca import naming, values
from k8s_worker.tosca.errors import ProblemCollector
from k8s_worker.tosca.labels import OWNERSHIP_KEYS
from k8s_worker.tosca.model import ContainerSpec, NetworkAttachment, VduSpec, VnfModel
from k8s_worker.tosca.parser import resolved
from k8s_worker.tosca.policies import (
    HEAL_ACTIONS,
    AlarmAction,
    AlarmTrigger,
    HealPolicy,
    Policies,
    ScalingPolicy,
)

VDU_TYPE = "tosca.nodes.nfv.VDU.Tacker"
CP_TYPE = "tosca.nodes.nfv.CP.Tacker"
VL_TYPE = "tosca.nodes.nfv.VL"
SCALING_TYPE = "tosca.policies.tacker.Scaling"
ALARMING_TYPE = "tosca.policies.tacker.Alarming"
MONITORING_TYPE = "tosca.policies.tacker.Monitoring"
FAILURE_ACTIONS = {
    "tosca.policies.tacker.Failure.Respawn": "respawn",
    "tosca.policies.tacker.Failure.Log": "log",
    "tosca.policies.tacker.Failure.Terminate": "log_and_kill",
}
SERVICE_TYPES = {"clusterip": "ClusterIP", "nodeport": "NodePort", "loadbalancer": "LoadBalancer"}
_SUPPORTED_NODE_TYPES = (VDU_TYPE, CP_TYPE, VL_TYPE)


def _props(node: Any, tosca: ToscaTemplate) -> dict[str, Any]:
    return {
        p.name: resolved(p.value, tosca=tosca, node=node) for p in node.get_properties_objects()
    }


def _is_a(node: Any, type_name: str) -> bool:
    return node.is_derived_from(type_name)


def _containers(vdu: str, vnfcs: Any, out: ProblemCollector) -> tuple[ContainerSpec, ...]:
    if not isinstance(vnfcs, dict) or not vnfcs:
        out.add(vdu, "vnfcs", "expected a map of at least one container (name: {image, ...})")
        return ()
    specs = []
    seen: dict[str, str] = {}
    for key, vnfc in vnfcs.items():
        where = f"vnfcs.{key}"
        name = naming.container_name(str(key))
        if not name:
            out.add(vdu, where, f"container name {key!r} has no letters or digits to form a name")
            continue
        if name in seen:
            out.add(vdu, where, f"container names {seen[name]!r} and {key!r} both become {name!r}")
            continue
        seen[name] = str(key)
        vnfc = vnfc or {}
        cpu = mem = None
        config: tuple[tuple[str, str], ...] = ()
        ports: list[tuple[int, str]] = []
        try:
            cpu = values.cpu_quantity(vnfc["num_cpus"]) if "num_cpus" in vnfc else None
        except ValueError as exc:
            out.add(vdu, f"{where}.num_cpus", str(exc))
        try:
            mem = values.memory_quantity(vnfc["mem_size"]) if "mem_size" in vnfc else None
        except ValueError as exc:
            out.add(vdu, f"{where}.mem_size", str(exc))
        for index, port in enumerate(vnfc.get("ports") or []):
            try:
                ports.append(values.container_port(port))
            except ValueError as exc:
                out.add(vdu, f"{where}.ports[{index}]", str(exc))
        try:
            config = values.config_entries(vnfc["config"]) if vnfc.get("config") else ()
        except ValueError as exc:
            out.add(vdu, f"{where}.config", str(exc))
        specs.append(
            ContainerSpec(
                name=name,
                source_name=str(key),
                image=str(vnfc.get("image")),
                command=tuple(str(c) for c in vnfc.get("command") or ()),
                args=tuple(str(a) for a in vnfc.get("args") or ()),
                ports=tuple(ports),
                cpu=cpu,
                memory=mem,
                config=config,
            )
        )
    return tuple(specs)


def _user_labels(vdu: str, raw: Any, out: ProblemCollector) -> tuple[tuple[str, str], ...]:
    labels: dict[str, str] = {}
    for index, entry in enumerate(raw or []):
        where = f"labels[{index}]"
        try:
            key, value = values.label_pair(entry)
        except ValueError as exc:
            out.add(vdu, where, str(exc))
            continue
        if key in OWNERSHIP_KEYS:
            out.add(vdu, where, f"label {key!r} is reserved for the worker's ownership labels")
            continue
        if problem := naming.label_key_problem(key):
            out.add(vdu, where, f"label key {key!r} is invalid: {problem}")
            continue
        if not naming.is_label_value(value):
            out.add(
                vdu,
                where,
                f"label value {value!r} must be at most 63 letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit",
            )
            continue
        labels[key] = value
    return tuple(labels.items())


def _service(vdu: str, props: dict[str, Any], out: ProblemCollector) -> tuple[Any, str]:
    mappings = []
    seen: set[tuple[int, str]] = set()
    for index, text in enumerate(props.get("mapping_ports") or []):
        try:
            mapping = values.port_mapping(text)
        except ValueError as exc:
            out.add(vdu, f"mapping_ports[{index}]", str(exc))
            continue
        if (mapping.published, mapping.protocol) in seen:
            out.add(vdu, f"mapping_ports[{index}]", f"port {text!r} is published twice")
            continue
        seen.add((mapping.published, mapping.protocol))
        mappings.append(mapping)
    raw_type = props.get("service_type") or "ClusterIP"
    service_type = SERVICE_TYPES.get(str(raw_type).lower())
    if service_type is None:
        out.add(
            vdu,
            "service_type",
            f"expected one of ClusterIP, NodePort, LoadBalancer, got {raw_type!r}",
        )
        service_type = "ClusterIP"
    return tuple(mappings), service_type


def _networks(tosca: ToscaTemplate, out: ProblemCollector) -> dict[str, list[NetworkAttachment]]:
    """CP -> VL bindings of non-management CPs, per VDU name."""
    by_vdu: dict[str, list[NetworkAttachment]] = {}
    for cp in tosca.nodetemplates:
        if cp.type != CP_TYPE:
            continue
        props = _props(cp, tosca)
        vdu_name = link = None
        for rel, target in cp.relationships.items():
            if rel.is_derived_from("tosca.relationships.nfv.VirtualBindsTo"):
                vdu_name = target.name
                if not _is_a(target, VDU_TYPE):
                    out.add(cp.name, "virtualBinding", f"{target.name!r} is not a {VDU_TYPE}")
            elif rel.is_derived_from("tosca.relationships.nfv.VirtualLinksTo"):
                link = target
        if vdu_name is None or link is None or props.get("management"):
            continue  # management CPs use the pod's primary network
        network = resolved(link.get_property_value("network_name"), tosca=tosca, node=link)
        if not network:
            out.add(link.name, "network_name", "a VL bound to a non-management CP needs a network")
            continue
        ns, _, name = str(network).rpartition("/")
        if not naming.is_dns1123_subdomain(name) or (ns and not naming.is_dns1123_label(ns)):
            out.add(
                link.name,
                "network_name",
                f"{network!r} is not a NetworkAttachmentDefinition name ([namespace/]dns-name)",
            )
            continue
        by_vdu.setdefault(vdu_name, []).append(
            NetworkAttachment(
                cp=cp.name, network=name, namespace=ns or None, mac=props.get("mac_address")
            )
        )
    return by_vdu


def _targets(
    policy: Any, vdus: set[str], out: ProblemCollector, *, extra: list[Any] | None = None
) -> tuple[str, ...]:
    raw = list(policy.targets or []) + list(extra or [])
    targets = []
    for target in raw:
        if target not in vdus:
            out.add(
                policy.name,
                "targets",
                f"target {target!r} is not a VDU of this descriptor "
                f"(VDUs: {', '.join(sorted(vdus)) or 'none'})",
            )
        elif target not in targets:
            targets.append(target)
    if not raw:
        out.add(policy.name, "targets", "expected at least one target VDU")
    return tuple(targets)


def _int_prop(policy: str, props: dict[str, Any], key: str, out: ProblemCollector) -> int:
    value = props.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        out.add(policy, key, f"expected a non-negative integer, got {value!r}")
        return 0
    return value


def _scaling(
    policy: Any, vdus: set[str], out: ProblemCollector, *, tosca: ToscaTemplate
) -> ScalingPolicy:
    props = resolved(dict(policy.properties or {}), tosca=tosca)
    targets = _targets(policy, vdus, out, extra=props.get("targets"))
    low, high = (_int_prop(policy.name, props, k, out) for k in ("min_instances", "max_instances"))
    default = _int_prop(policy.name, props, "default_instances", out)
    increment = _int_prop(policy.name, props, "increment", out)
    cooldown = props.get("cooldown", 120)
    if low > high:
        out.add(policy.name, "min_instances", f"min_instances {low} > max_instances {high}")
    elif not low <= default <= high:
        out.add(
            policy.name,
            "default_instances",
            f"default_instances {default} is outside min_instances..max_instances ({low}..{high})",
        )
    if increment < 1 and "increment" in props:
        out.add(policy.name, "increment", "increment must be at least 1")
    if not isinstance(cooldown, int) or cooldown < 0:
        out.add(policy.name, "cooldown", f"expected seconds >= 0, got {cooldown!r}")
        cooldown = 0
    cpu = props.get("target_cpu_utilization_percentage")
    if cpu is not None and not (isinstance(cpu, int) and 1 <= cpu <= 100):
        out.add(policy.name, "target_cpu_utilization_percentage", f"expected 1-100, got {cpu!r}")
    return ScalingPolicy(
        name=policy.name,
        targets=targets,
        min_instances=low,
        max_instances=high,
        default_instances=default,
        increment=increment,
        cooldown_seconds=cooldown,
        target_cpu_utilization_percentage=cpu,
    )


def _alarm_action(
    where: tuple[str, str],
    action: Any,
    comparison: str | None,
    scaling: set[str],
    out: ProblemCollector,
) -> AlarmAction | None:
    text = str(action)
    if text in HEAL_ACTIONS:
        return AlarmAction(kind="heal", action=text)
    policy, direction = text, None
    for suffix in ("out", "in"):
        if text.endswith(f"-{suffix}") and text[: -len(suffix) - 1] in scaling:
            policy, direction = text[: -len(suffix) - 1], suffix
    if policy not in scaling:
        out.add(
            where[0],
            where[1],
            f"action {text!r} is neither a scaling policy ({', '.join(sorted(scaling)) or 'none'})"
            f" nor one of {', '.join(HEAL_ACTIONS)}",
        )
        return None
    if direction is None:
        direction = "in" if (comparison or "").lower() in ("lt", "le") else "out"
    return AlarmAction(kind="scale", policy=policy, direction=direction)


def _alarms(
    policy: Any,
    vdus: set[str],
    scaling: set[str],
    out: ProblemCollector,
    *,
    tosca: ToscaTemplate,
) -> list[AlarmTrigger]:
    triggers = (policy.entity_tpl or {}).get("triggers") or {}
    if not triggers:
        out.add(policy.name, "triggers", "an Alarming policy needs at least one trigger")
    policy_targets = _targets(policy, vdus, out) if policy.targets else ()
    result = []
    for name, trigger in resolved(triggers, tosca=tosca).items():
        where = f"triggers.{name}"
        condition = trigger.get("condition") or {}
        metadata = trigger.get("metadata")
        targets = policy_targets
        if metadata is not None:
            if metadata not in vdus:
                out.add(policy.name, f"{where}.metadata", f"{metadata!r} is not a VDU")
            else:
                targets = (metadata,)
        if not targets:
            out.add(policy.name, where, "name the VDU in the policy's targets or in metadata")
        raw_actions = trigger.get("action")
        raw_actions = raw_actions if isinstance(raw_actions, list) else [raw_actions]
        comparison = condition.get("comparison_operator")
        actions = [
            _alarm_action((policy.name, f"{where}.action"), a, comparison, scaling, out)
            for a in raw_actions
            if a is not None
        ]
        if not actions:
            out.add(policy.name, f"{where}.action", "expected at least one action")
        event = trigger.get("event_type") or trigger.get("event")
        result.append(
            AlarmTrigger(
                policy=policy.name,
                name=name,
                metric=trigger.get("metric") or trigger.get("metrics"),
                targets=targets,
                actions=tuple(a for a in actions if a is not None),
                comparison_operator=comparison,
                threshold=condition.get("threshold"),
                evaluations=condition.get("evaluations"),
                granularity_seconds=condition.get("granularity"),
                aggregation_method=condition.get("aggregation_method"),
                event_type=event.get("type") if isinstance(event, dict) else event,
            )
        )
    return result


def _heal_from_monitoring(
    *, name: str, node: str, prop: str, spec: Any, targets: tuple[str, ...], out: ProblemCollector
) -> list[HealPolicy]:
    if not isinstance(spec, dict):
        out.add(node, prop, "expected a map with name, parameters and actions")
        return []
    actions = spec.get("actions") or {}
    if not isinstance(actions, dict) or not actions:
        out.add(node, f"{prop}.actions", "expected a map such as {failure: respawn}")
        return []
    params = spec.get("parameters") or {}
    heals = []
    for trigger, action in actions.items():
        if action not in HEAL_ACTIONS:
            out.add(
                node,
                f"{prop}.actions.{trigger}",
                f"expected one of {', '.join(HEAL_ACTIONS)}, got {action!r}",
            )
            continue
        heals.append(
            HealPolicy(
                name=name,
                targets=targets,
                action=action,
                trigger=str(trigger),
                monitor=spec.get("name"),
                parameters=tuple((str(k), str(v)) for k, v in params.items()),
            )
        )
    return heals


def read_tacker_form(tosca: ToscaTemplate, *, out: ProblemCollector) -> VnfModel:
    """Build the model of a tosca-parser-validated Tacker containerized VNFD."""
    nodes = list(tosca.nodetemplates or [])
    for node in nodes:
        if not any(node.type == t or _is_a(node, t) for t in _SUPPORTED_NODE_TYPES):
            out.add(
                node.name,
                None,
                f"node type {node.type!r} is not supported on Kubernetes "
                f"(expected {', '.join(_SUPPORTED_NODE_TYPES)})",
            )
    vdu_nodes = [n for n in nodes if _is_a(n, VDU_TYPE)]
    if not vdu_nodes:
        out.add(None, "node_templates", f"the descriptor has no {VDU_TYPE} node")
    vdu_names = {n.name for n in vdu_nodes}

    scaling: list[ScalingPolicy] = []
    alarms: list[AlarmTrigger] = []
    heals: list[HealPolicy] = []
    policies = list(tosca.policies or [])
    scaling_names = {p.name for p in policies if p.type == SCALING_TYPE}
    for policy in policies:
        if policy.type == SCALING_TYPE:
            scaling.append(_scaling(policy, vdu_names, out, tosca=tosca))
        elif policy.type == ALARMING_TYPE:
            alarms.extend(_alarms(policy, vdu_names, scaling_names, out, tosca=tosca))
        elif policy.type == MONITORING_TYPE:
            heals.extend(
                _heal_from_monitoring(
                    name=policy.name,
                    node=policy.name,
                    prop="properties",
                    spec=resolved(dict(policy.properties or {}), tosca=tosca),
                    targets=_targets(policy, vdu_names, out),
                    out=out,
                )
            )
        elif policy.type in FAILURE_ACTIONS:
            targets = _targets(policy, vdu_names, out)
            heals.append(HealPolicy(policy.name, targets, FAILURE_ACTIONS[policy.type]))
        else:
            out.add(policy.name, "type", f"policy type {policy.type!r} is not supported")

    networks = _networks(tosca, out)
    namespaces: set[str] = set()
    specs = []
    for node in vdu_nodes:
        props = _props(node, tosca)
        if not naming.is_label_value(node.name):
            out.add(
                node.name,
                None,
                "a VDU name must be at most 63 letters, digits, '-', '_' or '.' "
                "(it becomes a label value)",
            )
        namespace = props.get("namespace")
        if namespace is not None:
            if not naming.is_dns1123_label(str(namespace)):
                out.add(node.name, "namespace", f"{namespace!r} is not a valid namespace name")
            namespaces.add(str(namespace))
        if props.get("monitoring_policy"):
            heals.extend(
                _heal_from_monitoring(
                    name=f"{node.name}-monitoring",
                    node=node.name,
                    prop="monitoring_policy",
                    spec=props["monitoring_policy"],
                    targets=(node.name,),
                    out=out,
                )
            )
        owning = [p for p in scaling if node.name in p.targets]
        if len(owning) > 1:
            out.add(
                node.name,
                None,
                f"targeted by several scaling policies ({', '.join(p.name for p in owning)})",
            )
        bounds = owning[0] if owning else None
        ports, service_type = _service(node.name, props, out)
        specs.append(
            VduSpec(
                name=node.name,
                containers=_containers(node.name, props.get("vnfcs"), out),
                default_replicas=bounds.default_instances if bounds else 1,
                min_replicas=bounds.min_instances if bounds else 1,
                max_replicas=bounds.max_instances if bounds else 1,
                namespace=namespace,
                service_ports=ports,
                service_type=service_type,
                labels=_user_labels(node.name, props.get("labels"), out),
                networks=tuple(networks.get(node.name, ())),
            )
        )
    if len(namespaces) > 1:
        out.add(
            None, "namespace", f"VDUs name different namespaces: {', '.join(sorted(namespaces))}"
        )
    return VnfModel(
        vdus=tuple(specs),
        policies=Policies(scaling=tuple(scaling), alarms=tuple(alarms), heals=tuple(heals)),
        namespace=next(iter(namespaces)) if len(namespaces) == 1 else None,
    )
