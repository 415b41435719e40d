"""``k8s-worker-vnfd``: the worker's own checks and rendering, offline."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from k8s_worker.cmd import vnfd

SAMPLES = pathlib.Path(__file__).resolve().parents[2] / "samples"
REQUEST = SAMPLES / "package-instantiate-request.json"


@pytest.mark.parametrize(
    "sample", ["vnfd/tacker-web.yaml", "vnfd/sol001-cnf.yaml", "autoscaling/vnfd-cpu.yaml"]
)
def test_every_sample_vnfd_validates(sample: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert vnfd.main(["validate", str(SAMPLES / sample)]) == 0
    assert ": OK (tosca): VDUs VDU1" in capsys.readouterr().out


def test_the_sample_package_renders_its_manifests(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["render", str(SAMPLES / "package"), "--request", str(REQUEST), "--namespace", "cnf"]
    assert vnfd.main([*argv, "--vnf-id", "v-1"]) == 0
    objects = list(yaml.safe_load_all(capsys.readouterr().out))
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted(
        ["ConfigMap", "Deployment", "Job", "NetworkPolicy", "Secret", "Service", "StatefulSet"]
    )
    assert {o["metadata"]["labels"]["tacker.openstack.org/vnf-id"] for o in objects} == {"v-1"}
    assert {o["metadata"]["namespace"] for o in objects} == {"cnf"}


def test_problems_are_the_workers_messages_and_exit_1(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    text = (SAMPLES / "vnfd" / "tacker-web.yaml").read_text()
    broken.write_text(text.replace("max_instances: 4", "max_instances: 0"))
    assert vnfd.main(["validate", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "node 'SP1'" in out and "max_instances" in out


def test_a_package_without_its_request_and_an_unreadable_file_are_said(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert vnfd.main(["validate", str(SAMPLES / "package")]) == 1
    assert "needs its instantiate request" in capsys.readouterr().out
    assert vnfd.main(["validate", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_an_unpacked_csar_with_a_binary_file_is_read_as_its_zip(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    package = tmp_path / "package"
    shutil.copytree(SAMPLES / "package", package)
    (package / "Files" / "chart.tgz").write_bytes(bytes(range(256)))  # not text
    assert vnfd.main(["validate", str(package), "--request", str(REQUEST)]) in (0, 1)
    assert "cannot read" not in capsys.readouterr().err
