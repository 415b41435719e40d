"""The casts the intake benchmark drains: what Tacker's conductor really sends.

A throughput figure is only comparable when every contender decodes the same
bytes, so the bodies are built once with oslo.messaging's own code:
``RPCClient.cast(ctxt, "instantiate_vnf", vnf=..., op_id=...)`` becomes
``{"method", "args", "version"}``, oslo's ``_add_unique_id`` and
``pack_context`` add ``_unique_id`` and one ``_context_<key>`` per key of a
keystone-style ``oslo_context.RequestContext`` (auth token included), then
``serialize_msg`` wraps it in the 2.0 envelope and kombu's JSON serializer
makes the body.  The VNF carries Tacker's sample containerized VNFD as TOSCA
YAML text (the common form), about 2 KB per message in all.
"""

from __future__ import annotations

from typing import Any

from kombu.utils import json as kombu_json
from oslo_context import context as oslo_context
from oslo_messaging._drivers import amqp as rpc_amqp
from oslo_messaging._drivers import common as rpc_common

METHOD = "instantiate_vnf"

VNFD = """\
tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0
description: A sample containerized VNF with two containers per VDU
metadata:
  template_name: sample-tosca-vnfd
topology_template:
  node_templates:
    VDU1:
      type: tosca.nodes.nfv.VDU.Tacker
      properties:
        namespace: default
        mapping_ports:
          - "80:80"
          - "88:88"
        service_type: NodePort
        vnfcs:
          front_end:
            num_cpus: 0.5
            mem_size: 512 MB
            image: nginx
            ports:
              - "80"
          rss_reader:
            num_cpus: 0.5
            mem_size: 512 MB
            image: nickchase/rss-php-nginx:v1
            ports:
              - "88"
        labels:
          - "app: webserver"
    CP11:
      type: tosca.nodes.nfv.CP.Tacker
      properties:
        management: true
      requirements:
        - virtualLink:
            node: VL11
        - virtualBinding:
            node: VDU1
    VL11:
      type: tosca.nodes.nfv.VL
      properties:
        network_name: k8s-pod-subnet
        vendor: Tacker
  policies:
    - SP1:
        type: tosca.policies.tacker.Scaling
        targets: [VDU1]
        properties:
          min_instances: 1
          max_instances: 3
          target_cpu_utilization_percentage: 40
          default_instances: 1
          increment: 1
"""

#: A Fernet-sized keystone token (what a real conductor context carries).
_TOKEN = "gAAAAABm" + "x7Kq9PzR2sVt" * 15


def conductor_context() -> dict[str, Any]:
    """The context dict oslo's RPCClient packs for a Tacker conductor request."""
    ctx = oslo_context.RequestContext(
        user_id="6b5c0bd1e28a4c5a9f3b7d2e1c0a9f88",
        project_id="3f2e1d0c9b8a47f6a5e4d3c2b1a09f8e",
        auth_token=_TOKEN,
        roles=["admin", "member", "reader"],
        user_name="tacker",
        project_name="nfv",
        is_admin=True,
    )
    return ctx.to_dict()


def instantiate_cast(i: int, *, vnfs: int, ctx: dict[str, Any]) -> bytes:
    """The AMQP body of cast number ``i`` (VNF ``i % vnfs``, a fresh op_id and _unique_id)."""
    n = i % vnfs
    msg: dict[str, Any] = {
        "method": METHOD,
        "args": {
            "vnf": {
                "id": f"6c1f3d2e-0000-4000-8000-{n:012d}",
                "name": f"cnf-{n}",
                "tenant_id": ctx["project_id"],
                "vnfd": VNFD,
                "namespace": "default",
                "params": {"replicas": 2, "image_tag": "1.25"},
            },
            "op_id": f"op-{i:08d}",
        },
        "version": "1.0",
    }
    rpc_amqp._add_unique_id(msg)
    rpc_amqp.pack_context(msg, ctx)
    return kombu_json.dumps(rpc_common.serialize_msg(msg)).encode()


def bodies(count: int, *, vnfs: int) -> list[bytes]:
    ctx = conductor_context()
    return [instantiate_cast(i, vnfs=vnfs, ctx=ctx) for i in range(count)]
