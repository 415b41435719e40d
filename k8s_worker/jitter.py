"""Jittered delays, so that replicas that failed together do not retry together.

Every retry loop of the worker's own (the informers' re-watch, the
controller's per-key backoff) spreads its delay over ±20 %, as client-go's
``wait.Jitter`` does; the Kubernetes requests themselves retry with tenacity's
``wait_exponential_jitter``.
"""

from __future__ import annotations

import random

JITTER = 0.2


def jittered(seconds: float, *, fraction: float = JITTER) -> float:
    """``seconds`` spread uniformly over ``[1 - fraction, 1 + fraction]`` of itself."""
    return seconds * random.uniform(1.0 - fraction, 1.0 + fraction)
