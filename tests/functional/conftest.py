"""Every test under tests/functional needs the real test bed.

``private_rabbit`` is a second RabbitMQ node for the tests that stop or restart
a broker (the shared test-bed broker is never restarted under other tests);
one per session, so no module boots the same node while another stops it.
"""

import shutil
from collections.abc import Iterator

import pytest

from tests.functional.private_rabbit import PRIVATE_BASE, PRIVATE_NODE, PRIVATE_PORT, PrivateRabbit


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/functional/" in str(item.fspath):
            item.add_marker(pytest.mark.functional)


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
