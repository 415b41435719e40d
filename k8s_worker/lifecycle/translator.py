"""Descriptor translation in a bounded child process.

A descriptor is tenant input, and tosca-parser is a large library: whatever a
descriptor makes it do, it must cost one bounded child, never the replica.  So
``translate`` runs in a process pool whose workers have an address-space limit
(``RLIMIT_AS``) and a time budget per call; a worker over either is killed and
replaced, and the call fails with a short message.  The event loop never waits
on parsing.  The workers start from a fork server that has the translation
code preloaded, so a new worker is ready in milliseconds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import resource
import select
import signal
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import structlog

from k8s_worker.packages import is_stored_package, translate_package
from k8s_worker.tosca import Translation, VnfdError, translate
from k8s_worker.tosca.loader import YamlBudget

LOG = structlog.get_logger(__name__)


class TranslationAborted(Exception):
    """The child ran out of its memory or time budget; the message says which."""


class TranslatorUnavailable(Exception):
    """The pool broke (a child died, or was killed for another call's sake):
    this call may be retried."""


@dataclass(frozen=True)
class TranslatorLimits:
    """Budgets of one translation (``[limits]`` options)."""

    memory_bytes: int = 1 << 30
    timeout: float = 30.0
    processes: int = 1
    yaml: YamlBudget = field(default_factory=YamlBudget)


def _init_child(memory_bytes: int, replica_pid: int) -> None:
    """Pool worker initializer: cap the address space of this child, and end it
    when the replica dies.

    A pool worker is the fork server's child, not the replica's, and it keeps
    the fork server alive: without this, a replica killed with SIGKILL would
    leave both behind for good (holding its stdout and log open).
    """
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    threading.Thread(target=_exit_with, args=(replica_pid,), daemon=True).start()


def _exit_with(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd here: look every second
        while True:
            time.sleep(1.0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass
    select.select([fd], [], [])  # readable once the process has exited
    os._exit(0)


def _ready() -> bool:
    return True


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Overtime


class _Overtime(BaseException):  # not an Exception: no library handler swallows it
    pass


def translate_descriptor(vnfd: Any, **kwargs: Any) -> Translation:
    """A stored package or a TOSCA VNFD, translated (VnfdError otherwise)."""
    extra_kinds = kwargs.pop("extra_kinds", ())
    if is_stored_package(vnfd):
        return translate_package(vnfd, extra_kinds=tuple(extra_kinds), **kwargs)
    return translate(vnfd, **kwargs)


def _translate(vnfd: Any, kwargs: dict[str, Any], timeout: float) -> Translation:
    # The time budget starts when this child starts the call (not while it
    # waited in the pool's queue), and only this call pays for overrunning it.
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return translate_descriptor(vnfd, **kwargs)
    except _Overtime:
        raise TranslationAborted(f"translation took longer than {timeout:g} s") from None
    except MemoryError:
        raise TranslationAborted("translation needed more memory than allowed") from None
    except VnfdError as exc:
        # tosca-parser reports what it caught, a MemoryError included, as a problem.
        if any("MemoryError" in p.message for p in exc.problems):
            raise TranslationAborted("translation needed more memory than allowed") from None
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _worker_pids(
    pool: concurrent.futures.ProcessPoolExecutor | None, *, alive_only: bool = False
) -> list[int]:
    processes = getattr(pool, "_processes", None) or {}
    return [p.pid for p in processes.values() if p.pid and (p.is_alive() or not alive_only)]


class Translator:
    """Runs :func:`k8s_worker.tosca.translate` in bounded child processes.

    ``translate`` returns the Translation, or raises VnfdError (the descriptor is
    invalid) or TranslationAborted (over budget: memory, time, a dead child).
    With ``limits.processes == 0`` it translates in a thread instead (tests).
    """

    def __init__(self, limits: TranslatorLimits | None = None) -> None:
        self.limits = limits or TranslatorLimits()
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            # Preload what every worker imports (the translation code, and the
            # program's main module, which multiprocessing runs again in each
            # child), so children share it with the fork server, copy-on-write.
            preload = [__name__]
            main_spec = getattr(sys.modules.get("__main__"), "__spec__", None)
            if main_spec is not None and main_spec.name:
                preload.append(main_spec.name)
            context.set_forkserver_preload(preload)
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.limits.processes,
                mp_context=context,
                initializer=_init_child,
                initargs=(self.limits.memory_bytes, os.getpid()),
            )
        return self._pool

    def child_pids(self) -> list[int]:
        """The pool's live worker processes (their memory is the replica's too)."""
        return _worker_pids(self._pool, alive_only=True)

    def _discard_pool(self, pool: concurrent.futures.ProcessPoolExecutor | None = None) -> None:
        """Kill and forget the pool (``pool``: only if it is still the current
        one). Calls queued on it fail with BrokenProcessPool (retried by their
        callers as TranslatorUnavailable), never with a cancellation."""
        if pool is not None and pool is not self._pool:
            return
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for pid in _worker_pids(pool):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        pool.shutdown(wait=False, cancel_futures=False)

    async def start(self) -> None:
        """Start the pool's worker now (a first translation then waits for no
        fork server and no imports)."""
        if self.limits.processes > 0:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor(), _ready)

    async def translate(self, vnfd: Any, **kwargs: Any) -> Translation:
        kwargs = {**kwargs, "budget": self.limits.yaml}
        if self.limits.processes <= 0:
            return await asyncio.to_thread(translate_descriptor, vnfd, **kwargs)
        loop = asyncio.get_running_loop()
        pool = self._executor()
        future = loop.run_in_executor(pool, _translate, vnfd, kwargs, self.limits.timeout)
        # The child enforces the budget itself; this is the backstop for a child
        # that cannot even be interrupted (stuck in C code, say).
        backstop = self.limits.timeout * 4 + 30
        try:
            return await asyncio.wait_for(asyncio.shield(future), backstop)
        except TimeoutError:
            LOG.warning("tosca.translation_stuck", seconds=backstop)
            self._discard_pool(pool)
            raise TranslationAborted(
                f"translation took longer than {self.limits.timeout:g} s"
            ) from None
        except BrokenProcessPool:
            LOG.warning("tosca.translation_child_died")
            self._discard_pool(pool)
            raise TranslatorUnavailable(
                "the translation process died (killed, or out of memory); retrying"
            ) from None

    def close(self) -> None:
        self._discard_pool()
