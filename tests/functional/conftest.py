"""Every test under tests/functional needs the real test bed.

``private_rabbit`` is a second RabbitMQ node for the tests that stop or restart
a broker (the shared test-bed broker is never restarted under other tests);
one per session, so no module boots the same node while another stops it.
"""

import asyncio
import os
import shutil
from collections.abc import Iterator

import pytest

from tests.conftest import STATE
from tests.functional import harness
from tests.functional.private_rabbit import PRIVATE_BASE, PRIVATE_NODE, PRIVATE_PORT, PrivateRabbit

#: Fixtures of shared, fixed-name parts: a test using one runs in the serial phase.
SERIAL_FIXTURES = frozenset({"private_rabbit", "private_broker"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/functional/" in str(item.fspath):
            item.add_marker(pytest.mark.functional)
            if SERIAL_FIXTURES & set(getattr(item, "fixturenames", ())):
                item.add_marker(pytest.mark.serial)


@pytest.fixture(scope="session")
def private_rabbit() -> Iterator[PrivateRabbit]:
    """A private node with a plain AMQP listener on 127.0.0.1:PRIVATE_PORT."""
    if shutil.which("rabbitmq-server") is None or shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmq-server is not installed")
    node = PrivateRabbit(node=PRIVATE_NODE, base=PRIVATE_BASE, dist_port=PRIVATE_PORT + 20000)
    if not node.is_up():
        node.start(f"listeners.tcp.default = 127.0.0.1:{PRIVATE_PORT}\n")
    yield node
    node.stop()


@pytest.fixture(scope="session")
def private_broker(private_rabbit: PrivateRabbit) -> str:
    """The private node as an oslo.messaging transport_url."""
    return f"rabbit://guest:guest@127.0.0.1:{PRIVATE_PORT}/"


@pytest.fixture(scope="session", autouse=True)
def remove_record_namespaces() -> Iterator[None]:
    """Delete the records namespaces the session's workers created.

    Each test's workers keep their VNF records in a namespace of their own
    (``Names.fresh``); the test bed outlives the run, so they must not pile up.
    """
    yield
    kubeconfig = os.environ.get("TKW_KUBECONFIG", str(STATE / "kubeconfig"))
    if harness.RECORD_NAMESPACES and os.path.exists(kubeconfig):
        asyncio.run(_delete_namespaces(kubeconfig, sorted(harness.RECORD_NAMESPACES)))


async def _delete_namespaces(kubeconfig: str, names: list[str]) -> None:
    from kubernetes_asyncio import client, config
    from kubernetes_asyncio.client.rest import ApiException

    configuration = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    async with client.ApiClient(configuration=configuration) as api:
        core = client.CoreV1Api(api)
        for name in names:
            try:
                await core.delete_namespace(name)
            except ApiException as exc:
                if exc.status != 404:
                    raise


@pytest.fixture(scope="module")
def names() -> harness.Names:
    """Fresh exchange, topics and record namespace for one test module."""
    return harness.Names.fresh()


@pytest.fixture(scope="module")
def events(
    transport_url: str, names: harness.Names, worker: harness.WorkerProcess
) -> Iterator[harness.Events]:
    """Every notification of the module's worker (``worker`` is the module's own)."""
    ev = harness.Events(transport_url, names)
    yield ev
    ev.stop()
