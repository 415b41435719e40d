"""The form-independent model of a VNF descriptor.

Both readers (Tacker's containerized form and ETSI SOL001) produce a
:class:`VnfModel`; the manifest builder consumes only this. Values here are
already validated and in Kubernetes terms (quantities, port numbers, DNS names).
"""

from __future__ import annotations

from dataclasses import dataclass

from k8s_worker.tosca.policies import Policies
from k8s_worker.tosca.values import PortMapping


@dataclass(frozen=True)
class ContainerSpec:
    """One container of a VDU's pod."""

    name: str  # DNS label used in the pod
    source_name: str  # the descriptor's key (vnfcs entry or node name)
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    ports: tuple[tuple[int, str], ...] = ()  # (containerPort, protocol)
    cpu: str | None = None  # Kubernetes quantity
    memory: str | None = None  # Kubernetes quantity
    config: tuple[tuple[str, str], ...] = ()  # ConfigMap data entries


@dataclass(frozen=True)
class NetworkAttachment:
    """A secondary pod network (a Multus NetworkAttachmentDefinition) from a CP/VL binding."""

    cp: str
    network: str
    namespace: str | None = None
    mac: str | None = None


@dataclass(frozen=True)
class VduSpec:
    """One VDU: becomes one Deployment (and a Service when it publishes ports)."""

    name: str
    containers: tuple[ContainerSpec, ...]
    default_replicas: int = 1
    min_replicas: int = 1
    max_replicas: int = 1
    namespace: str | None = None
    service_ports: tuple[PortMapping, ...] = ()
    service_type: str = "ClusterIP"
    labels: tuple[tuple[str, str], ...] = ()
    networks: tuple[NetworkAttachment, ...] = ()
    #: A package's VDU: the name of the manifest workload that is this VDU.
    workload: str | None = None


@dataclass(frozen=True)
class VnfModel:
    """A whole descriptor: its VDUs, policies and (SOL001) instantiation levels."""

    vdus: tuple[VduSpec, ...]
    policies: Policies
    namespace: str | None = None
    # level name -> ((vdu, replicas), ...); empty for Tacker's form
    instantiation_levels: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = ()
    default_instantiation_level: str | None = None
