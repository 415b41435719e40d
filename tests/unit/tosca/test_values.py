"""Descriptor value parsing: sizes, CPUs and ports in Kubernetes terms."""

from __future__ import annotations

import pytest

from k8s_worker.tosca.values import cpu_quantity, memory_quantity, port_mapping


@pytest.mark.parametrize(
    ("size", "quantity"),
    [
        ("512 MB", "512M"),
        ("512MB", "512M"),
        ("256 MiB", "256Mi"),
        ("1 GiB", "1Gi"),
        ("2 gb", "2G"),
        ("1.5 GiB", str(3 * 2**29)),
        ("100 B", "100"),
    ],
)
def test_memory_sizes(size: str, quantity: str) -> None:
    assert memory_quantity(size) == quantity


@pytest.mark.parametrize("size", ["512", "0 MB", "1.5 B", "12 parsecs", "", 512])
def test_bad_memory_sizes(size: object) -> None:
    with pytest.raises(ValueError):
        memory_quantity(size)


@pytest.mark.parametrize(
    ("cpus", "quantity"), [(0.5, "500m"), (1, "1"), (2.0, "2"), (0.25, "250m")]
)
def test_cpus(cpus: float, quantity: str) -> None:
    assert cpu_quantity(cpus) == quantity


def test_port_mapping_forms() -> None:
    assert (port_mapping("80:8080").published, port_mapping("80:8080").target) == (80, 8080)
    assert port_mapping("53/udp").protocol == "UDP"
    assert port_mapping(" 88 ").target == 88
