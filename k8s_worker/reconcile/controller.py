"""A generic controller, in controller-runtime's sense: keys from a work
queue, handed to a handler by a fixed number of worker tasks, with one place
that decides what follows a handler's outcome.

It knows nothing of VNFs (an import-linter contract keeps it so): the handler
returns when to look at the key again, and a classifier turns each exception
into one of three verdicts.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

import structlog

from k8s_worker import stages
from k8s_worker.jitter import jittered
from k8s_worker.reconcile.workqueue import WorkQueue

LOG = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True)
class Forget:
    """Drop the key: nothing to retry here (another replica's now, say)."""

    reason: str = ""


@dataclasses.dataclass(frozen=True)
class RetryAfter:
    """Look again after ``seconds``, with no backoff (a lost race)."""

    seconds: float


@dataclasses.dataclass(frozen=True)
class Backoff:
    """A failure: look again after an exponential, per-key backoff; logged
    (with its traceback when ``traceback``: an error nobody anticipated)."""

    traceback: bool = False


Verdict = Forget | RetryAfter | Backoff
#: Returns seconds until the key needs another look, or None.
KeyHandler = Callable[[str], Awaitable[float | None]]
Classifier = Callable[[str, Exception], Verdict]


class Controller:
    """Runs ``handler`` for the queue's keys on ``workers`` tasks until cancelled.

    A key is never handled by two workers at once (the work queue's promise).
    After a handler returns ``seconds``, the key is queued again after them; a
    raised exception goes to ``classify``.  Consecutive failures of a key back
    off from 0.5 s, doubling, to ``backoff_max``; a success or a Forget resets
    them.  Cancellation propagates; nothing else stops a worker.
    """

    def __init__(
        self,
        *,
        queue: WorkQueue,
        handler: KeyHandler,
        classify: Classifier,
        workers: int = 16,
        backoff_max: float = 60.0,
        key_name: str = "key",
    ) -> None:
        self.queue = queue
        self.handler = handler
        self.classify = classify
        self.workers = workers
        self.backoff_max = backoff_max
        self.key_name = key_name  # how the logs name a key
        self._failures: dict[str, int] = {}

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for _ in range(self.workers):
                group.create_task(self._worker())

    def forget(self, key: str) -> None:
        """Reset the key's backoff (it is not ours to retry any more)."""
        self._failures.pop(key, None)

    def backoff(self, key: str) -> float:
        """The delay of the key's next failure, counting it (jittered ±20 %, so
        replicas that failed together do not retry in lockstep)."""
        n = self._failures[key] = self._failures.get(key, 0) + 1
        return jittered(min(self.backoff_max, 0.25 * 2 ** min(n, 16)))

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            token = stages.QUEUED_AT.set(self.queue.queued_at(key))
            try:
                with stages.timed("pass"):
                    after = await self.handler(key)
                self._failures.pop(key, None)
                if after is not None:
                    self.queue.add_after(key, after)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._settle(key, exc)
            finally:
                stages.QUEUED_AT.reset(token)
                self.queue.done(key)

    def _settle(self, key: str, exc: Exception) -> None:
        verdict = self.classify(key, exc)
        if isinstance(verdict, Forget):
            self.forget(key)
            return
        if isinstance(verdict, RetryAfter):
            self.queue.add_after(key, verdict.seconds)
            return
        delay = self.backoff(key)
        LOG.warning(
            "reconcile.failed",
            **{self.key_name: key},
            error=str(exc),
            error_type=type(exc).__name__,
            retry_in=delay,
            attempt=self._failures[key],
            exc_info=verdict.traceback,
        )
        self.queue.add_after(key, delay)
