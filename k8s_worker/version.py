"""The worker's version, as pbr derives it (from the installed package's
metadata, or from git in a source tree): ``--version`` of every console script,
``tacker_k8s_worker_build_info`` and the image tag use this one string."""

from __future__ import annotations

import functools

import pbr.version

PACKAGE = "tacker-k8s-worker"


@functools.cache
def version_string() -> str:
    """E.g. ``0.1.0`` or ``0.1.1.dev12`` (pbr's semantic version)."""
    # release_string keeps the dev suffix (version_string drops it).
    return str(pbr.version.VersionInfo(PACKAGE).release_string())
