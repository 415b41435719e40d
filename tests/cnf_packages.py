"""CNF packages for the tests, built as Tacker v2 users build theirs: an ETSI
SOL004 CSAR (TOSCA.meta with Entry-Definitions and a SHA-256 per file), a
top VNFD importing its flavour, and the manifests in Files/kubernetes/."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from collections.abc import Mapping

TOP_VNFD = """\
tosca_definitions_version: tosca_simple_yaml_1_2
description: A CNF of a Deployment and a StatefulSet
imports:
  - etsi_nfv_sol001_common_types.yaml
  - etsi_nfv_sol001_vnfd_types.yaml
  - cnf_types.yaml
  - cnf_df_simple.yaml
topology_template:
  inputs:
    selected_flavour:
      type: string
      default: simple
  node_templates:
    VNF:
      type: company.provider.VNF
      properties:
        flavour_description: the simple flavour
"""

TYPES = """\
tosca_definitions_version: tosca_simple_yaml_1_2
imports:
  - etsi_nfv_sol001_common_types.yaml
  - etsi_nfv_sol001_vnfd_types.yaml
node_types:
  company.provider.VNF:
    derived_from: tosca.nodes.nfv.VNF
    properties:
      flavour_id:
        type: string
        constraints: [valid_values: [simple]]
        default: simple
"""

DF_SIMPLE = """\
tosca_definitions_version: tosca_simple_yaml_1_2
imports:
  - etsi_nfv_sol001_common_types.yaml
  - etsi_nfv_sol001_vnfd_types.yaml
  - cnf_types.yaml
topology_template:
  inputs:
    descriptor_id:
      type: string
  substitution_mappings:
    node_type: company.provider.VNF
    properties:
      flavour_id: simple
    requirements:
      virtual_link_external: []
  node_templates:
    VNF:
      type: company.provider.VNF
      properties:
        flavour_description: the simple flavour
      interfaces:
        Vnflcm:
          instantiate: []
          terminate: []
    VDU1:
      type: tosca.nodes.nfv.Vdu.Compute
      properties:
        name: web
        description: the web front end
        vdu_profile:
          min_number_of_instances: 1
          max_number_of_instances: 3
    VDU2:
      type: tosca.nodes.nfv.Vdu.Compute
      properties:
        name: db
        description: the database
        vdu_profile:
          min_number_of_instances: 1
          max_number_of_instances: 3
  policies:
    - scaling_aspects:
        type: tosca.policies.nfv.ScalingAspects
        properties:
          aspects:
            db_aspect:
              name: db_aspect
              description: the database's replicas
              max_scale_level: 2
              step_deltas: [delta_1]
            web_aspect:
              name: web_aspect
              description: the front end's replicas
              max_scale_level: 2
              step_deltas: [delta_1]
    - VDU2_scaling_aspect_deltas:
        type: tosca.policies.nfv.VduScalingAspectDeltas
        properties:
          aspect: db_aspect
          deltas:
            delta_1:
              number_of_instances: 1
        targets: [VDU2]
    - VDU1_scaling_aspect_deltas:
        type: tosca.policies.nfv.VduScalingAspectDeltas
        properties:
          aspect: web_aspect
          deltas:
            delta_1:
              number_of_instances: 1
        targets: [VDU1]
    - instantiation_levels:
        type: tosca.policies.nfv.InstantiationLevels
        properties:
          levels:
            instantiation_level_1:
              description: smallest
              scale_info:
                db_aspect: {scale_level: 0}
            instantiation_level_2:
              description: larger
              scale_info:
                db_aspect: {scale_level: 1}
          default_level: instantiation_level_1
    - VDU1_instantiation_levels:
        type: tosca.policies.nfv.VduInstantiationLevels
        properties:
          levels:
            instantiation_level_1: {number_of_instances: 1}
            instantiation_level_2: {number_of_instances: 2}
        targets: [VDU1]
    - VDU2_instantiation_levels:
        type: tosca.policies.nfv.VduInstantiationLevels
        properties:
          levels:
            instantiation_level_1: {number_of_instances: 1}
            instantiation_level_2: {number_of_instances: 2}
        targets: [VDU2]
"""

POD_SPEC = """\
      automountServiceAccountToken: false
      containers:
        - name: {name}
          image: {image}
          ports: [{{containerPort: 80}}]
"""


def web_deployment(image: str = "nginx:1.25") -> str:
    return """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
""" + POD_SPEC.format(name="web", image=image)


DB_STATEFULSET = (
    """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  replicas: 1
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
"""
    + POD_SPEC.format(name="db", image="postgres:16")
    + """\
          volumeMounts: [{name: data, mountPath: /var/lib/postgresql}]
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: [ReadWriteOnce]
        storageClassName: tkw-local
        resources:
          requests: {storage: 1Gi}
"""
)

SUPPORT = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  nginx.conf: "worker_processes 1;"
---
apiVersion: v1
kind: Secret
metadata:
  name: db-password
type: Opaque
stringData:
  password: not-a-real-one
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db-only-from-web
spec:
  podSelector:
    matchLabels: {app: db}
  ingress:
    - from:
        - podSelector:
            matchLabels: {app: web}
"""

JOB = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: db-init
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      containers:
        - name: init
          image: postgres:16
          command: [sh, -c, "echo init"]
"""

DEF_FILES = [
    "Files/kubernetes/support.yaml",
    "Files/kubernetes/web.yaml",
    "Files/kubernetes/db.yaml",
    "Files/kubernetes/job.yaml",
]


def files(
    *, web_image: str = "nginx:1.25", extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The package's files (without TOSCA.meta), path -> text."""
    out = {
        "Definitions/cnf_top.vnfd.yaml": TOP_VNFD,
        "Definitions/cnf_types.yaml": TYPES,
        "Definitions/cnf_df_simple.yaml": DF_SIMPLE,
        "Files/kubernetes/support.yaml": SUPPORT,
        "Files/kubernetes/web.yaml": web_deployment(web_image),
        "Files/kubernetes/db.yaml": DB_STATEFULSET,
        "Files/kubernetes/job.yaml": JOB,
    }
    out.update(extra or {})
    return out


def tosca_meta(
    content: Mapping[str, str | bytes], *, entry: str = "Definitions/cnf_top.vnfd.yaml"
) -> str:
    """TOSCA.meta naming the entry and a SHA-256 of every file under Files/."""
    lines = [
        "TOSCA-Meta-File-Version: 1.0",
        "CSAR-Version: 1.1",
        "Created-By: tacker-k8s-worker tests",
        f"Entry-Definitions: {entry}",
        "",
    ]
    for path, text in sorted(content.items()):
        if path.startswith("Files/"):
            data = text.encode() if isinstance(text, str) else text
            digest = hashlib.sha256(data).hexdigest()
            lines += [
                f"Name: {path}",
                "Content-Type: application/yaml",
                "Algorithm: SHA-256",
                f"Hash: {digest}",
                "",
            ]
    return "\n".join(lines)


def csar(
    content: Mapping[str, str | bytes] | None = None,
    *,
    meta: str | None = None,
    raw_entries: Mapping[str, bytes] | None = None,
) -> bytes:
    """A CSAR zip of ``content`` with its TOSCA.meta (``meta`` replaces it);
    ``raw_entries`` are added as they are (hostile names included)."""
    content = dict(files() if content is None else content)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "TOSCA-Metadata/TOSCA.meta", meta if meta is not None else tosca_meta(content)
        )
        for path, text in content.items():
            archive.writestr(path, text)
        for name, data in (raw_entries or {}).items():
            archive.writestr(name, data)
    return buf.getvalue()


def csar_b64(content: Mapping[str, str] | None = None, **kwargs: object) -> str:
    return base64.b64encode(csar(content, **kwargs)).decode()  # type: ignore[arg-type]


def request(
    *, namespace: str | None = None, level: str | None = None, def_files: list[str] | None = None
) -> dict[str, object]:
    """Tacker v2's InstantiateVnfRequest fields for this package."""
    params: dict[str, object] = {"lcm-kubernetes-def-files": list(def_files or DEF_FILES)}
    if namespace:
        params["namespace"] = namespace
    out: dict[str, object] = {"flavourId": "simple", "additionalParams": params}
    if level:
        out["instantiationLevelId"] = level
    return out


# -- a Helm package (Tacker v2's ETSINFV.HELM.V_3) ---------------------------------

HELM_DF = DF_SIMPLE.replace("name: web\n", "name: vdu1\n").replace("name: db\n", "name: vdu2\n")

CHART_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {vdu}-{{{{ .Release.Name }}}}
  labels: {{app: {vdu}-{{{{ .Release.Name }}}}}}
spec:
  replicas: {{{{ .Values.replicaCount{Vdu} }}}}
  selector:
    matchLabels: {{app: {vdu}-{{{{ .Release.Name }}}}}}
  template:
    metadata:
      labels: {{app: {vdu}-{{{{ .Release.Name }}}}}}
    spec:
      containers:
        - name: {vdu}
          image: "{{{{ .Values.image }}}}"
          ports: [{{containerPort: 80}}]
"""

CHART_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web-{{ .Release.Name }}
spec:
  type: {{ .Values.service.type }}
  selector: {app: vdu1-{{ .Release.Name }}}
  ports: [{port: {{ .Values.service.port }}, targetPort: 80}]
"""


def chart_tgz(
    *, version: str = "0.1.0", image: str = "nginx:1.25", extra: Mapping[str, str] | None = None
) -> bytes:
    """A Helm chart whose Deployments vdu1-<release> and vdu2-<release> take
    their replicas from replicaCountVdu1 / replicaCountVdu2."""
    import tarfile

    members = {
        "Chart.yaml": f"apiVersion: v2\nname: cnf-chart\nversion: {version}\n",
        "values.yaml": (
            f"replicaCountVdu1: 1\nreplicaCountVdu2: 1\nimage: {image}\n"
            "service: {type: ClusterIP, port: 80}\n"
        ),
        "templates/deployment_vdu1.yaml": CHART_DEPLOYMENT.format(vdu="vdu1", Vdu="Vdu1"),
        "templates/deployment_vdu2.yaml": CHART_DEPLOYMENT.format(vdu="vdu2", Vdu="Vdu2"),
        "templates/service.yaml": CHART_SERVICE,
        **(extra or {}),
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as archive:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"cnf-chart/{name}")
            info.size = len(data)
            info.mtime = 0
            archive.addfile(info, io.BytesIO(data))
    return buf.getvalue()


CHART_PATH = "Files/kubernetes/cnf-chart.tgz"


def helm_files(**chart: object) -> dict[str, str | bytes]:
    return {
        "Definitions/cnf_top.vnfd.yaml": TOP_VNFD,
        "Definitions/cnf_types.yaml": TYPES,
        "Definitions/cnf_df_simple.yaml": HELM_DF,
        CHART_PATH: chart_tgz(**chart),  # type: ignore[arg-type]
    }


def helm_params(namespace: str) -> dict[str, object]:
    """Tacker v2's additionalParams of a Helm instantiate."""
    return {
        "helm_chart_path": CHART_PATH,
        "helm_parameters": {"service.port": 8081},
        "helm_value_names": {
            "VDU1": {"replica": "replicaCountVdu1"},
            "VDU2": {"replica": "replicaCountVdu2"},
        },
        "namespace": namespace,
    }
