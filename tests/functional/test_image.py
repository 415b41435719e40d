"""The deployable image (Containerfile, tools/build-image), built here without
a container registry and run the way etc/kubernetes/deployment.yaml runs it.

tools/build-image builds ``tacker-k8s-worker:<pbr version>`` as an OCI archive
and skips a build whose inputs are unchanged, so only the first run of a
version (or a change of the Containerfile, the source or the base) builds.
The image runs from the archive itself: its layout is checked blob by blob,
unpacked with umoci and run by tools/image/ro-chroot, a chroot with the root
filesystem mounted read-only, a fresh /tmp and the image's user, environment
and working directory.

Serial: a build keeps both cores busy for minutes.  It needs root (debootstrap,
chroot, mount), not the test bed.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys
import tarfile

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = [
    pytest.mark.serial,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(os.geteuid() != 0, reason="builds and runs the image as root"),
]

NAME = "tacker-k8s-worker"
BUILD_IMAGE = ROOT / "tools" / "build-image"
RO_CHROOT = ROOT / "tools" / "image" / "ro-chroot"
UID = 42424
#: Packages a build needs and the image must not carry.
BUILD_PACKAGES = {
    "python3-pip",
    "python3-venv",
    "python3-dev",
    "python3.11-venv",
    "gcc",
    "cpp",
    "make",
    "build-essential",
    "git",
    "libc6-dev",
}


@pytest.fixture(scope="module")
def version() -> str:
    """The project's version as pbr derives it from git (what the tag says)."""
    env = {k: v for k, v in os.environ.items() if k != "PBR_VERSION"}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pbr.packaging import get_version; print(get_version('tacker-k8s-worker'))",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def archive(version: str) -> pathlib.Path:
    """The image's OCI archive, built only when its inputs changed."""
    proc = subprocess.run(["bash", str(BUILD_IMAGE)], capture_output=True, text=True, timeout=1700)
    assert proc.returncode == 0, f"tools/build-image failed:\n{proc.stderr[-6000:]}"
    path = pathlib.Path(proc.stdout.strip().splitlines()[-1])
    assert path.name == f"{NAME}-{version}.oci.tar", proc.stderr[-3000:]
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def layout(archive: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("layout")
    with tarfile.open(archive) as tar:
        tar.extractall(path, filter="tar")
    return path


def _blob(layout: pathlib.Path, descriptor: dict) -> bytes:
    algorithm, digest = descriptor["digest"].split(":", 1)
    assert algorithm == "sha256"
    data = (layout / "blobs" / "sha256" / digest).read_bytes()
    assert hashlib.sha256(data).hexdigest() == digest, descriptor
    assert len(data) == descriptor["size"], descriptor
    return data


@pytest.fixture(scope="module")
def index(layout: pathlib.Path) -> dict:
    return json.loads((layout / "index.json").read_text())


@pytest.fixture(scope="module")
def manifest(layout: pathlib.Path, index: dict) -> dict:
    (descriptor,) = index["manifests"]
    return json.loads(_blob(layout, descriptor))


@pytest.fixture(scope="module")
def image_config(layout: pathlib.Path, manifest: dict) -> dict:
    return json.loads(_blob(layout, manifest["config"]))


@pytest.fixture(scope="module")
def bundle(
    layout: pathlib.Path, version: str, tmp_path_factory: pytest.TempPathFactory
) -> pathlib.Path:
    """The image unpacked as a runtime bundle (config.json, rootfs/)."""
    path = tmp_path_factory.mktemp("bundle") / "bundle"
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:{NAME}:{version}", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def run_in_image(
    bundle: pathlib.Path, *command: str, as_root: bool = False
) -> subprocess.CompletedProcess[str]:
    args = ["bash", str(RO_CHROOT), *(["--as-root"] if as_root else []), str(bundle), *command]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def tree(root: pathlib.Path) -> dict[str, tuple[int, int, int]]:
    """Every path of a tree with its mode, size and modification time."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def test_the_tag_is_the_name_and_pbr_version_without_a_registry(index: dict, version: str) -> None:
    (descriptor,) = index["manifests"]
    ref = descriptor["annotations"]["org.opencontainers.image.ref.name"]
    assert ref == f"{NAME}:{version}"
    assert "/" not in ref


def test_every_layer_matches_its_digest(
    layout: pathlib.Path, manifest: dict, image_config: dict
) -> None:
    layers = manifest["layers"]
    assert layers, manifest
    for layer in layers:
        assert layer["mediaType"].startswith("application/vnd.oci.image.layer.v1.tar")
        _blob(layout, layer)
    assert len(image_config["rootfs"]["diff_ids"]) == len(layers)


def test_the_config_runs_the_worker_as_42424(image_config: dict, version: str) -> None:
    config = image_config["config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["k8s-worker"]
    assert config["WorkingDir"] == "/tmp"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PATH"].split(":")[0] == "/opt/venv/bin"
    assert env["HOME"] == "/tmp"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert all(env[f"HELM_{d}_HOME"].startswith("/tmp/") for d in ("CACHE", "CONFIG", "DATA"))
    assert config["Labels"]["org.opencontainers.image.version"] == version
    assert "9469/tcp" in config["ExposedPorts"]


def test_k8s_worker_version_runs_inside_as_42424_on_a_read_only_root(
    bundle: pathlib.Path, version: str
) -> None:
    before = tree(bundle / "rootfs")
    proc = run_in_image(bundle, "k8s-worker", "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1:] == [version], (proc.stdout, proc.stderr)
    whoami = run_in_image(bundle, "id", "-u")
    assert whoami.stdout.strip() == str(UID), whoami.stderr
    assert tree(bundle / "rootfs") == before


def test_helm_runs_inside(bundle: pathlib.Path) -> None:
    proc = run_in_image(bundle, "helm", "version", "--short")
    assert proc.returncode == 0, proc.stderr
    assert re.match(r"v3\.\d+\.\d+", proc.stdout), proc.stdout


def test_tmp_is_writable_and_the_root_is_not(bundle: pathlib.Path) -> None:
    before = tree(bundle / "rootfs")
    tmp = run_in_image(bundle, "sh", "-c", "echo ok >/tmp/probe && cat /tmp/probe")
    assert (tmp.returncode, tmp.stdout.strip()) == (0, "ok"), tmp.stderr
    for as_root in (False, True):
        proc = run_in_image(bundle, "sh", "-c", "touch /probe /opt/venv/probe", as_root=as_root)
        assert proc.returncode != 0
        # Even root is refused: the mount is read-only, not only the permissions.
        if as_root:
            assert "Read-only file system" in proc.stderr, proc.stderr
    assert tree(bundle / "rootfs") == before


def test_only_runtime_dependencies_are_installed(bundle: pathlib.Path) -> None:
    rootfs = bundle / "rootfs"
    status = (rootfs / "var/lib/dpkg/status").read_text()
    installed = {
        block.split("\n", 1)[0].removeprefix("Package: ")
        for block in status.split("\n\n")
        if "Status: install ok installed" in block
    }
    assert "python3" in installed
    assert not BUILD_PACKAGES & installed
    venv_bin = rootfs / "opt/venv/bin"
    assert (venv_bin / "k8s-worker").exists()
    assert not list(venv_bin.glob("pip*"))
    assert not list((rootfs / "opt/venv/lib").glob("python3*/site-packages/pip"))
    assert not list(rootfs.glob("wheels")) and not (rootfs / "helm").exists()


def test_the_manifests_name_the_image_without_a_registry() -> None:
    kube = ROOT / "etc" / "kubernetes"
    deployment = yaml.safe_load((kube / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    name, _, tag = container["image"].partition(":")
    assert name == NAME and tag, container["image"]
    assert pod["securityContext"]["runAsUser"] == UID
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    kustomization = yaml.safe_load((kube / "kustomization.yaml").read_text())
    images = {i["name"]: i for i in kustomization["images"]}
    assert "/" not in images[NAME].get("newName", NAME)
