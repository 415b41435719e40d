"""Reading a CSAR as hostile input: what is refused, and why, with nothing else read."""

from __future__ import annotations

import base64
import io
import stat
import zipfile

import pytest

from k8s_worker.packages import PackageError, PackageLimits, open_package
from tests import cnf_packages as pkg

LIMITS = PackageLimits()


def _refused(raw: object, limits: PackageLimits = LIMITS) -> str:
    with pytest.raises(PackageError) as caught:
        open_package(raw, limits=limits)  # type: ignore[arg-type]
    return str(caught.value)


def test_a_csar_opens_with_its_entry_and_every_file() -> None:
    opened = open_package(pkg.csar_b64(), limits=LIMITS)
    assert opened.entry == "Definitions/cnf_top.vnfd.yaml"
    assert set(pkg.files()) | {"TOSCA-Metadata/TOSCA.meta"} == set(opened.files)


def test_a_mapping_opens_like_the_zip() -> None:
    files = pkg.files()
    files["TOSCA-Metadata/TOSCA.meta"] = pkg.tosca_meta(files)
    assert open_package(files, limits=LIMITS).files == open_package(pkg.csar(), limits=LIMITS).files


def test_a_changed_file_fails_its_hash() -> None:
    files = pkg.files()
    meta = pkg.tosca_meta(files)
    files["Files/kubernetes/db.yaml"] += "# changed\n"
    message = _refused(base64.b64encode(pkg.csar(files, meta=meta)).decode())
    assert "Files/kubernetes/db.yaml: the SHA-256 hash does not match" in message


def test_a_listed_file_that_is_missing_and_an_unknown_algorithm_are_named() -> None:
    files = pkg.files()
    meta = pkg.tosca_meta(files) + (
        "\nName: Files/kubernetes/gone.yaml\nAlgorithm: SHA-256\nHash: 00\n"
        "\nName: Files/kubernetes/web.yaml\nAlgorithm: MD5\nHash: 00\n"
    )
    message = _refused(pkg.csar(files, meta=meta))
    assert "Files/kubernetes/gone.yaml is listed but not in the package" in message
    assert "unknown hash algorithm 'MD5'" in message


def test_a_mf_manifest_is_checked_too() -> None:
    files = pkg.files()
    files["cnf_top.mf"] = (
        "metadata:\n  vnf_product_name: x\n\nSource: Files/kubernetes/web.yaml\n"
        "Algorithm: SHA-256\nHash: 0000\n"
    )
    meta = pkg.tosca_meta(files)
    assert "cnf_top.mf: Files/kubernetes/web.yaml" in _refused(pkg.csar(files, meta=meta))


@pytest.mark.parametrize(
    "name", ["../evil.yaml", "Files/../../evil.yaml", "/etc/passwd", "C:/x.yaml", "a\\b.yaml"]
)
def test_entries_escaping_the_root_are_refused(name: str) -> None:
    assert "escapes the package root" in _refused(pkg.csar(raw_entries={name: b"x"}))


def test_a_symbolic_link_is_refused() -> None:
    buf = io.BytesIO(pkg.csar())
    with zipfile.ZipFile(buf, "a") as archive:
        info = zipfile.ZipInfo("Files/kubernetes/link.yaml")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/shadow")
    assert "is a symbolic link" in _refused(buf.getvalue())


def test_a_zip_bomb_is_refused_by_what_it_expands_to() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("TOSCA-Metadata/TOSCA.meta", "Entry-Definitions: a.yaml\n")
        archive.writestr("a.yaml", "x")
        archive.writestr("Files/bomb.txt", b"\0" * (8 << 20))
    assert "fold, over the limit of 100" in _refused(buf.getvalue())
    small = PackageLimits(max_expanded_bytes=1 << 20, max_ratio=100_000)
    assert "expands to more than 1048576 bytes" in _refused(buf.getvalue(), small)


def test_too_many_files_and_too_many_bytes_are_refused() -> None:
    assert "over the limit of 3" in _refused(pkg.csar(), PackageLimits(max_files=3))
    assert "over the limit of 2048 bytes" in _refused(pkg.csar_b64(), PackageLimits(max_bytes=2048))


def test_text_that_is_not_base64_and_bytes_that_are_not_a_zip_are_refused() -> None:
    assert "must be a base64 CSAR zip" in _refused("not base64 at all!")
    assert "not a zip file" in _refused(base64.b64encode(b"plain").decode())


def test_the_entry_must_exist() -> None:
    files = pkg.files()
    meta = pkg.tosca_meta(files, entry="Definitions/absent.yaml")
    assert "Entry-Definitions 'Definitions/absent.yaml'" in _refused(pkg.csar(files, meta=meta))
