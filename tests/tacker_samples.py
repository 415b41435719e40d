"""Tacker v2's own CNF sample packages, taken at run time from Tacker's source
distribution on PyPI (downloaded once, cached; never copied into this
repository), and zipped as Tacker's functional tests zip them
(``tacker/tests/functional/sol_v2_common/utils.py:make_zip``: the sample's
``contents/`` plus the ETSI SOL001 type files of ``common/Definitions``)."""

from __future__ import annotations

import io
import os
import pathlib
import subprocess
import sys
import tarfile
import zipfile

TACKER_VERSION = os.environ.get("TKW_TACKER_VERSION", "16.0.0")
CACHE = pathlib.Path(os.environ.get("TKW_CACHE", pathlib.Path.home() / ".cache/tacker-k8s-worker"))
SAMPLES = "samples/tests/functional/sol_kubernetes_v2"


def samples_dir() -> pathlib.Path:
    """Tacker's ``sol_kubernetes_v2`` samples, unpacked from its sdist (cached)."""
    root = CACHE / f"tacker-{TACKER_VERSION}-samples"
    done = root / ".complete"
    if done.exists():
        return root / SAMPLES
    download = CACHE / "tacker-sdist"
    download.mkdir(parents=True, exist_ok=True)
    sdist = download / f"tacker-{TACKER_VERSION}.tar.gz"
    if not sdist.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"tacker=={TACKER_VERSION}",
                "-d",
                str(download),
                "--quiet",
            ],
            check=True,
            timeout=600,
        )
    prefix = f"tacker-{TACKER_VERSION}/{SAMPLES}/"
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.name.startswith(prefix) and m.isfile()]
        for member in members:
            target = root / member.name.removeprefix(f"tacker-{TACKER_VERSION}/")
            target.parent.mkdir(parents=True, exist_ok=True)
            handle = archive.extractfile(member)
            assert handle is not None
            target.write_bytes(handle.read())
    done.write_text(TACKER_VERSION)
    return root / SAMPLES


def make_zip(sample: str) -> bytes:
    """The CSAR of one sample, as Tacker's tests build it."""
    base = samples_dir()
    contents = base / sample / "contents"
    common = base / "common" / "Definitions"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(contents.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(contents).as_posix())
        for path in sorted(common.glob("*")):
            archive.write(path, f"Definitions/{path.name}")
    return buf.getvalue()
