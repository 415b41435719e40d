"""The Helm 3 CLI, run off the event loop as a child that dies with the worker.

Each call gets a private directory (0700) holding the VIM's credentials as a
kubeconfig (0600), the values as a file (0600, never on the command line,
where ``ps`` would show them) and the chart; the directory is removed after
the call, whatever happened.  Helm's own state (cache, config, data) lives in
that directory too, so nothing of one call leaks into the next.  The child
gets ``PR_SET_PDEATHSIG`` (SIGKILL): a worker killed mid-call takes its helm
with it, and the release is left as helm left it (a ``pending-*`` state the
next owner recovers).  A call that overruns ``timeout`` is killed.  Helm's
errors come back as :class:`HelmError` with its stderr (scrubbed of the
credentials by the caller's rules).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
import yaml

LOG = structlog.get_logger(__name__)
PR_SET_PDEATHSIG = 1
#: Where the k8s_worker package is imported from (the post-renderer's path).
_SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: Most bytes of helm's output kept (a manifest of a large chart is large).
OUTPUT_MAX = 8 << 20


class HelmError(Exception):
    """Helm failed; the message is its own (stderr), trimmed."""

    def __init__(self, message: str, *, returncode: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.returncode = returncode


class HelmUnavailable(HelmError):
    """The helm binary cannot be run here (``[helm] binary``)."""


def _die_with_parent() -> None:  # runs in the child, between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    os.setsid()  # its own group: killing it on timeout takes any child of its too


@dataclass(frozen=True)
class HelmFiles:
    """What one call needs on disk: a kubeconfig (text), values, and the
    chart (a .tgz's bytes, or a directory as path -> bytes)."""

    kubeconfig: str
    values: Mapping[str, Any] = field(default_factory=dict)
    chart: bytes | Mapping[str, bytes] | None = None
    extra: Mapping[str, str] = field(default_factory=dict)  # name -> text (0600)


@dataclass(frozen=True)
class HelmRun:
    """Where a call's files are, for building its arguments."""

    directory: str
    kubeconfig: str
    values: str
    chart: str | None

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)


class HelmRunner:
    """Runs ``helm`` with a call's files: ``run(args, files)`` returns its
    stdout; HelmError (with stderr) when it fails or overruns ``timeout``;
    HelmUnavailable when ``binary`` cannot be run."""

    def __init__(self, *, binary: str = "helm", timeout: float = 180.0) -> None:
        self.binary = binary
        self.timeout = timeout

    def available(self) -> bool:
        return shutil.which(self.binary) is not None

    async def run(
        self,
        args: list[str] | Any,
        files: HelmFiles,
        *,
        build: Any = None,
    ) -> str:
        """``build(run: HelmRun) -> list[str]`` makes the arguments once the
        files are written (or ``args`` as given)."""
        directory = await asyncio.to_thread(tempfile.mkdtemp, prefix="tkw-helm-")
        try:
            run = await asyncio.to_thread(_write, directory, files)
            argv = build(run) if build is not None else list(args)
            return await self._exec([*argv, "--kubeconfig", run.kubeconfig], directory)
        finally:
            await asyncio.to_thread(shutil.rmtree, directory, True)

    async def _exec(self, argv: list[str], directory: str) -> str:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": directory,
            "HELM_CACHE_HOME": os.path.join(directory, "cache"),
            "HELM_CONFIG_HOME": os.path.join(directory, "config"),
            "HELM_DATA_HOME": os.path.join(directory, "data"),
            "HELM_DRIVER": "secret",
        }
        # The post-renderer is this worker's own Python: it needs its path.
        here = _SOURCE_ROOT
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (here, os.environ.get("PYTHONPATH", "")) if p
        )
        if "VIRTUAL_ENV" in os.environ:
            env["VIRTUAL_ENV"] = os.environ["VIRTUAL_ENV"]
        try:
            proc = await asyncio.create_subprocess_exec(
                self.binary,
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=directory,
                preexec_fn=_die_with_parent,
            )
        except (FileNotFoundError, PermissionError) as exc:
            raise HelmUnavailable(f"helm cannot be run ({self.binary}): {exc}") from None
        try:
            async with asyncio.timeout(self.timeout):
                out, err = await proc.communicate()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise HelmError(f"helm {argv[0]} took longer than {self.timeout:g} s") from None
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise
        if proc.returncode != 0:
            text = err.decode(errors="replace").strip()[-4000:] or f"exit {proc.returncode}"
            raise HelmError(text, returncode=proc.returncode or 1)
        return out[:OUTPUT_MAX].decode(errors="replace")


def _write(directory: str, files: HelmFiles) -> HelmRun:
    os.chmod(directory, 0o700)

    def private(name: str, data: bytes) -> str:
        path = os.path.join(directory, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return path

    kubeconfig = private("kubeconfig", files.kubeconfig.encode())
    values = private("values.yaml", yaml.safe_dump(dict(files.values)).encode())
    for name, text in files.extra.items():
        private(name, text.encode())
    chart: str | None = None
    if isinstance(files.chart, bytes):
        chart = private("chart.tgz", files.chart)
    elif files.chart is not None:
        chart = os.path.join(directory, "chart")
        for rel, data in files.chart.items():
            target = os.path.normpath(os.path.join(chart, rel))
            if not target.startswith(chart + os.sep):
                continue  # (paths were checked when the package was read)
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(data)
    return HelmRun(directory=directory, kubeconfig=kubeconfig, values=values, chart=chart)
