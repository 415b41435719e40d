"""One helper for the processes tests start (the worker, the dev server): a
subprocess that prints READY when it serves, logs to a file, and is stopped
by its own pid (SIGTERM, or SIGKILL), never by name."""

from __future__ import annotations

import asyncio
import os
import pathlib
import shutil
import signal
from collections.abc import Sequence

ROOT = pathlib.Path(__file__).resolve().parents[2]


def die_with_parent() -> list[str]:
    """A command prefix that SIGKILLs a test's child process when the test run dies.

    The test bed outlives a run, so a worker left by an aborted run would go on
    consuming from the shared broker and loading the next run.  util-linux's
    ``setpriv`` sets PR_SET_PDEATHSIG and execs the command (same pid); a
    ``preexec_fn`` would do it too, but makes every spawn a fork that eventlet
    (imported by oslo libraries) warns about.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


class ReadyProcess:
    """``argv`` run from this checkout (its modules importable), stderr to
    ``log``; :meth:`start` returns once it printed READY on stdout (else kills
    it and raises AssertionError with the log's tail); :meth:`stop` sends
    SIGTERM and returns the exit status."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log: pathlib.Path,
        env: dict[str, str] | None = None,
        name: str = "worker",
        append_log: bool = True,
    ) -> None:
        self.argv = list(argv)
        self.log = log
        self.env = dict(env or {})  # e.g. libfaketime's, for a skewed clock
        self.name = name
        self.append_log = append_log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, *, within: float = 60.0) -> None:
        env = {**os.environ, "PYTHONWARNINGS": "ignore", **self.env}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        with self.log.open("ab" if self.append_log else "wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *die_with_parent(),
                *self.argv,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=env,
                cwd=str(ROOT),
            )
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), within)
        except TimeoutError:
            line = b""
        if line.strip() != b"READY":
            await self.kill()  # one that never got ready must not go on consuming
            tail = self.log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"{self.name} did not start; log: {tail}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def stop(self, *, within: float = 60.0) -> int:
        """SIGTERM, wait; the exit status (SIGKILL and AssertionError past ``within``)."""
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            await self.kill()
            raise AssertionError(f"{self.name} did not stop on SIGTERM") from None

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
