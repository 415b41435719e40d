"""The test bed is real: a Deployment gets pods on kwok nodes, the ReplicaSet
controller replaces deleted and failed pods, and RabbitMQ carries messages."""

from __future__ import annotations

import asyncio
import pathlib
import ssl
import uuid

import aio_pika
import pytest
from kubernetes_asyncio import client

from tests.functional.kube_wait import CHAOS_FAILED, pod_failed, pod_ready, wait_for_pods


def _deployment(name: str, replicas: int) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    containers=[client.V1Container(name="web", image="nginx:1.27")]
                ),
            ),
        ),
    )


def _ready(pods: dict) -> list[dict]:
    return [p for p in pods.values() if pod_ready(p) and not p["metadata"].get("deletionTimestamp")]


async def test_deployment_pods_run_on_kwok_nodes_and_are_replaced(kube_api, namespace):
    apps = client.AppsV1Api(kube_api)
    core = client.CoreV1Api(kube_api)
    await apps.create_namespaced_deployment(namespace, _deployment("web", 3))
    selector = "app=web"

    pods = await wait_for_pods(
        kube_api,
        namespace=namespace,
        selector=selector,
        predicate=lambda ps: len(_ready(ps)) == 3,
        what="3 ready pods",
    )
    ready = _ready(pods)
    assert len(ready) == 3
    for pod in ready:
        node = await core.read_node(pod["spec"]["nodeName"])
        assert node.metadata.annotations.get("kwok.x-k8s.io/node") == "fake"
        assert pod["status"]["podIP"], "kwok gives every running pod an IP"

    # Deleting a pod: the ReplicaSet controller creates a replacement.
    victim = ready[0]["metadata"]["name"]
    await core.delete_namespaced_pod(victim, namespace, grace_period_seconds=0)
    pods = await wait_for_pods(
        kube_api,
        namespace=namespace,
        selector=selector,
        predicate=lambda ps: victim not in ps and len(_ready(ps)) == 3,
        what="a replacement for the deleted pod",
    )
    assert victim not in pods

    # kwok's chaos stage marks a labelled pod Failed; the ReplicaSet replaces it.
    target = _ready(pods)[0]["metadata"]["name"]
    await core.patch_namespaced_pod(
        target, namespace, {"metadata": {"labels": {CHAOS_FAILED: "true"}}}
    )
    pods = await wait_for_pods(
        kube_api,
        namespace=namespace,
        selector=selector,
        predicate=lambda ps: (
            target in ps
            and pod_failed(ps[target])
            and len([p for n, p in ps.items() if n != target and pod_ready(p)]) == 3
        ),
        what="the failed pod and 3 ready others",
    )
    failed = pods[target]
    assert failed["status"]["phase"] == "Failed"
    assert failed["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1
    others = sorted(n for n, p in pods.items() if n != target and pod_ready(p))
    assert len(others) == 3 and target not in others


async def test_rabbitmq_carries_a_message(amqp_url):
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"tkw-smoke-{uuid.uuid4().hex}", auto_delete=True)
        body = uuid.uuid4().bytes
        await channel.default_exchange.publish(aio_pika.Message(body=body), routing_key=queue.name)
        message = await asyncio.wait_for(_get(queue), 10)
        assert message.body == body
        await message.ack()


async def _get(queue: aio_pika.abc.AbstractQueue) -> aio_pika.abc.AbstractIncomingMessage:
    while True:
        message = await queue.get(fail=False)
        if message is not None:
            return message
        await asyncio.sleep(0.05)


def _file(path: pathlib.Path, text: str) -> str:
    path.write_text(text)
    return str(path)


async def test_the_second_cluster_is_another_cluster_reached_with_its_own_token(
    vim2, kube_api, unique_name, tmp_path
):
    """vim2 has its own CA, nodes and objects; its ServiceAccount token works
    against it alone (as a VIM registration's credentials would)."""
    cfg = client.Configuration()
    cfg.host = vim2.auth_url
    cfg.ssl_ca_cert = _file(tmp_path / "vim2-ca.crt", vim2.ssl_ca_cert)
    cfg.api_key = {"BearerToken": vim2.bearer_token}
    cfg.api_key_prefix = {"BearerToken": "Bearer"}
    api = client.ApiClient(configuration=cfg)
    try:
        core = client.CoreV1Api(api)
        nodes = await core.list_node()
        assert len(nodes.items) >= 1
        await core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=unique_name))
        )
        try:
            # Not in cluster 1: two separate control planes.
            with pytest.raises(client.ApiException) as absent:
                await client.CoreV1Api(kube_api).read_namespace(unique_name)
            assert absent.value.status == 404
        finally:
            await core.delete_namespace(unique_name)
    finally:
        await api.close()
    # Cluster 1's CA does not vouch for vim2's API server.
    context = ssl.create_default_context(cafile=kube_api.configuration.ssl_ca_cert)
    host, port = vim2.auth_url.removeprefix("https://").split(":")
    with pytest.raises(ssl.SSLCertVerificationError):
        _reader, writer = await asyncio.open_connection(host, int(port), ssl=context)
        writer.close()
