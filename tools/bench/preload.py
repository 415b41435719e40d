"""A fleet of VNFs made directly, for the scale benchmark's ``--preload``.

Instantiating thousands of VNFs through the worker takes most of an hour on
two cores (each is a cast, a journal, an apply and a rollout watched to its
end).  The memory and churn figures need the fleet, not its making: so one
VNF is instantiated through the worker, and the others are its clones, made
the way the worker made it: its record (every mention of its VNF id and of
its Deployment's name replaced; the names computed by the worker's own
``k8s_worker.tosca.naming``) and its Deployment, created by a plain client,
many at once.  The worker then finds ACTIVE VNFs it owns, as a replica
restarted on an existing fleet would, and the Kubernetes controllers make
their pods.  Kubernetes needs room for them: kwok nodes named
``tkw-bench-node-<i>`` are added for the run (2,000 pods each, the bed's
own nodes' size) and deleted by :func:`remove_nodes`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from kubernetes_asyncio import client

from k8s_worker.kube.resources import FIELD_MANAGER
from k8s_worker.record.model import record_name
from k8s_worker.tosca import naming

PODS_PER_NODE = 2000
NODE_PREFIX = "tkw-bench-node-"
CONCURRENCY = 32
_DROP_META = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields")


def _fresh(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    for key in _DROP_META:
        meta.pop(key, None)
    (meta.get("annotations") or {}).pop("deployment.kubernetes.io/revision", None)
    obj.pop("status", None)
    return obj


def _clone_text(text: str, *, template: str, vnf_id: str, names: dict[str, str]) -> str:
    for old, new in names.items():
        text = text.replace(old, new)
    return text.replace(template, vnf_id)


async def add_nodes(api: client.ApiClient, *, pods: int, existing_capacity: int) -> list[str]:
    """kwok nodes enough for ``pods`` more pods than ``existing_capacity`` holds."""
    core = client.CoreV1Api(api)
    need = max(0, pods - existing_capacity)
    count = -(-need // PODS_PER_NODE)
    names = [f"{NODE_PREFIX}{i}" for i in range(count)]
    capacity = {"cpu": "64", "memory": "256Gi", "pods": str(PODS_PER_NODE)}
    for name in names:
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {"type": "kwok", "kubernetes.io/hostname": name},
            },
            "status": {"allocatable": capacity, "capacity": capacity},
        }
        try:
            await core.create_node(body)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
    return names


async def remove_nodes(api: client.ApiClient, names: list[str]) -> None:
    core = client.CoreV1Api(api)
    for name in names:
        try:
            await core.delete_node(name)
        except client.ApiException as exc:
            if exc.status != 404:
                print(f"  cleanup: node {name}: {exc.status} {exc.reason}")


async def clone_fleet(
    api: client.ApiClient,
    *,
    template_id: str,
    records_namespace: str,
    namespace: str,
    count: int,
) -> list[str]:
    """``count`` clones of the VNF ``template_id`` (its record and Deployments);
    their VNF ids."""
    custom = client.CustomObjectsApi(api)
    apps = client.AppsV1Api(api)
    group, version = "tacker.openstack.org", "v1alpha1"
    record = await custom.get_namespaced_custom_object(
        group, version, records_namespace, "vnfs", record_name(template_id)
    )
    resp = await apps.list_namespaced_deployment(
        namespace,
        label_selector=f"tacker.openstack.org/vnf-id={template_id}",
        _preload_content=False,
    )
    deployments = json.loads(await resp.read())["items"]
    for d in deployments:
        d.update(apiVersion="apps/v1", kind="Deployment")
    dep_bodies = [json.dumps(_fresh(dict(d))) for d in deployments]
    vdus = [d["metadata"]["labels"]["tacker.openstack.org/vdu"] for d in deployments]
    status = record.pop("status", {})
    status["outbox"] = []
    # The clones' pods are not the template's: remembered as its pods, they
    # would be reported as a respawn each; as none, they are first seen.
    status["podMemory"] = {"pods": {}, "lost": [], "fresh": []}
    record_text = json.dumps(_fresh(record))
    status_text = json.dumps(status)
    template_names = [d["metadata"]["name"] for d in deployments]
    gate = asyncio.Semaphore(CONCURRENCY)
    ids = [str(uuid.uuid4()) for _ in range(count)]

    async def clone(vnf_id: str) -> None:
        names = {
            old: naming.object_name(vnf_id=vnf_id, parts=(vdu,))
            for old, vdu in zip(template_names, vdus, strict=True)
        }

        def text(t: str) -> Any:
            return json.loads(_clone_text(t, template=template_id, vnf_id=vnf_id, names=names))

        async with gate:
            # The Deployments first: a record whose objects do not exist yet is
            # drift to the worker, which would create them itself.
            for body in dep_bodies:
                # As the worker's own: another field manager on a Deployment's
                # spec is drift too.
                await apps.create_namespaced_deployment(
                    namespace, text(body), field_manager=FIELD_MANAGER
                )
            created = await custom.create_namespaced_custom_object(
                group, version, records_namespace, "vnfs", text(record_text)
            )
            created["status"] = text(status_text)
            await custom.replace_namespaced_custom_object_status(
                group, version, records_namespace, "vnfs", created["metadata"]["name"], created
            )

    t0 = time.monotonic()
    await asyncio.gather(*(clone(v) for v in ids))
    print(f"    {count} VNFs cloned (record + Deployment each) in {time.monotonic() - t0:.0f} s")
    return ids
