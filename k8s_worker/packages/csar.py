"""Reading a CNF package (ETSI SOL004 CSAR) as tenant input: safely, within bounds.

A package arrives as a CSAR zip (base64) or as a mapping of artifact path ->
text.  Either way it becomes a :class:`Package`: its files by normalised path
and the path of its entry VNFD.  The zip is hostile until read: an entry whose
name escapes the package root (``../``, an absolute path, a drive, a
backslash) or that is a symbolic link is refused, and the bytes, the number of
files, the bytes once expanded and each entry's compression ratio are capped
(``[limits]``), counting what is actually read, never what the zip headers
claim.  The entry VNFD is found as SOL004 says: ``Entry-Definitions`` of
``TOSCA-Metadata/TOSCA.meta``, else the one YAML file at the root.  Every hash
the package lists (in ``TOSCA.meta`` or the root ``.mf`` manifest) is checked
against the file it names.  Pure: no I/O beyond the bytes given.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import posixpath
import stat
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

META_PATH = "TOSCA-Metadata/TOSCA.meta"
#: The algorithms a package may name for its hashes (SOL004 lists SHA-256 and SHA-512).
ALGORITHMS = {"SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512"}
#: How a stored package is told apart from a TOSCA descriptor.
STORED_FORM = "package"


class PackageError(ValueError):
    """The package cannot be used; ``problems`` says every reason found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__(str(self))

    def __reduce__(self) -> tuple[type[PackageError], tuple[list[str]]]:
        return (PackageError, (self.problems,))

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return f"invalid package: {self.problems[0]}"
        return "invalid package:\n" + "\n".join(f"  - {p}" for p in self.problems)


@dataclass(frozen=True)
class PackageLimits:
    """How large one package may be (``[limits]`` max_package_*)."""

    max_bytes: int = 16 << 20  # the zip (or the mapping's texts) as sent
    max_files: int = 500
    max_expanded_bytes: int = 64 << 20
    max_ratio: int = 100  # expanded / compressed, per entry


@dataclass(frozen=True)
class Package:
    """A package's files by normalised path (text; binary files base64 in
    ``binary``) and its entry VNFD's path."""

    files: Mapping[str, str]
    entry: str
    binary: Mapping[str, str] = field(default_factory=dict)

    def text(self, path: str) -> str | None:
        return self.files.get(normalised(path) or "")

    def stored(self) -> dict[str, Any]:
        """The form kept in the descriptor store (JSON, content-addressed)."""
        return {
            "form": STORED_FORM,
            "entry": self.entry,
            "files": dict(self.files),
            "binary": dict(self.binary),
        }

    @classmethod
    def from_stored(cls, value: Mapping[str, Any]) -> Package:
        return cls(
            files=dict(value.get("files") or {}),
            entry=str(value.get("entry") or ""),
            binary=dict(value.get("binary") or {}),
        )


def is_stored_package(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("form") == STORED_FORM


def normalised(path: str) -> str | None:
    """``path`` inside the package root, without ``./``; None when it escapes
    the root or is not a plain relative POSIX path."""
    if not path or "\\" in path or "\x00" in path:
        return None
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return None
    if any(part == ".." for part in path.split("/")):
        return None
    clean = posixpath.normpath(path)
    if clean in (".", "") or clean.startswith("../"):
        return None
    return clean


def open_package(raw: str | bytes | Mapping[str, Any], *, limits: PackageLimits) -> Package:
    """The package ``raw`` is (base64 zip text, zip bytes, or path -> text);
    PackageError naming every problem otherwise."""
    if isinstance(raw, Mapping):
        files, binary = _from_mapping(raw, limits)
    else:
        files, binary = _from_zip(_zip_bytes(raw, limits), limits)
    problems: list[str] = []
    entry = _entry(files, problems)
    problems += check_hashes(files, binary, entry=entry)
    if problems:
        raise PackageError(problems)
    return Package(files=files, entry=entry or "", binary=binary)


def _zip_bytes(raw: str | bytes, limits: PackageLimits) -> bytes:
    if isinstance(raw, str):
        if len(raw) > limits.max_bytes * 4 // 3 + 4:
            raise PackageError([f"the package is over the limit of {limits.max_bytes} bytes"])
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise PackageError(["a package given as text must be a base64 CSAR zip"]) from None
    else:
        data = raw
    if len(data) > limits.max_bytes:
        raise PackageError(
            [f"the package is {len(data)} bytes, over the limit of {limits.max_bytes}"]
        )
    return data


def _from_mapping(
    raw: Mapping[str, Any], limits: PackageLimits
) -> tuple[dict[str, str], dict[str, str]]:
    problems: list[str] = []
    files: dict[str, str] = {}
    if len(raw) > limits.max_files:
        raise PackageError(
            [f"the package has {len(raw)} files, over the limit of {limits.max_files}"]
        )
    total = 0
    for path, text in raw.items():
        clean = normalised(str(path))
        if clean is None:
            problems.append(f"file {path!r} is not a path inside the package")
            continue
        if not isinstance(text, str):
            problems.append(f"file {path!r} must be text, not {type(text).__name__}")
            continue
        total += len(text.encode("utf-8", errors="replace"))
        if total > limits.max_bytes:
            raise PackageError(
                [f"the package's files are over the limit of {limits.max_bytes} bytes"]
            )
        files[clean] = text
    if problems:
        raise PackageError(problems)
    return files, {}


def _from_zip(data: bytes, limits: PackageLimits) -> tuple[dict[str, str], dict[str, str]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:  # a hostile zip may break the reader any way it likes
        raise PackageError(
            [f"the package is not a zip file ({type(exc).__name__}: {exc})"]
        ) from None
    problems: list[str] = []
    files: dict[str, str] = {}
    binary: dict[str, str] = {}
    infos = archive.infolist()
    entries = [i for i in infos if not i.filename.endswith("/")]
    if len(entries) > limits.max_files:
        raise PackageError(
            [f"the package has {len(entries)} files, over the limit of {limits.max_files}"]
        )
    expanded = 0
    for info in infos:
        name = info.filename
        is_dir = name.endswith("/")
        clean = normalised(name.rstrip("/") if is_dir else name)
        if clean is None:
            problems.append(f"zip entry {name!r} escapes the package root")
            continue
        mode = info.external_attr >> 16
        if mode and stat.S_ISLNK(mode):
            problems.append(f"zip entry {name!r} is a symbolic link (refused)")
            continue
        if is_dir:
            continue
        if info.flag_bits & 0x1:
            problems.append(f"zip entry {name!r} is encrypted")
            continue
        if clean in files or clean in binary:
            problems.append(f"zip entry {name!r} appears twice")
            continue
        budget = limits.max_expanded_bytes - expanded
        try:
            with archive.open(info) as handle:
                content = handle.read(budget + 1)
        except Exception as exc:  # zlib.error, a bad header, an unknown method...
            problems.append(f"zip entry {name!r} cannot be read ({type(exc).__name__}: {exc})")
            continue
        expanded += len(content)
        if expanded > limits.max_expanded_bytes:
            raise PackageError(
                [f"the package expands to more than {limits.max_expanded_bytes} bytes"]
            )
        compressed = max(info.compress_size, 1)
        if len(content) > 1024 and len(content) / compressed > limits.max_ratio:
            raise PackageError(
                [
                    f"zip entry {name!r} expands {len(content) // compressed}-fold, over the "
                    f"limit of {limits.max_ratio} (a zip bomb?)"
                ]
            )
        try:
            files[clean] = content.decode("utf-8")
        except UnicodeDecodeError:
            binary[clean] = base64.b64encode(content).decode()
    if problems:
        raise PackageError(problems)
    return files, binary


def parse_meta(text: str) -> list[dict[str, str]]:
    """TOSCA.meta (or a ``.mf`` manifest's non-metadata part) as blocks of
    ``Key: value`` lines, a blank line ending each block."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        if line.startswith((" ", "\t")) or ":" not in line:
            continue  # a nested map (.mf metadata) or a continuation: not ours
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key in current and key in ("Name", "Source"):
            blocks.append(current)
            current = {}
        current[key] = value
    if current:
        blocks.append(current)
    return blocks


def _entry(files: Mapping[str, str], problems: list[str]) -> str | None:
    meta = files.get(META_PATH)
    if meta is not None:
        head = next(iter(parse_meta(meta)), {})
        entry = head.get("Entry-Definitions") or head.get("Entry-definitions")
        if not entry:
            problems.append(f"{META_PATH} names no Entry-Definitions")
            return None
        clean = normalised(entry)
        if clean is None or clean not in files:
            problems.append(f"the Entry-Definitions {entry!r} of {META_PATH} is not in the package")
            return None
        return clean
    roots = [p for p in files if "/" not in p and p.endswith((".yaml", ".yml"))]
    if len(roots) != 1:
        problems.append(
            f"without {META_PATH} the package must have exactly one YAML file at its root "
            f"(it has {len(roots)})"
        )
        return None
    return roots[0]


def _manifest_path(files: Mapping[str, str], entry: str | None) -> str | None:
    meta = files.get(META_PATH)
    if meta is not None:
        head = next(iter(parse_meta(meta)), {})
        named = head.get("ETSI-Entry-Manifest") or head.get("Entry-Manifest")
        if named:
            return normalised(named)
    if entry:
        base = posixpath.splitext(posixpath.basename(entry))[0] + ".mf"
        if base in files:
            return base
    roots = [p for p in files if "/" not in p and p.endswith(".mf")]
    return roots[0] if len(roots) == 1 else None


def check_hashes(
    files: Mapping[str, str], binary: Mapping[str, str], *, entry: str | None
) -> list[str]:
    """Every hash TOSCA.meta and the ``.mf`` manifest list, checked: a problem
    per mismatch, unknown algorithm or missing file."""
    problems: list[str] = []
    listed: list[tuple[str, str, dict[str, str]]] = []  # (where, path, block)
    meta = files.get(META_PATH)
    if meta is not None:
        for block in parse_meta(meta)[1:]:
            if "Name" in block and ("Hash" in block or "Algorithm" in block):
                listed.append((META_PATH, block["Name"], block))
    manifest = _manifest_path(files, entry)
    if manifest and manifest in files:
        for block in parse_meta(files[manifest]):
            if "Source" in block and ("Hash" in block or "Algorithm" in block):
                listed.append((manifest, block["Source"], block))
    for where, path, block in listed:
        if "://" in path:
            continue  # an external artifact: not in the package, not ours to fetch
        clean = normalised(path)
        algorithm = ALGORITHMS.get(block.get("Algorithm", "").upper().replace("-", ""))
        if algorithm is None:
            problems.append(f"{where}: {path}: unknown hash algorithm {block.get('Algorithm')!r}")
            continue
        if clean is None or (clean not in files and clean not in binary):
            problems.append(f"{where}: {path} is listed but not in the package")
            continue
        content = (
            files[clean].encode("utf-8") if clean in files else base64.b64decode(binary[clean])
        )
        digest = hashlib.new(algorithm, content).hexdigest()
        if digest.lower() != block.get("Hash", "").strip().lower():
            problems.append(f"{where}: {path}: the {block.get('Algorithm')} hash does not match")
    return problems
