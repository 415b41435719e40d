"""Tenancy end to end: which namespaces a tenant's VNF may use, what its objects
may ask of the cluster, who may see it, where its secret parameters go, and that
nothing already in the cluster is taken over.  A real worker process, RabbitMQ
and kube-apiserver (kwok nodes); the conductor is an unmodified oslo RPC client.

Every tenant id is unique to the run (``RUN``), so a namespace or record left
over by an earlier run can never make a test pass.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from k8s_worker.kube.kinds import VNF_GROUP, VNF_VERSION
from k8s_worker.tenancy import derived_namespace, tenant_label_value
from k8s_worker.tosca import LABEL_MANAGED_BY, LABEL_VDU, LABEL_VNF_ID, MANAGED_BY_VALUE, translate
from rpc.exceptions import Forbidden, VnfNotFound
from tests.functional.harness import CTX, Conductor, Events, Names, WorkerProcess, write_config
from tests.functional.kube_wait import pod_ready, wait_for_pods
from tests.vnfds import one_vdu

RUN = uuid.uuid4().hex[:8]
TENANT_LABEL = "tacker.openstack.org/tenant-id"
#: The worker's bound on VNFs per tenant in this module (the default is 1000).
MAX_VNFS = 3
#: Every secret value a test hands the worker; none may appear in its log.
SECRETS: set[str] = set()

BUSYBOX = one_vdu()
BROKEN = one_vdu().replace("mem_size: 32 MB", "mem_size: lots")


def tenant(label: str) -> str:
    return f"tkw-{label}-{RUN}"


# -- fixtures ------------------------------------------------------------------------
@pytest.fixture(scope="module")
async def worker(
    transport_url: str, kubeconfig: str, names: Names, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("tenancy")
    config = write_config(
        tmp / "worker.conf",
        names=names,
        transport_url=transport_url,
        kubeconfig=kubeconfig,
        host="ten-1",
        extra=f"[limits]\nmax_vnfs_per_tenant = {MAX_VNFS}\n",
    )
    proc = WorkerProcess(config, log=tmp / "worker.log")
    await proc.start()
    yield proc
    assert await proc.stop() == 0
    logged = proc.log.read_text(errors="replace")
    assert not [s for s in SECRETS if s in logged], f"a secret parameter is in {proc.log}"


@pytest.fixture(scope="module")
def as_tenant(transport_url: str, names: Names, worker: WorkerProcess) -> Callable[..., Conductor]:
    """A conductor whose request context is ``project_id`` (plus ``ctx`` keys)."""
    made: dict[str, Conductor] = {}

    def make(project_id: str | None, **ctx: Any) -> Conductor:
        key = json.dumps([project_id, ctx], sort_keys=True)
        if key not in made:
            context = {
                "user_id": "conductor",
                "auth_token": CTX["auth_token"],
                "roles": ["member"],
                "request_id": f"req-tenancy-{RUN}",
                **ctx,
            }
            if project_id is not None:
                context["project_id"] = project_id
            made[key] = Conductor(transport_url, names, ctx=context)
        return made[key]

    return make


# -- helpers -------------------------------------------------------------------------
def _vnf(tenant_id: str, vnfd: str, namespace: str | None = None, **extra: Any) -> dict:
    vnf = {"id": str(uuid.uuid4()), "name": "tenancy", "tenant_id": tenant_id, "vnfd": vnfd}
    if namespace is not None:
        vnf["namespace"] = namespace
    return {**vnf, **extra}


async def _instantiate_error(conductor: Conductor, events: Events, vnf: dict) -> dict[str, Any]:
    op_id = f"i-{vnf['id'][:8]}"
    await conductor("instantiate_vnf", vnf=vnf, op_id=op_id)
    err = (await events.wait(vnf["id"], "vnf.instantiate.error", op_id=op_id, within=60))[0]
    assert err["priority"] == "ERROR"
    assert not events.of(vnf["id"], "vnf.instantiate.end")
    return err["payload"]


async def _instantiate(conductor: Conductor, events: Events, vnf: dict) -> dict[str, Any]:
    op_id = f"i-{vnf['id'][:8]}"
    await conductor("instantiate_vnf", vnf=vnf, op_id=op_id)
    end = await events.wait(vnf["id"], "vnf.instantiate.end", op_id=op_id, within=90)
    return end[0]["payload"]


async def _terminate(conductor: Conductor, events: Events, vnf_id: str) -> None:
    op_id = f"t-{vnf_id[:8]}"
    await conductor("terminate_vnf", vnf_id=vnf_id, op_id=op_id)
    await events.wait(vnf_id, "vnf.terminate.end", op_id=op_id, within=90)


async def _namespace_exists(kube_api: Any, name: str) -> bool:
    try:
        await client.CoreV1Api(kube_api).read_namespace(name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


async def _delete_namespace(kube_api: Any, name: str) -> None:
    try:
        await client.CoreV1Api(kube_api).delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


async def _objects_of(kube_api: Any, vnf_id: str) -> list[str]:
    """Every Deployment, ReplicaSet, Pod, Service, ConfigMap and Secret of the VNF,
    in any namespace."""
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    selector = f"{LABEL_VNF_ID}={vnf_id}"
    found = []
    for kind, lister in (
        ("Deployment", apps.list_deployment_for_all_namespaces),
        ("ReplicaSet", apps.list_replica_set_for_all_namespaces),
        ("Pod", core.list_pod_for_all_namespaces),
        ("Service", core.list_service_for_all_namespaces),
        ("ConfigMap", core.list_config_map_for_all_namespaces),
        ("Secret", core.list_secret_for_all_namespaces),
    ):
        for item in (await lister(label_selector=selector)).items:
            found.append(f"{kind} {item.metadata.namespace}/{item.metadata.name}")
    return found


# -- namespaces ----------------------------------------------------------------------
FORBIDDEN_CASES = [
    "kube-system",
    "kube-system-by-admin",
    "kube-glob",
    "records",
    "other-tenant",
    "not-granted",
]


@pytest.mark.parametrize("case", FORBIDDEN_CASES)
async def test_a_namespace_the_tenant_may_not_use_is_refused_and_nothing_is_created(
    case, as_tenant, events, kube_api, names
):
    me, them = tenant("x"), tenant("y")
    target, existed = {
        "kube-system": ("kube-system", True),
        "kube-system-by-admin": ("kube-system", True),  # admins included
        "kube-glob": (f"kube-tkw-{RUN}", False),  # forbidden_namespaces = kube-*
        "records": (names.records, True),
        "other-tenant": (f"tacker-{them}", False),
        "not-granted": (f"tkw-other-{RUN}", False),  # the grant is *:tkw-test-*
    }[case]
    assert await _namespace_exists(kube_api, target) is existed
    conductor = as_tenant(me, roles=["admin"]) if case.endswith("-by-admin") else as_tenant(me)
    vnf = _vnf(me, BUSYBOX, target)
    try:
        err = (await _instantiate_error(conductor, events, vnf))["error"]
        assert err["type"] == "NamespaceForbidden", err
        assert target in err["message"]
        if case == "other-tenant":
            assert f"tacker-{me}" in err["message"]  # it says which one is the tenant's own
        assert await _namespace_exists(kube_api, target) is existed
        assert await _objects_of(kube_api, vnf["id"]) == []
        info = await conductor("get_vnf", vnf_id=vnf["id"])
        assert info["status"] == "ERROR"
        await _terminate(conductor, events, vnf["id"])
    finally:
        if not existed:
            await _delete_namespace(kube_api, target)


VNFD_KUBE_DNS = """
tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0
topology_template:
  node_templates:
    VDU1:
      type: tosca.nodes.nfv.VDU.Tacker
      properties:
        namespace: kube-system
        labels: ["k8s-app: kube-dns"]
        mapping_ports: ["53:53/UDP", "53:53/TCP"]
        vnfcs:
          dns: {num_cpus: 0.1, mem_size: 32 MB, image: "busybox:1.36", ports: ["53/UDP"]}
"""


async def test_a_vnfd_posing_as_kube_dns_in_kube_system_is_refused(as_tenant, events, kube_api):
    me = tenant("dns")
    conductor = as_tenant(me)
    vnf = _vnf(me, VNFD_KUBE_DNS)  # the namespace comes from the VDU, as an attacker writes it
    err = (await _instantiate_error(conductor, events, vnf))["error"]
    assert err["type"] == "NamespaceForbidden", err
    assert "kube-system" in err["message"]
    core = client.CoreV1Api(kube_api)
    pods = await core.list_namespaced_pod(
        "kube-system", label_selector=f"{LABEL_VNF_ID}={vnf['id']}"
    )
    assert pods.items == []
    assert await _objects_of(kube_api, vnf["id"]) == []
    await _terminate(conductor, events, vnf["id"])


async def test_the_derived_namespace_of_a_non_dns_tenant_is_created_with_pod_security(
    as_tenant, events, kube_api
):
    me = f"Tkw_Tenant_{RUN}"  # not a DNS label: the namespace is sanitized and hashed
    derived = derived_namespace("tacker-", me)
    assert re.fullmatch(rf"tacker-tkw-tenant-{RUN}-h[0-9a-f]{{12}}", derived), derived
    assert not await _namespace_exists(kube_api, derived)
    conductor = as_tenant(me)
    vnf = _vnf(me, BUSYBOX)  # names no namespace
    try:
        end = await _instantiate(conductor, events, vnf)
        assert end["namespace"] == derived
        ns = await client.CoreV1Api(kube_api).read_namespace(derived)
        labels = ns.metadata.labels or {}
        assert labels.get("pod-security.kubernetes.io/enforce") == "baseline"
        assert labels.get("pod-security.kubernetes.io/warn") == "restricted"
        assert labels.get(TENANT_LABEL) == tenant_label_value(me) == me
        selector = f"{LABEL_VNF_ID}={vnf['id']}"
        deps = await client.AppsV1Api(kube_api).list_namespaced_deployment(
            derived, label_selector=selector
        )
        assert len(deps.items) == 1
        assert deps.items[0].spec.template.spec.automount_service_account_token is False
        await wait_for_pods(
            kube_api,
            namespace=derived,
            selector=selector,
            predicate=lambda ps: any(pod_ready(p) for p in ps.values()),
        )
        assert (await conductor("get_vnf", vnf_id=vnf["id"]))["namespace"] == derived
        await _terminate(conductor, events, vnf["id"])
    finally:
        await _delete_namespace(kube_api, derived)


async def test_a_namespace_created_for_a_long_tenant_id_is_not_shared_by_its_prefix(
    as_tenant, events, kube_api
):
    # Two project ids that agree on their first 63 characters (a label value's most).
    base = f"tkw-long-{RUN}-".ljust(63, "p")
    owner, other = base + "-owner", base + "-other"
    shared = f"tkw-test-{uuid.uuid4().hex[:10]}"  # granted to both (*:tkw-test-*), not there
    assert not await _namespace_exists(kube_api, shared)
    try:
        mine = _vnf(owner, BUSYBOX, shared)
        await _instantiate(as_tenant(owner), events, mine)
        theirs = _vnf(other, BUSYBOX, shared)
        err = (await _instantiate_error(as_tenant(other), events, theirs))["error"]
        assert err["type"] == "NamespaceForbidden", err
        ns = await client.CoreV1Api(kube_api).read_namespace(shared)
        assert (ns.metadata.labels or {}).get(TENANT_LABEL) == tenant_label_value(owner)
        assert owner not in err["message"] and tenant_label_value(owner) not in err["message"]
        assert await _objects_of(kube_api, theirs["id"]) == []
        await _terminate(as_tenant(other), events, theirs["id"])
        await _terminate(as_tenant(owner), events, mine["id"])
    finally:
        await _delete_namespace(kube_api, shared)


# -- what a VNF's objects may ask for ------------------------------------------------
def _scaled(vdu: str, *, default: int, maximum: int) -> str:
    return f"""\
    - SP-{vdu}:
        type: tosca.policies.tacker.Scaling
        targets: [{vdu}]
        properties:
          min_instances: 1
          max_instances: {maximum}
          default_instances: {default}
          increment: 1
"""


def _vdu(name: str, *, vnfc: str = "", props: str = "") -> str:
    vnfc = vnfc or '{num_cpus: 0.1, mem_size: 32 MB, image: "busybox:1.36"}'
    return f"""\
    {name}:
      type: tosca.nodes.nfv.VDU.Tacker
      properties:
{props}        vnfcs:
          app: {vnfc}
"""


def _vnfd(nodes: str, policies: str = "") -> str:
    text = (
        "tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0\n"
        "topology_template:\n  node_templates:\n" + nodes
    )
    return text + ("  policies:\n" + policies if policies else "")


FOREIGN_NETWORK = _vnfd(
    _vdu("VDU1")
    + """\
    CP1:
      type: tosca.nodes.nfv.CP.Tacker
      properties: {management: false}
      requirements:
        - virtualLink: {node: VL1}
        - virtualBinding: {node: VDU1}
    VL1:
      type: tosca.nodes.nfv.VL
      properties: {network_name: other-ns/net1, vendor: Tacker}
"""
)
SIX_VDUS = [f"VDU{i}" for i in range(1, 7)]
BOUND_CASES = {
    # case: (VNFD, texts the error message must hold: the field and the bound)
    "load-balancer": (
        _vnfd(
            _vdu(
                "VDU1",
                props='        mapping_ports: ["80:8080"]\n        service_type: LoadBalancer\n',
            )
        ),
        ["spec.type", "LoadBalancer", "allowed_service_types", "ClusterIP, NodePort"],
    ),
    "foreign-network": (
        FOREIGN_NETWORK,
        ["k8s.v1.cni.cncf.io/networks", "other-ns/net1", "another namespace"],
    ),
    "max-instances": (
        _vnfd(_vdu("VDU1"), _scaled("VDU1", default=1, maximum=101)),
        ["max_instances", "101 is over the bound 100", "max_replicas_per_vdu"],
    ),
    "default-instances": (
        _vnfd(_vdu("VDU1"), _scaled("VDU1", default=101, maximum=101)),
        ["default_instances", "101 is over the bound 100", "max_replicas_per_vdu"],
    ),
    "pods-per-vnf": (
        _vnfd(
            "".join(_vdu(v) for v in SIX_VDUS),
            "".join(_scaled(v, default=1, maximum=100) for v in SIX_VDUS),
        ),
        ["600 pods", "over the bound 500", "max_pods_per_vnf"],
    ),
    "cpu": (
        _vnfd(_vdu("VDU1", vnfc='{num_cpus: 65, mem_size: 32 MB, image: "busybox:1.36"}')),
        ["resources.requests.cpu", "65 is over the bound 64", "max_container_cpu"],
    ),
    "memory": (
        _vnfd(_vdu("VDU1", vnfc='{num_cpus: 0.1, mem_size: 257 GiB, image: "busybox:1.36"}')),
        ["resources.limits.memory", "257Gi is over the bound 256Gi", "max_container_memory"],
    ),
}


@pytest.mark.parametrize("case", list(BOUND_CASES))
async def test_objects_beyond_the_rules_are_refused_before_anything_is_created(
    case, as_tenant, events, kube_api, namespace
):
    vnfd, expected = BOUND_CASES[case]
    me = tenant("bounds")
    conductor = as_tenant(me)
    vnf = _vnf(me, vnfd, namespace)
    err = (await _instantiate_error(conductor, events, vnf))["error"]
    assert err["type"] == "InvalidVnfd", err
    for text in expected:
        assert text in err["message"], (text, err["message"])
    assert await _objects_of(kube_api, vnf["id"]) == []
    await _terminate(conductor, events, vnf["id"])


async def test_a_tenant_has_at_most_max_vnfs_per_tenant(as_tenant, events):
    me = tenant("quota")
    conductor = as_tenant(me)
    kept = []
    for _ in range(MAX_VNFS):
        vnf = _vnf(me, BROKEN)  # fails at once, but its record counts
        assert (await _instantiate_error(conductor, events, vnf))["error"]["type"] == "InvalidVnfd"
        kept.append(vnf["id"])
    extra = _vnf(me, BROKEN)
    payload = await _instantiate_error(conductor, events, extra)
    assert payload["error"]["type"] == "BadRequest", payload
    assert f"max_vnfs_per_tenant = {MAX_VNFS}" in payload["error"]["message"]
    assert payload["sequence"] is None  # refused before any record
    with pytest.raises(VnfNotFound):
        await conductor("get_vnf", vnf_id=extra["id"])
    assert sorted(v["id"] for v in await conductor("list_vnfs")) == sorted(kept)
    for vnf_id in kept:
        await _terminate(conductor, events, vnf_id)


async def test_instantiates_racing_each_other_still_keep_to_max_vnfs_per_tenant(as_tenant, events):
    me = tenant("race")
    conductor = as_tenant(me)
    vnfs = [_vnf(me, BROKEN) for _ in range(MAX_VNFS + 5)]
    await asyncio.gather(
        *(conductor("instantiate_vnf", vnf=v, op_id=f"r-{v['id'][:8]}") for v in vnfs)
    )
    outcomes = {}
    for v in vnfs:
        err = (await events.wait(v["id"], "vnf.instantiate.error", within=60))[0]["payload"]
        outcomes[v["id"]] = err["error"]["type"]
    # list_vnfs answers from the worker's cache of records, which sees a
    # withdrawn record go one watch event later: wait for it to settle.
    for _ in range(40):
        kept = sorted(v["id"] for v in await conductor("list_vnfs"))
        if len(kept) <= MAX_VNFS:
            break
        await asyncio.sleep(0.25)
    assert len(kept) == MAX_VNFS, outcomes
    assert sorted(i for i, kind in outcomes.items() if kind == "InvalidVnfd") == kept
    assert list(outcomes.values()).count("BadRequest") == 5, outcomes
    for vnf_id in kept:
        await _terminate(conductor, events, vnf_id)


# -- who may see a VNF -----------------------------------------------------------------
async def test_another_project_cannot_see_or_touch_a_vnf(as_tenant, events, namespace):
    owner, other = tenant("owner"), tenant("other")
    mine = _vnf(owner, BUSYBOX, namespace)
    await _instantiate(as_tenant(owner), events, mine)
    theirs = _vnf(other, BROKEN)  # the other project's own VNF (a record is enough)
    await _instantiate_error(as_tenant(other), events, theirs)
    intruder = as_tenant(other)

    # get_vnf: not found, and worded exactly as for a VNF that does not exist.
    with pytest.raises(VnfNotFound) as seen:
        await intruder("get_vnf", vnf_id=mine["id"])
    missing = str(uuid.uuid4())
    with pytest.raises(VnfNotFound) as absent:
        await intruder("get_vnf", vnf_id=missing)
    assert owner not in str(seen.value) and owner not in json.dumps(seen.value.kwargs)
    assert seen.value.message.replace(mine["id"], "X") == absent.value.message.replace(missing, "X")

    # list_vnfs: only the caller's own, whatever tenant it asks for.
    assert [v["id"] for v in await intruder("list_vnfs", tenant_id=owner)] == [theirs["id"]]
    assert [v["id"] for v in await intruder("list_vnfs")] == [theirs["id"]]

    # A cast: the error says "not found" and names neither the owner nor its tenant.
    await intruder("scale_vnf", vnf_id=mine["id"], op_id=f"steal-{RUN}", policy="SP1", type="out")
    err = (await events.wait(mine["id"], "vnf.scale.error", op_id=f"steal-{RUN}"))[0]["payload"]
    assert err["error"]["type"] == "VnfNotFound", err
    assert err["tenant_id"] == other and owner not in json.dumps(err)
    assert err["sequence"] is None

    # No project at all: refused, even for listing.
    nobody = as_tenant(None)
    with pytest.raises(Forbidden):
        await nobody("list_vnfs")
    with pytest.raises(Forbidden):
        await nobody("get_vnf", vnf_id=mine["id"])

    # Roles are whole names: "admin_x" is not admin (a string is a comma-separated list).
    not_admin = as_tenant(other, roles="admin_x")
    with pytest.raises(VnfNotFound):
        await not_admin("get_vnf", vnf_id=mine["id"])
    assert mine["id"] not in [v["id"] for v in await not_admin("list_vnfs")]
    # ... while "member,admin" is, and an admin needs no project.
    for admin in (as_tenant(other, roles="member,admin"), as_tenant(None, roles=["admin"])):
        assert (await admin("get_vnf", vnf_id=mine["id"]))["tenant_id"] == owner
        assert mine["id"] in [v["id"] for v in await admin("list_vnfs")]

    # Nothing happened to the VNF.
    info = await as_tenant(owner)("get_vnf", vnf_id=mine["id"])
    assert info["status"] == "ACTIVE" and info["vdus"][0]["desired_replicas"] == 1
    assert not events.of(mine["id"], "vnf.scale.start")
    await _terminate(as_tenant(other), events, theirs["id"])
    await _terminate(as_tenant(owner), events, mine["id"])


# -- secret parameters -----------------------------------------------------------------
def _vnfd_with_config_from(name: str, kind: str) -> str:
    return f"""
tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0
topology_template:
  inputs:
    image: {{type: string}}
    db_password: {{type: string}}
    {name}: {{type: {kind}}}
  node_templates:
    VDU1:
      type: tosca.nodes.nfv.VDU.Tacker
      properties:
        vnfcs:
          app:
            num_cpus: 0.1
            mem_size: 32 MB
            image: {{get_input: image}}
            config: {{get_input: {name}}}
"""


@pytest.mark.parametrize("form", ["map", "text"])
async def test_a_password_parameter_stays_in_secrets(
    form, as_tenant, events, kube_api, names, namespace, worker
):
    me = tenant("secret")
    conductor = as_tenant(me)
    password = f"pw-{uuid.uuid4().hex}"
    SECRETS.add(password)
    if form == "map":
        # Secret as a whole because a key inside it looks like one.
        vnfd = _vnfd_with_config_from("app_config", "map")
        config = {"app_config": {"DB_PASSWORD": password, "LOG_LEVEL": "debug"}}
    else:
        # The whole config text in one parameter whose key looks secret.
        vnfd = _vnfd_with_config_from("app_secrets", "string")
        config = {"app_secrets": f"DB_PASSWORD: {password}\nLOG_LEVEL: debug\n"}
    params = {"image": "busybox:1.36", "db_password": password, **config}
    vnf = _vnf(me, vnfd, namespace, params=params)
    vnf_id = vnf["id"]
    [(_, cm_name)] = translate(vnfd, vnf_id=vnf_id, params=params).vdus[0].config_maps
    await _instantiate(conductor, events, vnf)
    core, apps = client.CoreV1Api(kube_api), client.AppsV1Api(kube_api)
    custom = client.CustomObjectsApi(kube_api)
    selector = f"{LABEL_VNF_ID}={vnf_id}"

    # The record holds the public parameters and the name of the Secret beside it.
    record = await custom.get_namespaced_custom_object(
        VNF_GROUP, VNF_VERSION, names.records, "vnfs", vnf_id
    )
    assert record["spec"]["params"] == {"image": "busybox:1.36"}
    assert record["spec"]["paramsSecret"] == f"{vnf_id}-params"
    records = await custom.list_namespaced_custom_object(
        VNF_GROUP, VNF_VERSION, names.records, "vnfs"
    )
    assert records["items"] and password not in json.dumps(records)
    kept = await core.read_namespaced_secret(f"{vnf_id}-params", names.records)
    assert json.loads(base64.b64decode(kept.data["params.json"]))["db_password"] == password

    # In the VNF's namespace: in a Secret the pods mount, in no ConfigMap.
    cms = await core.list_namespaced_config_map(namespace)
    assert cm_name in [c.metadata.name for c in cms.items]
    assert password not in json.dumps([c.data for c in cms.items])
    secret = await core.read_namespaced_secret(cm_name, namespace)
    assert base64.b64decode(secret.data["DB_PASSWORD"]).decode() == password
    assert (secret.metadata.labels or {}).get(LABEL_VNF_ID) == vnf_id
    [dep] = (await apps.list_namespaced_deployment(namespace, label_selector=selector)).items
    assert password not in json.dumps(kube_api.sanitize_for_serialization(dep))
    env_from = dep.spec.template.spec.containers[0].env_from or []
    assert cm_name in [e.secret_ref.name for e in env_from if e.secret_ref is not None]
    await wait_for_pods(
        kube_api,
        namespace=namespace,
        selector=selector,
        predicate=lambda ps: any(pod_ready(p) for p in ps.values()),
    )

    # Nor in any reply, notification or log line.
    assert password not in json.dumps(await conductor("get_vnf", vnf_id=vnf_id))
    assert password not in json.dumps(await conductor("list_vnfs"))
    assert password not in json.dumps(events.received, default=str)
    assert password not in worker.log.read_text(errors="replace")

    # Terminate removes both Secrets.
    await _terminate(conductor, events, vnf_id)
    assert (await core.list_namespaced_secret(namespace, label_selector=selector)).items == []
    for _ in range(150):
        try:
            await core.read_namespaced_secret(f"{vnf_id}-params", names.records)
        except ApiException as exc:
            assert exc.status == 404
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"the Secret {vnf_id}-params outlived its VNF")
    assert password not in json.dumps(events.received, default=str)


# -- no adoption -----------------------------------------------------------------------
VNFD_WEB = """
tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0
topology_template:
  node_templates:
    VDU1:
      type: tosca.nodes.nfv.VDU.Tacker
      properties:
        mapping_ports: ["80:8080"]
        vnfcs:
          web:
            num_cpus: 0.1
            mem_size: 32 MB
            image: "busybox:1.36"
            ports: ["8080"]
            config: |
              GREETING: hello
"""


async def test_an_object_of_the_same_name_that_is_not_the_vnfs_is_never_taken_over(
    as_tenant, events, kube_api, namespace
):
    me = tenant("adopt")
    conductor = as_tenant(me)
    core = client.CoreV1Api(kube_api)

    # A ConfigMap of nobody's, named as the VNF's would be.
    first = _vnf(me, VNFD_WEB, namespace)
    [(_, cm_name)] = translate(VNFD_WEB, vnf_id=first["id"]).vdus[0].config_maps
    cm = await core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name=cm_name), data={"KEEP": "me"}),
    )
    err = (await _instantiate_error(conductor, events, first))["error"]
    assert err["type"] == "ObjectConflict", err
    assert cm_name in err["message"]
    await _terminate(conductor, events, first["id"])
    after = await core.read_namespaced_config_map(cm_name, namespace)
    assert after.metadata.resource_version == cm.metadata.resource_version
    assert after.data == {"KEEP": "me"} and not (after.metadata.labels or {})

    # A Service of another VNF's (its label names another id), named as this VNF's.
    second = _vnf(me, VNFD_WEB, namespace)
    svc_name = translate(VNFD_WEB, vnf_id=second["id"]).vdus[0].service_name
    stranger = str(uuid.uuid4())
    svc = await core.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name=svc_name, labels={LABEL_VNF_ID: stranger}),
            spec=client.V1ServiceSpec(
                selector={"app": "theirs"}, ports=[client.V1ServicePort(port=80)]
            ),
        ),
    )
    err = (await _instantiate_error(conductor, events, second))["error"]
    assert err["type"] == "ObjectConflict", err
    assert svc_name in err["message"]
    await _terminate(conductor, events, second["id"])
    assert await _objects_of(kube_api, second["id"]) == []
    after = await core.read_namespaced_service(svc_name, namespace)
    assert after.metadata.resource_version == svc.metadata.resource_version
    assert after.spec.selector == {"app": "theirs"}
    assert after.metadata.labels == {LABEL_VNF_ID: stranger}


async def test_a_pod_elsewhere_that_carries_a_vnfs_labels_is_not_the_vnfs(
    as_tenant, events, kube_api, namespace
):
    me = tenant("decoy")
    conductor = as_tenant(me)
    vnf = _vnf(me, BUSYBOX, namespace)
    core = client.CoreV1Api(kube_api)
    elsewhere = f"tkw-test-{uuid.uuid4().hex[:10]}"
    await core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=elsewhere, labels={"tkw-test": "true"})
        )
    )
    try:
        await _instantiate(conductor, events, vnf)
        # Anyone who may create pods in some namespace may give them any labels.
        labels = {LABEL_MANAGED_BY: MANAGED_BY_VALUE, LABEL_VNF_ID: vnf["id"], LABEL_VDU: "VDU1"}
        decoy = client.V1Pod(
            metadata=client.V1ObjectMeta(name="decoy", labels=labels),
            spec=client.V1PodSpec(
                automount_service_account_token=False,
                containers=[client.V1Container(name="app", image="busybox:1.36")],
            ),
        )
        for _ in range(50):  # the namespace's default ServiceAccount may not exist yet
            try:
                await core.create_namespaced_pod(elsewhere, decoy)
                break
            except ApiException as exc:
                if exc.status != 403 or "serviceaccount" not in str(exc.body).lower():
                    raise
                await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"no default ServiceAccount in {elsewhere}")
        await wait_for_pods(
            kube_api,
            namespace=elsewhere,
            selector=f"{LABEL_VNF_ID}={vnf['id']}",
            predicate=lambda ps: "decoy" in ps and pod_ready(ps["decoy"]),
        )
        for _ in range(8):  # the worker's pod watch sees the decoy within this
            info = await conductor("get_vnf", vnf_id=vnf["id"])
            assert "decoy" not in [p["name"] for p in info["pods"]], info["pods"]
            assert len(info["pods"]) == 1
            await asyncio.sleep(0.5)
        await _terminate(conductor, events, vnf["id"])
    finally:
        await _delete_namespace(kube_api, elsewhere)


async def test_the_record_of_a_non_dns_vnf_id_cannot_be_reached_by_another_id(
    as_tenant, events, kube_api, names
):
    me = tenant("squat")
    conductor = as_tenant(me)
    vnf = {**_vnf(me, BROKEN), "id": f"Tkw_Vnf_{RUN}_{uuid.uuid4().hex[:6]}"}
    digest = hashlib.sha256(vnf["id"].encode()).hexdigest()[:32]
    await _instantiate_error(conductor, events, vnf)
    assert (await conductor("get_vnf", vnf_id=vnf["id"]))["id"] == vnf["id"]
    # A hash-named record under a name that is itself a DNS id (vnf-<hash>) would be
    # that id's record too: anyone could send it.
    with pytest.raises(VnfNotFound):
        await conductor("get_vnf", vnf_id=f"vnf-{digest}")
    record = await client.CustomObjectsApi(kube_api).get_namespaced_custom_object(
        VNF_GROUP, VNF_VERSION, names.records, "vnfs", f"vnf.{digest}"
    )
    assert record["spec"]["vnfId"] == vnf["id"]
    await _terminate(conductor, events, vnf["id"])
