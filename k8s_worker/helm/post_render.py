"""Helm's post-renderer: every document a chart renders passes here before helm
applies it (``helm install/upgrade --post-renderer``).

Run as ``python -m k8s_worker.helm.post_render <spec.json>``: reads the rendered
manifests on stdin, writes them back on stdout with the VNF's ownership labels
(pod templates and claim templates too; a workload named ``<vdu name>`` or
``<vdu name>-<suffix>`` as Tacker v2 matches them gets its VDU's label), after
the same checks a raw-manifest package gets: kinds, the VNF's namespace,
cluster-scoped kinds only where the cluster is the tenant's own, RoleBindings,
the pod baseline, Service types and the bounds.  Any problem: each is written
to stderr and the exit status is 1, so helm applies nothing and says why.
The chart is tenant input: what it renders is judged, never what it claims.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import yaml

from k8s_worker.packages.cnf import known_kinds, own
from k8s_worker.packages.manifests import (
    WORKLOAD_KINDS,
    Manifest,
    check_kind,
    no_token_unless_account,
)
from k8s_worker.tenancy import PodRules, check_objects, check_package_objects
from k8s_worker.tosca.loader import YamlBudget, load_bounded_all


@dataclass(frozen=True)
class RenderSpec:
    """What the post-renderer needs to know of the VNF (written by the worker
    for each call, 0600, beside the kubeconfig)."""

    vnf_id: str
    namespace: str
    vdus: dict[str, str]  # properties.name -> VDU
    cluster_scoped: bool
    rules: dict[str, Any]
    vnf_name: str | None = None
    extra_kinds: list[str] | None = None  # [kubernetes] package_extra_kinds

    def dumps(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def loads(cls, text: str) -> RenderSpec:
        return cls(**json.loads(text))


def vdu_of(name: str, vdus: dict[str, str]) -> str | None:
    """The VDU a workload named ``name`` is: ``<vdu name>`` or, as Tacker v2
    matches a chart's workloads, ``<vdu name>-<suffix>``."""
    if name in vdus:
        return vdus[name]
    base = name[: name.rfind("-")] if "-" in name else None
    return vdus.get(base) if base else None


def render(text: str, spec: RenderSpec) -> tuple[str, list[str]]:
    """The documents with ownership, and the problems (empty: apply them)."""
    problems: list[str] = []
    try:
        documents = load_bounded_all(text, YamlBudget(max_bytes=64 << 20, max_nodes=5_000_000))
    except (yaml.YAMLError, ValueError) as exc:
        return "", [f"the chart rendered something that is not YAML: {exc}"]
    manifests = []
    extra = frozenset(known_kinds(tuple(spec.extra_kinds or ())))
    for doc in documents:
        if doc is None:
            continue
        if not isinstance(doc, dict) or not doc.get("kind"):
            problems.append("the chart rendered a document that is not a Kubernetes object")
            continue
        manifest = Manifest(path="chart", obj=doc)
        refused = check_kind(manifest, cluster_scoped=spec.cluster_scoped, extra=extra)
        if refused is not None:
            problems.append(str(refused))
            continue
        manifests.append(manifest)
    owned = []
    annotations = {"tacker.openstack.org/vnf-name": spec.vnf_name} if spec.vnf_name else {}
    for manifest in manifests:
        vdu = vdu_of(manifest.name, spec.vdus) if manifest.kind in WORKLOAD_KINDS else None
        obj = own(manifest, vnf_id=spec.vnf_id, vdu=vdu, annotations=annotations)
        meta = obj["metadata"]
        if not meta.get("namespace") and manifest.kind not in ("Namespace", "ClusterRole"):
            meta["namespace"] = spec.namespace
        no_token_unless_account(obj)
        owned.append(obj)
    rules = PodRules(**spec.rules)
    accounts = tuple(o["metadata"]["name"] for o in owned if o["kind"] == "ServiceAccount")
    rules = PodRules(**{**spec.rules, "service_accounts": (*rules.service_accounts, *accounts)})
    found = check_package_objects(
        owned, namespace=spec.namespace, cluster_scoped=spec.cluster_scoped
    ) + check_objects(owned, namespace=spec.namespace, rules=rules)
    problems += [str(p) for p in found]
    return yaml.safe_dump_all(owned, sort_keys=False), problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    with open(args[0], encoding="utf-8") as handle:
        spec = RenderSpec.loads(handle.read())
    out, problems = render(sys.stdin.read(), spec)
    if problems:
        for problem in problems:
            print(f"refused by tacker-k8s-worker: {problem}", file=sys.stderr)
        return 1
    sys.stdout.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
