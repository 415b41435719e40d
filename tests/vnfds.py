"""VNF descriptors the tests share: one VDU (busybox) with scaling policy SP1,
and the extra policies a test puts beside it."""

from __future__ import annotations


def heal_policy(
    *, max_attempts: int = 2, backoff: float = 5, trigger: str = "failure", extra: str = ""
) -> str:
    """Monitoring policy HP1 on VDU1: respawn on ``trigger``."""
    params = f"max_attempts: {max_attempts}, window: 600, backoff: {backoff}"
    if extra:
        params += f", {extra}"
    return f"""\
    - HP1:
        type: tosca.policies.tacker.Monitoring
        targets: [VDU1]
        properties:
          name: pod-health
          parameters: {{{params}}}
          actions: {{{trigger}: respawn}}
"""


def one_vdu(
    *,
    max_instances: int = 3,
    default_instances: int = 1,
    cooldown: int | None = None,
    policies: str = "",
) -> str:
    """A Tacker VNFD: VDU1 (one busybox container) scaled by SP1 between 1 and
    ``max_instances``; ``policies`` are appended to its policy list."""
    scaling = (
        f"min_instances: 1, max_instances: {max_instances}, "
        f"default_instances: {default_instances}, increment: 1"
    )
    if cooldown is not None:
        scaling += f", cooldown: {cooldown}"
    return f"""\
tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0
topology_template:
  node_templates:
    VDU1:
      type: tosca.nodes.nfv.VDU.Tacker
      properties:
        vnfcs:
          app: {{num_cpus: 0.1, mem_size: 32 MB, image: "busybox:1.36"}}
  policies:
    - SP1:
        type: tosca.policies.tacker.Scaling
        targets: [VDU1]
        properties: {{{scaling}}}
{policies}"""
