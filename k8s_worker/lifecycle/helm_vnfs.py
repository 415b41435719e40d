"""What the lifecycle operations do to a Helm VNF's release (Tacker v2's
``ETSINFV.HELM.V_3``): the writes, where a raw-manifest VNF applies, scales
or deletes objects.  Readiness, placement, bounds and the operation's states
stay :class:`~k8s_worker.lifecycle.operations.Operations`' (the same for
every form).

One release per VNF, named from its id.  Every deploy first recovers a
release a dead helm left ``pending-*``, then installs (none yet) or upgrades
it, with the values of ``helm_parameters`` and each VDU's replica value
(``helm_value_names``) at the record's replicas; charts with hooks are
refused.  Afterwards the release's manifest tells what the VNF owns (its
kinds are watched) and which VDU each workload is; a VDU the chart renders no
workload for fails the operation.  Helm's errors are relayed in ``.error``:
a refusal by the post-renderer as ``InvalidVnfd``, anything else as
``HelmError`` (temporary: a parked operation may be retried).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import structlog

from k8s_worker.helm import (
    Chart,
    ChartRefused,
    HelmError,
    HelmReleases,
    HelmRunner,
    HelmUnavailable,
    Release,
    RenderSpec,
    release_name,
)
from k8s_worker.lifecycle.objects import VnfObjects
from k8s_worker.lifecycle.outcome import OperationFailed
from k8s_worker.packages import Package
from k8s_worker.packages.cnf import chart_files
from k8s_worker.record import VnfRecord
from k8s_worker.tenancy import PodRules
from k8s_worker.tosca import LABEL_VDU, Translation
from k8s_worker.wire.redact import scrub, secret_fragments, secret_values

LOG = structlog.get_logger(__name__)
REFUSED = "refused by tacker-k8s-worker:"


class HelmHost(Protocol):
    """What a Helm VNF's steps need of the operations (``Operations``)."""

    pod_rules: PodRules

    def objects_of(self, rec: VnfRecord) -> VnfObjects: ...

    def own_cluster(self, rec: VnfRecord) -> bool: ...

    async def descriptor(self, rec: VnfRecord) -> Any: ...

    async def kubeconfig(self, rec: VnfRecord) -> str: ...


def nested(values: dict[str, Any]) -> dict[str, Any]:
    """``{"service.port": 8081}`` as helm's ``--set`` means it: ``{"service": {"port": 8081}}``."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        node = out
        parts = str(key).split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


class HelmVnfs:
    """A Helm VNF's release, written for the operations (see the module docstring)."""

    def __init__(self, host: HelmHost, runner: HelmRunner) -> None:
        self.host = host
        self.runner = runner

    async def _releases(self, rec: VnfRecord) -> HelmReleases:
        return HelmReleases(self.runner, kubeconfig=await self.host.kubeconfig(rec))

    def _failed(self, exc: Exception, parameters: dict[str, Any]) -> OperationFailed:
        hidden = secret_fragments(secret_values(parameters))
        message = scrub(getattr(exc, "message", str(exc)), hidden)
        if isinstance(exc, ChartRefused) or REFUSED in message:
            lines = [
                ln.replace(REFUSED, "").strip() for ln in message.splitlines() if REFUSED in ln
            ]
            return OperationFailed(
                "InvalidVnfd", "the chart is refused: " + ("; ".join(lines) or message)
            )
        if isinstance(exc, HelmUnavailable):
            return OperationFailed("HelmUnavailable", message)
        return OperationFailed("HelmError", f"helm: {message}", temporary=True)

    async def _chart(
        self, rec: VnfRecord, translation: Translation, values: dict[str, Any]
    ) -> Chart:
        spec = translation.chart
        assert spec is not None
        package = Package.from_stored(await self.host.descriptor(rec))
        source = chart_files(package, spec.path)
        if source is None:
            raise OperationFailed(
                "InvalidVnfd", f"helm_chart_path {spec.path} is not in the package"
            )
        return Chart(source=source, values=values)

    def _render_spec(self, rec: VnfRecord, translation: Translation) -> RenderSpec:
        spec = translation.chart
        assert spec is not None
        rules = dataclasses.asdict(self.host.pod_rules)
        return RenderSpec(
            vnf_id=rec.vnf_id,
            namespace=rec.require_namespace(),
            vdus=dict(spec.workloads),
            cluster_scoped=self.host.own_cluster(rec),
            rules={k: list(v) if isinstance(v, tuple) else v for k, v in rules.items()},
            vnf_name=rec.spec.get("name") or None,
            extra_kinds=list(getattr(self.host, "extra_kinds", ())),
        )

    def _values(
        self, rec: VnfRecord, translation: Translation, *, replicas_only: bool
    ) -> dict[str, Any]:
        spec = translation.chart
        assert spec is not None
        replicas = {
            value: int(rec.desired_replicas.get(vdu, translation.vdu(vdu).default_replicas))
            for vdu, value in spec.replica_values
        }
        base = {} if replicas_only else nested(dict(spec.parameters))
        return _merge(base, nested(replicas))

    async def revision(self, rec: VnfRecord) -> int | None:
        """The release's revision now (None: no release)."""
        try:
            release = await (await self._releases(rec)).status(
                release_name(rec.vnf_id), rec.require_namespace()
            )
        except HelmError as exc:
            raise self._failed(exc, {}) from None
        return release.revision if release else None

    async def deploy(self, rec: VnfRecord, translation: Translation, *, reuse: bool) -> Release:
        """Install or upgrade the release at the record's replicas (``reuse``:
        keep the release's values, set only the replicas: a scale); note what
        it owns, watch its kinds; the release after."""
        spec = translation.chart
        assert spec is not None
        parameters = dict(spec.parameters)
        name, namespace = release_name(rec.vnf_id), rec.require_namespace()
        values = self._values(rec, translation, replicas_only=reuse)
        try:
            releases = await self._releases(rec)
            current = await releases.recover(name, namespace)
            if current is None and reuse:
                # No release to take values from (gone meanwhile): all of them.
                values = self._values(rec, translation, replicas_only=False)
                reuse = False
            chart = await self._chart(rec, translation, values)
            if not reuse:
                # An early, clear refusal (hooks are never applied: --no-hooks).
                await releases.check_hooks(name, namespace, chart)
            render = self._render_spec(rec, translation)
            rec.helm_release = name
            if current is None:
                await releases.install(name, namespace, chart, spec=render)
            else:
                await releases.upgrade(
                    name, namespace, chart, spec=render, reuse_values=reuse and current is not None
                )
            manifest = await releases.manifest(name, namespace)
            after = await releases.status(name, namespace)
        except (HelmError, ChartRefused) as exc:
            raise self._failed(exc, parameters) from None
        names = [f"{d.get('kind')}/{(d.get('metadata') or {}).get('name')}" for d in manifest]
        claims = any(
            d.get("kind") == "StatefulSet" and (d.get("spec") or {}).get("volumeClaimTemplates")
            for d in manifest
        )
        rec.note_applied(names, kinds={"PersistentVolumeClaim"} if claims else set())
        await self.host.objects_of(rec).watch({n.split("/", 1)[0] for n in names})
        matched = {((d.get("metadata") or {}).get("labels") or {}).get(LABEL_VDU) for d in manifest}
        missing = [v.name for v in translation.vdus if v.name not in matched]
        if missing:
            raise OperationFailed(
                "InvalidVnfd",
                f"the chart renders no workload for VDU {', '.join(missing)} (a Deployment, "
                "StatefulSet, DaemonSet, ReplicaSet or Pod named <properties.name> or "
                "<properties.name>-<suffix>)",
            )
        assert after is not None
        LOG.info("helm.deployed", vnf_id=rec.vnf_id, release=name, revision=after.revision)
        return after

    async def roll_back_to(self, rec: VnfRecord, revision: int) -> None:
        name, namespace = release_name(rec.vnf_id), rec.require_namespace()
        try:
            releases = await self._releases(rec)
            await releases.recover(name, namespace)
            await releases.rollback(name, namespace, revision)
        except HelmError as exc:
            raise self._failed(exc, {}) from None

    async def uninstall(self, rec: VnfRecord) -> None:
        name, namespace = release_name(rec.vnf_id), rec.require_namespace()
        try:
            releases = await self._releases(rec)
            await releases.recover(name, namespace)
            release = await releases.status(name, namespace)
            if release is not None:
                await releases.uninstall(name, namespace)
        except HelmError as exc:
            raise self._failed(exc, {}) from None
