"""``k8s-worker-vnfd``: check or render a VNF descriptor or package, as the worker would.

    k8s-worker-vnfd validate vnfd.yaml
    k8s-worker-vnfd validate my-cnf.csar --request instantiate.json
    k8s-worker-vnfd render vnfd.yaml --vnf-id 6f0c... | kubectl apply --dry-run=server -f -
    k8s-worker-vnfd render my-cnf/ --request instantiate.json --namespace cnf

FILE is a TOSCA VNFD (Tacker's containerized form or SOL001), a CSAR (zip), or
a directory holding an unpacked CSAR.  A package needs its instantiate request
(``--request``: a JSON file with flavourId, instantiationLevelId and
additionalParams, as Tacker v2 sends them).  ``validate`` prints each problem
with the worker's own messages (exit 1), or a summary (exit 0); ``render``
prints the manifests the worker would apply, as YAML documents.  Nothing is
sent anywhere.  Exit status 2 is a usage error (a file that cannot be read).
"""

from __future__ import annotations

import argparse
import io
import json
import pathlib
import sys
import zipfile
from typing import Any

import yaml

from k8s_worker.packages import PackageError, PackageLimits, open_package
from k8s_worker.packages.cnf import translate_package
from k8s_worker.tosca.errors import Problem, VnfdError
from k8s_worker.tosca.translate import Translation, translate
from k8s_worker.version import version_string

PROG = "k8s-worker-vnfd"
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
DEFAULT_VNF_ID = "vnfd-render"
#: A file this big is refused before it is read (the worker's own cap is lower).
MAX_INPUT = 64 * 1024 * 1024


def _read_source(path: pathlib.Path) -> Any:
    """A descriptor's text, a package's zip bytes, or an unpacked package's files."""
    if path.is_dir():  # zipped in memory: binary files (a chart's .tgz) and the limits as a CSAR
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
            for item in sorted(path.rglob("*")):
                if item.is_file():
                    archive.write(item, item.relative_to(path).as_posix())
        return buf.getvalue()
    if path.stat().st_size > MAX_INPUT:
        raise OSError(f"{path}: larger than {MAX_INPUT // (1024 * 1024)} MiB")
    data = path.read_bytes()
    return data if data[:4] == b"PK\x03\x04" else data.decode()


def _translate(source: Any, *, args: argparse.Namespace) -> Translation:
    request: dict[str, Any] = {}
    if args.request:
        request = json.loads(pathlib.Path(args.request).read_text())
    params = json.loads(pathlib.Path(args.params).read_text()) if args.params else None
    if isinstance(source, str):
        return translate(
            source,
            vnf_id=args.vnf_id,
            vnf_name=args.vnf_name,
            namespace=args.namespace,
            params=params,
        )
    package = open_package(source, limits=PackageLimits())
    if not request:
        raise VnfdError([Problem(None, None, "a package needs its instantiate request: --request")])
    stored = {**package.stored(), "request": request}
    return translate_package(
        stored, vnf_id=args.vnf_id, vnf_name=args.vnf_name, namespace=args.namespace, params=params
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=version_string())
    commands = parser.add_subparsers(dest="command", required=True)
    for name, what in (
        ("validate", "print the problems the worker would report (or a summary)"),
        ("render", "print the manifests the worker would apply (YAML documents)"),
    ):
        sub = commands.add_parser(name, help=what)
        sub.add_argument("file", type=pathlib.Path, help="VNFD YAML, CSAR zip or CSAR directory")
        sub.add_argument("--vnf-id", default=DEFAULT_VNF_ID, help="names and labels the objects")
        sub.add_argument("--vnf-name", default=None, help="the VNF's name (an annotation)")
        sub.add_argument("--namespace", default=None, help="the namespace when the VNFD names none")
        sub.add_argument("--request", default=None, help="a package's instantiate request (JSON)")
        sub.add_argument("--params", default=None, help="values of the VNFD's inputs (JSON)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        source = _read_source(args.file)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{PROG}: error: cannot read {args.file}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        translation = _translate(source, args=args)
    except (VnfdError, PackageError) as exc:
        problems = getattr(exc, "problems", None) or [exc]
        for problem in problems:
            print(
                f"{args.file}: {problem}",
                file=sys.stderr if args.command == "render" else sys.stdout,
            )
        return EXIT_PROBLEMS
    except (OSError, ValueError) as exc:  # --request/--params unreadable or not JSON
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "render":
        for obj in translation.objects:  # where the worker would place them
            if args.namespace and not obj.get("metadata", {}).get("namespace"):
                obj.setdefault("metadata", {})["namespace"] = args.namespace
        sys.stdout.write(yaml.safe_dump_all(translation.objects, sort_keys=False))
        return EXIT_OK
    kinds: dict[str, int] = {}
    for obj in translation.objects:
        kinds[obj.get("kind", "?")] = kinds.get(obj.get("kind", "?"), 0) + 1
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    vdus = ", ".join(translation.vdu_names()) or "none"
    chart = f"; a Helm chart ({translation.chart.path})" if translation.chart else ""
    print(f"{args.file}: OK ({translation.form}): VDUs {vdus}; objects: {summary or 'none'}{chart}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
