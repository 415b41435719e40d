"""One VNF's Helm release: install, upgrade, roll back, uninstall, and what
helm says of it (status, history, manifest), through :class:`HelmRunner`.

A release is named from the VNF id as Tacker v2 names it (``vnf`` + the id
without dashes).  Every install and upgrade renders through this worker's
post-renderer (:mod:`k8s_worker.helm.post_render`), which labels and checks
each document.  Helm 3 does not pass hooks through a post-renderer, so a chart
whose rendering has hooks is refused before anything is applied
(:class:`ChartRefused`).  A release left ``pending-*`` by a helm that died
(helm/helm#4558: every later call fails "another operation is in progress") is
recovered by :meth:`HelmReleases.recover`: rolled back to its last deployed
revision, or uninstalled when it never had one.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
import yaml

from k8s_worker.helm.post_render import RenderSpec
from k8s_worker.helm.runner import HelmError, HelmFiles, HelmRun, HelmRunner

LOG = structlog.get_logger(__name__)
HOOK_ANNOTATION = "helm.sh/hook"
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
#: What helm would apply without the post-renderer: hooks and a chart's crds/
#: directory. Never applied (charts with hooks are refused up front anyway).
NO_UNCHECKED = ("--no-hooks", "--skip-crds")


class ChartRefused(Exception):
    """The chart may not be installed here; the message says why."""


def _applied_hook(doc: dict[str, Any]) -> bool:
    """A hook helm runs on install, upgrade, rollback or delete (``test``
    hooks run only by ``helm test``, which the worker never calls)."""
    raw = ((doc.get("metadata") or {}).get("annotations") or {}).get(HOOK_ANNOTATION)
    if not raw:
        return False
    kinds = {k.strip() for k in str(raw).split(",")}
    return bool(kinds - {"test", "test-success", "test-failure"})


def release_name(vnf_id: str) -> str:
    """Tacker v2's release name of a VNF."""
    return "vnf" + vnf_id.replace("-", "")[:50]


@dataclass(frozen=True)
class Chart:
    """A chart from the package (a .tgz's bytes, or a directory) and the values
    to render it with."""

    source: bytes | Mapping[str, bytes]
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Release:
    """What helm says of a release (None: there is none)."""

    name: str
    revision: int
    status: str

    @property
    def pending(self) -> bool:
        return self.status in PENDING


class HelmReleases:
    """The Helm releases of one VIM (``kubeconfig``: its credentials)."""

    def __init__(self, runner: HelmRunner, *, kubeconfig: str) -> None:
        self.runner = runner
        self.kubeconfig = kubeconfig

    def _files(self, chart: Chart | None = None, spec: RenderSpec | None = None) -> HelmFiles:
        return HelmFiles(
            kubeconfig=self.kubeconfig,
            values=dict(chart.values) if chart else {},
            chart=chart.source if chart else None,
            extra={"render.json": spec.dumps()} if spec else {},
        )

    async def status(self, name: str, namespace: str) -> Release | None:
        try:
            out = await self.runner.run(
                ["status", name, "-n", namespace, "-o", "json"], self._files()
            )
        except HelmError as exc:
            if "not found" in exc.message:
                return None
            raise
        info = json.loads(out)
        return Release(
            name=name,
            revision=int(info.get("version") or 0),
            status=str((info.get("info") or {}).get("status") or ""),
        )

    async def history(self, name: str, namespace: str) -> list[dict[str, Any]]:
        try:
            out = await self.runner.run(
                ["history", name, "-n", namespace, "-o", "json", "--max", "50"], self._files()
            )
        except HelmError as exc:
            if "not found" in exc.message:
                return []
            raise
        return list(json.loads(out) or [])

    async def manifest(self, name: str, namespace: str) -> list[dict[str, Any]]:
        out = await self.runner.run(["get", "manifest", name, "-n", namespace], self._files())
        return [d for d in yaml.safe_load_all(out) if isinstance(d, dict)]

    async def check_hooks(self, name: str, namespace: str, chart: Chart) -> None:
        """ChartRefused when the chart renders hooks (helm 3 would apply them
        without our post-renderer)."""
        out = await self.runner.run(
            [],
            self._files(chart),
            build=lambda run: [
                "template",
                name,
                str(run.chart),
                "-n",
                namespace,
                "-f",
                run.values,
            ],
        )
        hooks = [
            f"{d.get('kind')}/{(d.get('metadata') or {}).get('name')}"
            for d in yaml.safe_load_all(out)
            if isinstance(d, dict) and _applied_hook(d)
        ]
        if hooks:
            raise ChartRefused(
                "the chart has hooks (" + ", ".join(hooks) + "): helm 3 applies hooks "
                "without post-rendering them, so they could not be checked or owned"
            )

    def _post_render(self, run: HelmRun) -> list[str]:
        return [
            "--post-renderer",
            sys.executable,
            "--post-renderer-args",
            "-m",
            "--post-renderer-args",
            "k8s_worker.helm.post_render",
            "--post-renderer-args",
            run.path("render.json"),
        ]

    async def install(self, name: str, namespace: str, chart: Chart, *, spec: RenderSpec) -> None:
        await self._render_and_apply("install", name, namespace, chart, spec=spec)

    async def upgrade(
        self,
        name: str,
        namespace: str,
        chart: Chart,
        *,
        spec: RenderSpec,
        reuse_values: bool = False,
    ) -> None:
        extra = ["--reuse-values"] if reuse_values else []
        await self._render_and_apply("upgrade", name, namespace, chart, spec=spec, extra=extra)

    async def _render_and_apply(
        self,
        verb: str,
        name: str,
        namespace: str,
        chart: Chart,
        *,
        spec: RenderSpec,
        extra: list[str] | None = None,
    ) -> None:
        """``helm install|upgrade`` of ``chart`` through the post-renderer,
        never applying hooks or crds/."""
        await self.runner.run(
            [],
            self._files(chart, spec),
            build=lambda run: [
                verb,
                name,
                str(run.chart),
                "-n",
                namespace,
                "-f",
                run.values,
                *(extra or []),
                *NO_UNCHECKED,
                *self._post_render(run),
            ],
        )

    async def rollback(self, name: str, namespace: str, revision: int) -> None:
        await self.runner.run(
            ["rollback", name, str(revision), "-n", namespace, "--no-hooks"], self._files()
        )

    async def uninstall(self, name: str, namespace: str) -> None:
        try:
            await self.runner.run(["uninstall", name, "-n", namespace, "--no-hooks"], self._files())
        except HelmError as exc:
            if "not found" not in exc.message:
                raise

    async def recover(self, name: str, namespace: str) -> Release | None:
        """A release a dead helm left ``pending-*``, put back: rolled back to
        its last deployed revision, or uninstalled when it has none; the
        release as it is then (None: none)."""
        release = await self.status(name, namespace)
        if release is None or not release.pending:
            return release
        deployed = [
            int(h["revision"])
            for h in await self.history(name, namespace)
            if h.get("status") in ("deployed", "superseded")
            and int(h["revision"]) < release.revision
        ]
        LOG.warning(
            "helm.release_pending",
            release=name,
            namespace=namespace,
            status=release.status,
            revision=release.revision,
            back_to=max(deployed) if deployed else None,
        )
        if deployed:
            await self.rollback(name, namespace, max(deployed))
        else:
            await self.uninstall(name, namespace)
        return await self.status(name, namespace)
