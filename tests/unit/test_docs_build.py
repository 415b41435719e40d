"""The documentation builds as ``tox -e docs`` builds it: HTML and man pages
from doc/source, warnings as errors, into a temporary directory (the checkout
is left as it was)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "doc" / "source"
MAN_PAGES = ("k8s-worker", "k8s-worker-tail", "k8s-worker-status", "k8s-worker-vnfd")

pytest.importorskip(
    "sphinx", reason="Sphinx is not installed (doc/requirements.txt, test-requirements.txt)"
)


def sphinx_build(builder: str, out: Path, doctrees: Path, *extra: str) -> None:
    env = dict(os.environ)
    # The configuration reference imports the worker's options.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "sphinx", "-W", *extra, "-q", "-d", str(doctrees)]
    done = subprocess.run(
        [*command, "-b", builder, str(SOURCE), str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"sphinx-build -b {builder} failed:\n{done.stderr}"


def test_the_documentation_builds_without_a_warning(tmp_path: Path) -> None:
    doctrees = tmp_path / "doctrees"
    sphinx_build("html", tmp_path / "html", doctrees, "--keep-going")
    # Read once: the man pages are written from the same doctrees.
    sphinx_build("man", tmp_path / "man", doctrees)
    for page in ("index", "install", "contract", "notifications", "configuration", "benchmarks"):
        assert (tmp_path / "html" / f"{page}.html").is_file(), page
    for name in MAN_PAGES:
        assert (tmp_path / "man" / f"{name}.1").is_file(), name
    reference = (tmp_path / "html" / "configuration.html").read_text()
    assert "transport_url" in reference and "record_namespace" in reference, (
        "the configuration reference lists the worker's options and oslo.messaging's"
    )
