"""The post-renderer helm runs on every rendering: labels, VDUs, refusals (pure)."""

from __future__ import annotations

import yaml

from k8s_worker.helm.post_render import RenderSpec, render, vdu_of
from k8s_worker.lifecycle.helm_vnfs import nested
from k8s_worker.tosca import LABEL_VDU, LABEL_VNF_ID

SPEC = RenderSpec(
    vnf_id="vnf-1",
    namespace="ns1",
    vdus={"vdu1": "VDU1"},
    cluster_scoped=False,
    rules={"allowed_service_types": ["ClusterIP"]},
)
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: vdu1-vnfabc}
spec:
  replicas: 1
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers: [{name: c, image: nginx}]
"""


def test_workloads_are_matched_to_vdus_as_tacker_matches_them() -> None:
    assert vdu_of("vdu1", {"vdu1": "VDU1"}) == "VDU1"
    assert vdu_of("vdu1-vnfabc", {"vdu1": "VDU1"}) == "VDU1"
    assert vdu_of("other-vnfabc", {"vdu1": "VDU1"}) is None


def test_each_document_is_owned_and_placed() -> None:
    out, problems = render(DEPLOYMENT, SPEC)
    assert problems == []
    (doc,) = yaml.safe_load_all(out)
    assert doc["metadata"]["namespace"] == "ns1"
    assert doc["metadata"]["labels"][LABEL_VNF_ID] == "vnf-1"
    assert doc["spec"]["template"]["metadata"]["labels"][LABEL_VDU] == "VDU1"
    assert doc["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_what_breaks_the_rules_is_refused() -> None:
    bad = DEPLOYMENT.replace("image: nginx}", "image: nginx, securityContext: {privileged: true}}")
    bad += (
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: LoadBalancer}\n"
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: kube-system}\n"
    )
    _, problems = render(bad, SPEC)
    text = "\n".join(problems)
    assert "privileged containers are not allowed" in text
    assert "Service type LoadBalancer is not allowed" in text
    assert "ClusterRole is cluster-scoped" in text
    assert "'kube-system' is not the VNF's namespace" in text


def test_dotted_helm_parameters_nest_as_set_does() -> None:
    assert nested({"service.port": 8081, "service.type": "NodePort", "a": 1}) == {
        "service": {"port": 8081, "type": "NodePort"},
        "a": 1,
    }
