"""Fenced writes: checked before each attempt, bounded by the lease's safe end."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from k8s_worker.kube import Kube, KubeUnavailable
from k8s_worker.kube.fence import WRITE_FENCE, Fenced


class FlakyKube(Kube):
    """A Kube whose transport always finds the API server away, counting attempts."""

    def __init__(self) -> None:
        super().__init__(None, retry_seconds=30.0)  # type: ignore[arg-type]
        self.attempts: list[tuple[str, float]] = []

    async def _once(self, method: str, path: str, **kwargs: Any) -> Any:
        self.attempts.append((method, kwargs["request_seconds"]))
        raise KubeUnavailable("down", status=503)


async def test_no_write_once_the_fence_is_closed() -> None:
    kube = FlakyKube()
    token = WRITE_FENCE.set(lambda: None)
    try:
        with pytest.raises(Fenced):
            await kube.request("DELETE", "/api/v1/namespaces/ns/pods/p")
    finally:
        WRITE_FENCE.reset(token)
    assert kube.attempts == []


async def test_retries_and_timeouts_end_with_the_lease() -> None:
    kube = FlakyKube()
    deadline = time.monotonic() + 1.0
    token = WRITE_FENCE.set(lambda: deadline)
    started = time.monotonic()
    try:
        with pytest.raises((KubeUnavailable, Fenced)):
            await kube.request("PATCH", "/apis/apps/v1/namespaces/ns/deployments/d/scale")
    finally:
        WRITE_FENCE.reset(token)
    assert time.monotonic() - started < 3.0  # not the 30 s of retries
    assert kube.attempts and all(timeout <= 1.0 for _, timeout in kube.attempts)


async def test_reads_and_other_tasks_are_not_fenced() -> None:
    kube = FlakyKube()
    kube.retry_seconds = 0.3
    token = WRITE_FENCE.set(lambda: None)
    try:
        with pytest.raises(KubeUnavailable):  # a read still tries
            await kube.request("GET", "/api/v1/namespaces/ns/pods")

        async def elsewhere() -> None:
            WRITE_FENCE.set(None)  # e.g. the intake's own task
            with pytest.raises(KubeUnavailable):
                await kube.request("PUT", "/apis/x")

        await asyncio.create_task(elsewhere())
    finally:
        WRITE_FENCE.reset(token)
