"""What a hostile package may not do (pure): escape by name, label itself as
another VDU's, grant itself the API on a shared cluster, read the cluster
from a chart."""

from __future__ import annotations

import io
import tarfile

from k8s_worker.kube import KINDS
from k8s_worker.lifecycle.observe import statefulset_ready
from k8s_worker.packages.cnf import chart_refusals
from k8s_worker.tenancy import check_package_objects
from k8s_worker.tosca import LABEL_VDU
from tests import cnf_packages as pkg
from tests.unit.packages.test_translate_package import _problems, _translate


def test_a_name_is_one_path_segment_whatever_it_holds() -> None:
    path = KINDS["Deployment"].path(namespace="t", name="../../kube-system/deployments/x")
    assert path == "/apis/apps/v1/namespaces/t/deployments/..%2F..%2Fkube-system%2Fdeployments%2Fx"
    assert (
        KINDS["Deployment"]
        .path(namespace="..", name="a")
        .startswith("/apis/apps/v1/namespaces/%2E%2E/")
    )


def test_names_and_namespaces_that_are_not_dns_names_are_refused() -> None:
    bad = pkg.web_deployment().replace("name: web\n", "name: ../evil\n", 1)
    assert "'../evil' is not a valid object name" in _problems(
        pkg.files(extra={"Files/kubernetes/web.yaml": bad})
    )
    params = {**pkg.request()["additionalParams"], "namespace": "a/../kube-system"}
    assert "is not a valid namespace name" in _problems(additionalParams=params)


def test_a_manifest_cannot_label_an_object_as_a_vdus() -> None:
    sidecar = (
        pkg.web_deployment()
        .replace("name: web\n", "name: sidecar\n  labels: {tacker.openstack.org/vdu: VDU1}\n", 1)
        .replace("labels: {app: web}", "labels: {app: side, tacker.openstack.org/vdu: VDU1}")
    )
    files = pkg.files(extra={"Files/kubernetes/sidecar.yaml": sidecar})
    params = {"lcm-kubernetes-def-files": [*pkg.DEF_FILES, "Files/kubernetes/sidecar.yaml"]}
    (obj,) = [
        o
        for o in _translate(files, additionalParams=params).objects
        if o["metadata"]["name"] == "sidecar"
    ]
    assert LABEL_VDU not in obj["metadata"]["labels"]
    assert LABEL_VDU not in obj["spec"]["template"]["metadata"]["labels"]


def test_on_a_shared_cluster_a_package_may_not_grant_itself_the_api() -> None:
    role = {
        "kind": "Role",
        "metadata": {"name": "r", "namespace": "ns"},
        "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["create"]}],
    }
    token = {
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {"name": "t"},
    }
    claim = {
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "c"},
        "spec": {"volumeName": "pv1"},
    }
    projected = {
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "volumes": [{"name": "v", "projected": {"sources": [{"serviceAccountToken": {}}]}}]
        },
    }
    problems = check_package_objects(
        [role, token, claim, projected], namespace="ns", cluster_scoped=False
    )
    text = "\n".join(str(p) for p in problems)
    assert "may only read" in text and "ServiceAccount token Secret" in text
    assert "may not name its volume" in text and "projected ServiceAccount token" in text
    # On the tenant's own cluster its RBAC decides.
    assert (
        check_package_objects([role, token, claim, projected], namespace="ns", cluster_scoped=True)
        == []
    )


def test_a_chart_that_reads_the_cluster_is_refused() -> None:
    looking = {"templates/cm.yaml": '{{ (lookup "v1" "Secret" "other" "creds").data }}'}
    assert "uses lookup" in " ".join(chart_refusals(pkg.chart_tgz(extra=looking)))
    assert chart_refusals(pkg.chart_tgz()) == []
    # In a subchart too.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as archive:
        inner = pkg.chart_tgz(extra=looking)
        info = tarfile.TarInfo("outer/charts/inner.tgz")
        info.size = len(inner)
        archive.addfile(info, io.BytesIO(inner))
    assert "uses lookup" in " ".join(chart_refusals(buf.getvalue()))


def test_a_statefulset_rolled_on_delete_or_by_partition_is_ready_as_kubectl_says() -> None:
    def sts(strategy: dict, **status: int) -> dict:
        return {
            "metadata": {"generation": 2},
            "spec": {"replicas": 3, "updateStrategy": strategy},
            "status": {
                "observedGeneration": 2,
                "replicas": 3,
                "readyReplicas": 3,
                "currentRevision": "a",
                "updateRevision": "b",
                **status,
            },
        }

    assert statefulset_ready(sts({"type": "OnDelete"}, updatedReplicas=0))
    partitioned = {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
    assert statefulset_ready(sts(partitioned, updatedReplicas=1))
    assert not statefulset_ready(sts({"type": "RollingUpdate"}, updatedReplicas=3))
