"""Fixtures shared by every test.

Functional tests use the real test bed of ``tools/testbed/``: a RabbitMQ broker
and a Kubernetes control plane with kwok nodes, both on 127.0.0.1.  When the bed
is not up, the session fixtures start it (building the binaries on first use),
so ``pytest tests/functional`` works on its own.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
TESTBED = ROOT / "tools" / "testbed"
CACHE = pathlib.Path(os.environ.get("TKW_CACHE", pathlib.Path.home() / ".cache/tacker-k8s-worker"))
STATE = pathlib.Path(os.environ.get("TKW_STATE", CACHE / "testbed"))


def _bed(*args: str) -> None:
    subprocess.run(["bash", str(TESTBED / "up.sh"), *args], check=True)


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """URL of the test bed's RabbitMQ (started if it is not running)."""
    port = os.environ.get("TKW_AMQP_PORT", "5672")
    subprocess.run(["bash", str(TESTBED / "rabbitmq.sh"), "up"], check=True)
    return f"amqp://guest:guest@127.0.0.1:{port}/"


@pytest.fixture(scope="session")
def transport_url(amqp_url: str) -> str:
    """The same broker as an oslo.messaging transport_url."""
    return "rabbit://" + amqp_url.removeprefix("amqp://")


@pytest.fixture(scope="session")
def kubeconfig() -> str:
    """Path of the test bed's kubeconfig (the control plane is started if needed)."""
    path = pathlib.Path(os.environ.get("TKW_KUBECONFIG", STATE / "kubeconfig"))
    _bed("kube")
    assert path.exists(), f"test bed wrote no kubeconfig at {path}"
    return str(path)


@dataclasses.dataclass(frozen=True)
class Vim2:
    """The bed's second cluster (tools/testbed/cluster2.sh): how an operator
    would register it as a VIM (API server URL, CA, a ServiceAccount token),
    and an admin kubeconfig for the tests' own checks."""

    kubeconfig: str
    auth_url: str
    ssl_ca_cert: str  # PEM
    bearer_token: str


@pytest.fixture(scope="session")
def vim2() -> Vim2:
    """The second cluster, started if it is not running."""
    _bed("vim2")
    state = pathlib.Path(os.environ.get("TKW_VIM2_STATE", CACHE / "testbed-vim2"))
    port = os.environ.get("TKW_VIM2_APISERVER_PORT", "16444")
    return Vim2(
        kubeconfig=str(state / "kubeconfig"),
        auth_url=f"https://127.0.0.1:{port}",
        ssl_ca_cert=(state / "pki" / "ca.crt").read_text(),
        bearer_token=(state / "vim-token").read_text(),
    )


@pytest.fixture(scope="session")
async def kube_api(kubeconfig: str) -> AsyncIterator[object]:
    """A kubernetes_asyncio ApiClient for the test bed (session-wide)."""
    from kubernetes_asyncio import client, config

    cfg = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    api = client.ApiClient(configuration=cfg)
    try:
        yield api
    finally:
        await api.close()


@pytest.fixture
async def namespace(kube_api: object) -> AsyncIterator[str]:
    """A fresh namespace for one test, deleted afterwards.

    The deletion is not waited for (the controllers finish it in the
    background), which keeps each test a few seconds shorter.
    """
    from kubernetes_asyncio import client
    from kubernetes_asyncio.client.rest import ApiException

    core = client.CoreV1Api(kube_api)
    name = f"tkw-test-{uuid.uuid4().hex[:10]}"
    await core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"tkw-test": "true"}))
    )
    try:
        yield name
    finally:
        try:
            await core.delete_namespace(name, propagation_policy="Foreground")
        except ApiException as exc:
            if exc.status != 404:
                raise


@pytest.fixture
def unique_name() -> Iterator[str]:
    yield f"t{uuid.uuid4().hex[:12]}"
