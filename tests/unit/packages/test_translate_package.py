"""A package's VNFD and manifests -> the Translation the lifecycle applies (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from k8s_worker.packages import PackageLimits, open_package, translate_package
from k8s_worker.tosca import LABEL_VDU, LABEL_VNF_ID, Translation, VnfdError
from tests import cnf_packages as pkg


def _translate(files: dict[str, str] | None = None, **request: Any) -> Translation:
    files = pkg.files() if files is None else files
    files = {**files, "TOSCA-Metadata/TOSCA.meta": pkg.tosca_meta(files)}
    stored = {
        **open_package(files, limits=PackageLimits()).stored(),
        "request": {**pkg.request(), **request},
    }
    return translate_package(stored, vnf_id="vnf-1", vnf_name="cnf")


def _problems(files: dict[str, str] | None = None, **request: Any) -> str:
    with pytest.raises(VnfdError) as caught:
        _translate(files, **request)
    return str(caught.value)


def test_each_vdu_is_the_workload_its_properties_name_names() -> None:
    translation = _translate()
    web, db = translation.vdus
    assert (web.name, web.kind, web.workload_name) == ("VDU1", "Deployment", "web")
    assert (db.name, db.kind, db.workload_name) == ("VDU2", "StatefulSet", "db")
    assert (db.min_replicas, db.max_replicas) == (1, 3)
    assert translation.form == "package"
    assert dict(translation.sources)["Job/db-init"] == "Files/kubernetes/job.yaml"


def test_every_object_is_owned_and_pod_and_claim_templates_too() -> None:
    objects = {f"{o['kind']}/{o['metadata']['name']}": o for o in _translate().objects}
    for obj in objects.values():
        assert obj["metadata"]["labels"][LABEL_VNF_ID] == "vnf-1"
    sts = objects["StatefulSet/db"]
    assert sts["metadata"]["labels"][LABEL_VDU] == "VDU2"
    assert sts["spec"]["template"]["metadata"]["labels"][LABEL_VDU] == "VDU2"
    assert sts["spec"]["template"]["metadata"]["labels"]["app"] == "db"  # the manifest's kept
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["labels"][LABEL_VNF_ID] == "vnf-1"
    job = objects["Job/db-init"]
    assert LABEL_VDU not in job["spec"]["template"]["metadata"]["labels"]


def test_the_instantiation_level_sets_the_initial_replicas() -> None:
    assert [v.default_replicas for v in _translate().vdus] == [1, 1]
    leveled = _translate(instantiationLevelId="instantiation_level_2")
    assert [v.default_replicas for v in leveled.vdus] == [2, 2]
    assert "instantiation level 'no_such'" in _problems(instantiationLevelId="no_such")


def test_a_vdu_naming_no_workload_is_left_out_and_none_at_all_is_refused() -> None:
    files = pkg.files()
    df = files["Definitions/cnf_df_simple.yaml"]
    files["Definitions/cnf_df_simple.yaml"] = df.replace("name: db\n", "name: database\n")
    only_web = _translate(files)
    assert [v.name for v in only_web.vdus] == ["VDU1"]
    # The aspect of the left-out VDU goes with it.
    assert [p.name for p in only_web.policies.scaling] == ["web_aspect"]
    files["Definitions/cnf_df_simple.yaml"] = df.replace("name: db\n", "name: database\n").replace(
        "name: web\n", "name: front\n"
    )
    assert "no VDU's properties.name names a workload" in _problems(files)


def test_a_flavour_not_in_the_vnfd_is_refused() -> None:
    assert "flavour 'complex' is not in the VNFD (its flavours: simple)" in _problems(
        flavourId="complex"
    )


def test_an_import_outside_the_package_is_refused_and_the_etsi_types_are_known() -> None:
    files = pkg.files()
    top = files["Definitions/cnf_top.vnfd.yaml"]
    files["Definitions/cnf_top.vnfd.yaml"] = top.replace(
        "  - cnf_types.yaml\n", "  - cnf_types.yaml\n  - https://example.invalid/evil.yaml\n"
    )
    assert "outside the package (never fetched)" in _problems(files)
    files["Definitions/cnf_top.vnfd.yaml"] = top.replace(
        "  - cnf_types.yaml\n", "  - ../../escape.yaml\n"
    )
    assert "escapes the package" in _problems(files)


def test_unknown_kinds_and_wrong_api_versions_are_refused_naming_the_file() -> None:
    extra = {
        "Files/kubernetes/odd.yaml": (
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: l}\n---\n"
            "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\n"
        )
    }
    message = _problems(
        pkg.files(extra=extra),
        additionalParams={
            "lcm-kubernetes-def-files": [*pkg.DEF_FILES, "Files/kubernetes/odd.yaml"]
        },
    )
    assert "Files/kubernetes/odd.yaml: Lease/l" in message and "kind Lease is not one" in message
    assert "autoscaling/v1 is not served for HorizontalPodAutoscaler here" in message


def test_a_daemonset_vdu_that_an_aspect_scales_is_refused() -> None:
    files = pkg.files()
    files["Files/kubernetes/db.yaml"] = (
        pkg.DB_STATEFULSET.replace("kind: StatefulSet", "kind: DaemonSet")
        .replace("  replicas: 1\n  serviceName: db\n", "")
        .split("  volumeClaimTemplates:")[0]
        .replace("          volumeMounts: [{name: data, mountPath: /var/lib/postgresql}]\n", "")
    )
    assert "a DaemonSet cannot be scaled, yet a scaling aspect targets it" in _problems(files)


def test_the_request_namespace_puts_every_object_there_and_pinned_ones_must_agree() -> None:
    pinned = pkg.SUPPORT.replace("name: web-config\n", "name: web-config\n  namespace: elsewhere\n")
    files = pkg.files(extra={"Files/kubernetes/support.yaml": pinned})
    moved = _translate(
        files, additionalParams={**pkg.request(namespace="mine")["additionalParams"]}
    )
    assert moved.namespace == "mine"
    assert {o["metadata"]["namespace"] for o in moved.objects} == {"mine"}
    # Without one, the manifests' namespace is the VNF's (the tenancy rules judge it) ...
    assert _translate(files).namespace == "elsewhere"
    # ... and manifests naming two namespaces are refused.
    twice = pkg.web_deployment().replace("name: web\n", "name: web\n  namespace: other\n", 1)
    files["Files/kubernetes/web.yaml"] = twice
    assert "the manifests name several namespaces (elsewhere, other)" in _problems(files)


SERVICE_MONITOR = """\
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  endpoints: [{port: http}]
"""


def test_another_namespaced_kind_is_applied_only_when_the_option_allows_it() -> None:
    files = pkg.files(extra={"Files/kubernetes/monitor.yaml": SERVICE_MONITOR})
    params = {"lcm-kubernetes-def-files": [*pkg.DEF_FILES, "Files/kubernetes/monitor.yaml"]}
    assert "kind ServiceMonitor is not one the worker applies" in _problems(
        files, additionalParams=params
    )
    files = {**files, "TOSCA-Metadata/TOSCA.meta": pkg.tosca_meta(files)}
    stored = {
        **open_package(files, limits=PackageLimits()).stored(),
        "request": {**pkg.request(), "additionalParams": params},
    }
    translation = translate_package(
        stored,
        vnf_id="vnf-1",
        extra_kinds=("monitoring.coreos.com/v1/ServiceMonitor/servicemonitors",),
    )
    (monitor,) = [o for o in translation.objects if o["kind"] == "ServiceMonitor"]
    assert monitor["metadata"]["labels"][LABEL_VNF_ID] == "vnf-1"
