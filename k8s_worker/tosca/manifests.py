"""Kubernetes manifests of one VDU (ConfigMaps, Deployment, Service) as plain dicts.

Every object carries the ownership labels; selectors use exactly the VNF-id and
VDU labels; user labels are added to the pod template only, so they can never
widen a selector to another VNF's pods.
"""

from __future__ import annotations

import json
from typing import Any

from k8s_worker.tosca import labels as lbl
from k8s_worker.tosca.model import ContainerSpec, VduSpec

MULTUS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
ANNOTATION_VNF_NAME = "tacker.openstack.org/vnf-name"


def _meta(
    *, name: str, namespace: str | None, labels: dict[str, str], annotations: dict[str, str]
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespace:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def config_map(
    *,
    name: str,
    namespace: str | None,
    container: ContainerSpec,
    labels: dict[str, str],
    annotations: dict[str, str],
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(name=name, namespace=namespace, labels=labels, annotations=annotations),
        "data": dict(container.config),
    }


def _container(spec: ContainerSpec, config_map_name: str | None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": spec.name, "image": spec.image}
    if spec.command:
        container["command"] = list(spec.command)
    if spec.args:
        container["args"] = list(spec.args)
    if spec.ports:
        container["ports"] = [
            {"containerPort": port, "protocol": protocol} for port, protocol in spec.ports
        ]
    quantities = {
        key: value for key, value in (("cpu", spec.cpu), ("memory", spec.memory)) if value
    }
    if quantities:
        container["resources"] = {"requests": dict(quantities), "limits": dict(quantities)}
    if config_map_name:
        container["envFrom"] = [{"configMapRef": {"name": config_map_name}}]
    return container


def deployment(
    *,
    name: str,
    namespace: str | None,
    vdu: VduSpec,
    vnf_id: str,
    config_maps: dict[str, str],
    annotations: dict[str, str],
) -> dict[str, Any]:
    """The VDU's Deployment; ``config_maps`` maps container name -> ConfigMap name."""
    owned = lbl.ownership_labels(vnf_id=vnf_id, vdu=vdu.name)
    pod_labels = {**dict(vdu.labels), **owned}  # ownership keys always win
    pod_annotations: dict[str, str] = {}
    if vdu.networks:
        pod_annotations[MULTUS_ANNOTATION] = json.dumps(
            [
                {
                    k: v
                    for k, v in (("name", n.network), ("namespace", n.namespace), ("mac", n.mac))
                    if v
                }
                for n in vdu.networks
            ],
            separators=(",", ":"),
        )
    template_meta: dict[str, Any] = {"labels": pod_labels}
    if pod_annotations:
        template_meta["annotations"] = pod_annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name=name, namespace=namespace, labels=owned, annotations=annotations),
        "spec": {
            "replicas": vdu.default_replicas,
            "selector": {"matchLabels": lbl.selector_labels(vnf_id=vnf_id, vdu=vdu.name)},
            "template": {
                "metadata": template_meta,
                "spec": {
                    # A VNF's pods have no business with the Kubernetes API: no
                    # token is mounted and no ServiceAccount is ever named.
                    "automountServiceAccountToken": False,
                    "containers": [_container(c, config_maps.get(c.name)) for c in vdu.containers],
                },
            },
        },
    }


def service(
    *,
    name: str,
    namespace: str | None,
    vdu: VduSpec,
    vnf_id: str,
    annotations: dict[str, str],
) -> dict[str, Any]:
    """The VDU's Service publishing ``mapping_ports`` (call only if it has some)."""
    ports = [
        {
            "name": f"{m.protocol.lower()}-{m.published}",
            "port": m.published,
            "targetPort": m.target,
            "protocol": m.protocol,
        }
        for m in vdu.service_ports
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(
            name=name,
            namespace=namespace,
            labels=lbl.ownership_labels(vnf_id=vnf_id, vdu=vdu.name),
            annotations=annotations,
        ),
        "spec": {
            "type": vdu.service_type,
            "selector": lbl.selector_labels(vnf_id=vnf_id, vdu=vdu.name),
            "ports": ports,
        },
    }
