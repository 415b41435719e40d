"""The lifecycle operations as re-entrant steps.

The reconciler calls ``step`` for the VNF's current operation each time the VNF
is reconciled, until it returns ``Done`` or raises ``OperationFailed``.  A step
must therefore be idempotent: it records its progress in ``op.detail`` (which
the reconciler stores with compare-and-swap) and, when called again, finds out
from the cluster what is left to do.  Waiting is never polling: a step returns
``Waiting`` and the watch brings the VNF back when its objects change.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from k8s_worker.helm import HelmRunner, kubeconfig
from k8s_worker.kube import KubeNotFound, KubeRejected
from k8s_worker.lifecycle.drift import (
    Drift,
    edited_objects,
    live_objects,
    missing_objects,
    replica_drift,
)
from k8s_worker.lifecycle.helm_vnfs import HelmVnfs
from k8s_worker.lifecycle.objects import NamespaceGuard, VnfObjects, render
from k8s_worker.lifecycle.observe import (
    claim_phase,
    job_state,
    pod_failed,
    pod_ready,
    replica_failure,
    workload_ready,
    workload_replicas,
)
from k8s_worker.lifecycle.outcome import Done, OperationFailed, Waiting
from k8s_worker.lifecycle.pod_metrics import pod_cpu_usage
from k8s_worker.lifecycle.sites import Sites, VimGone, VimUnavailable
from k8s_worker.lifecycle.translator import (
    TranslationAborted,
    Translator,
    TranslatorLimits,
    TranslatorUnavailable,
)
from k8s_worker.record import Operation, OperationKind, VnfRecord, VnfStatus
from k8s_worker.record.model import utcnow
from k8s_worker.tenancy import (
    NamespaceRefused,
    NamespaceRules,
    PodRules,
    check_objects,
    check_package_objects,
    check_replica_bounds,
)
from k8s_worker.tosca import (
    LABEL_VDU,
    Policies,
    Problem,
    Translation,
    VnfdError,
    with_autoscaling,
)
from k8s_worker.wire.redact import scrub, secret_fragments, secret_values

Outcome = Done | Waiting
#: Workload kinds a rollout restart applies to.
RESTARTABLE = ("Deployment", "StatefulSet", "DaemonSet")
#: Reads a record's secret-looking parameters (kept outside its spec).
SecretParams = Callable[[VnfRecord], Awaitable[dict[str, Any]]]
#: Reads a record's descriptor (stored apart from it; see record.descriptors).
DescriptorReader = Callable[[VnfRecord], Awaitable[Any]]

PENDING_STATUS = {
    OperationKind.INSTANTIATE: VnfStatus.PENDING_CREATE,
    OperationKind.TERMINATE: VnfStatus.PENDING_DELETE,
    OperationKind.HEAL: VnfStatus.PENDING_HEAL,
    OperationKind.UPDATE: VnfStatus.PENDING_UPDATE,
}


def pending_status(op: Operation) -> VnfStatus:
    """The VNF's status while ``op`` runs."""
    if op.kind == OperationKind.SCALE:
        if op.args.get("type") == "in":
            return VnfStatus.PENDING_SCALE_IN
        return VnfStatus.PENDING_SCALE_OUT
    kind = op.kind
    return PENDING_STATUS.get(kind, VnfStatus.PENDING_UPDATE) if kind else VnfStatus.PENDING_UPDATE


LOG = structlog.get_logger(__name__)


@dataclass(frozen=True)
class NamespacePolicy:
    """Where VNFs may run and what the namespaces the worker creates get.

    ``rules`` decide which namespace a tenant may use (see
    :class:`k8s_worker.tenancy.NamespaceRules`); ``managed`` is ``[kubernetes]
    namespaces`` (the only ones watched; empty: all); ``guard`` is given to each
    namespace the worker creates.
    """

    rules: NamespaceRules
    create: bool = True
    managed: tuple[str, ...] = ()
    guard: NamespaceGuard = field(default_factory=NamespaceGuard)


class Operations:
    """What each kind of operation does to a VNF's objects, one idempotent step per call
    (``step``): Done, Waiting, or OperationFailed with a clear reason; translations and
    policies of the record's descriptor are cached by content."""

    def __init__(
        self,
        *,
        vnf_objects: VnfObjects,
        namespaces: NamespacePolicy,
        sites: Sites | None = None,
        pods: PodRules | None = None,
        secret_params: SecretParams | None = None,
        descriptor: DescriptorReader | None = None,
        translator: Translator | None = None,
        cache_size: int = 256,
        helm: HelmRunner | None = None,
        extra_kinds: tuple[str, ...] = (),
        claim_pending_seconds: float = 30.0,
    ) -> None:
        #: ``[kubernetes] package_extra_kinds``: more kinds a package may hold.
        self.extra_kinds = extra_kinds
        self.claim_pending_seconds = claim_pending_seconds
        #: Claims seen Pending: claim uid -> when first (this replica's clock).
        self._pending_claims: dict[str, float] = {}
        self.translator = translator or Translator(TranslatorLimits(processes=0))
        self.helm = HelmVnfs(self, helm or HelmRunner())
        self.vnf_objects = vnf_objects  # the default VIM's
        self.sites = sites
        self.namespaces = namespaces
        self.pod_rules = pods or PodRules()
        self._secret_params = secret_params
        self._descriptor = descriptor
        self._translations: OrderedDict[str, Translation] = OrderedDict()
        self._cache_size = cache_size
        # Policies do not depend on the VNF's id: one entry per distinct descriptor,
        # so the policy engine never re-parses TOSCA however many VNFs share one.
        self._policies: OrderedDict[str, Policies] = OrderedDict()
        #: What each kind of operation does: one step of it (see the module docstring).
        self._steps: dict[OperationKind, Callable[[VnfRecord, Operation], Awaitable[Outcome]]] = {
            OperationKind.INSTANTIATE: self._instantiate,
            OperationKind.TERMINATE: self._terminate,
            OperationKind.SCALE: self._scale,
            OperationKind.HEAL: self._heal,
            OperationKind.UPDATE: self._update,
        }

    # -- the VNF's VIM -------------------------------------------------------------
    def objects_of(self, rec: VnfRecord) -> VnfObjects:
        """The VNF's objects on its VIM (VimUnavailable while that VIM's site is
        not open: ``Sites.prepare`` opens it)."""
        if self.sites is None or not rec.vim_id:
            return self.vnf_objects
        return self.sites.of(rec.vim_id).objects

    def own_cluster(self, rec: VnfRecord) -> bool:
        """Whether the VNF's VIM is its tenant's own: registered by that tenant
        with its own credentials and shared with nobody (there, cluster-scoped
        objects are the cluster's RBAC's business; elsewhere they are refused)."""
        if self.sites is None or not rec.vim_id:
            return False
        record = self.sites.of(rec.vim_id).record
        if record is None:
            return False
        reg = record.registration
        return reg.by_tenant and reg.tenant_id == rec.tenant_id and not reg.shared

    async def kubeconfig(self, rec: VnfRecord) -> str:
        """The VNF's VIM as a kubeconfig (for helm; never logged)."""
        site = self.sites.of(rec.vim_id) if self.sites is not None and rec.vim_id else None
        if site is not None and site.record is not None and self.sites is not None:
            store = self.sites.store
            if store is None:
                raise OperationFailed("VimUnavailable", f"VIM {rec.vim_id} has no registry")
            creds = await store.credentials(site.record)
            return kubeconfig.from_credentials(creds)
        configuration = self.objects_of(rec).kube.api.configuration
        return await asyncio.to_thread(kubeconfig.from_configuration, configuration)

    def rules_of(self, rec: VnfRecord) -> NamespaceRules:
        if self.sites is None or not rec.vim_id:
            return self.namespaces.rules
        return self.sites.rules(rec.vim_id, rec.tenant_id)

    # -- translation (cached: tosca-parser is not cheap) ------------------------
    async def secret_params(self, rec: VnfRecord) -> dict[str, Any]:
        """The record's secret-looking parameters ({} without a reader)."""
        if self._secret_params is None:
            return {}
        return await self._secret_params(rec)

    async def descriptor(self, rec: VnfRecord) -> Any:
        """The VNF's descriptor: read by its reference, or inline (older records)."""
        if self._descriptor is None:
            return rec.spec.get("vnfd")
        return await self._descriptor(rec)

    async def params(self, rec: VnfRecord) -> dict[str, Any]:
        """Every parameter of the VNF: its spec's and its Secret's."""
        return {**(rec.spec.get("params") or {}), **await self.secret_params(rec)}

    async def _scrub(self, rec: VnfRecord, text: str) -> str:
        """``text`` showing nothing of the VNF's secret parameters (a parser
        error may quote a line of a secret config, the API server a value)."""
        return scrub(text, secret_fragments(secret_values(await self.secret_params(rec))))

    async def _scrubbed(
        self,
        rec: VnfRecord,
        error_type: str,
        message: str,
        *,
        vnf_status: str | None = VnfStatus.ERROR,
        temporary: bool | None = None,
    ) -> OperationFailed:
        """An OperationFailed whose message is scrubbed (see ``_scrub``)."""
        return OperationFailed(
            error_type,
            await self._scrub(rec, message),
            vnf_status=vnf_status,
            temporary=temporary,
        )

    async def translation(self, rec: VnfRecord) -> Translation:
        spec = rec.spec
        params = await self.params(rec)
        key_src = json.dumps(
            [
                rec.vnf_id,
                spec.get("name"),
                spec.get("vnfdRef") or spec.get("vnfd"),
                params,
                spec.get("namespace"),
            ],
            sort_keys=True,
            default=str,
        )
        key = hashlib.sha256(key_src.encode()).hexdigest()
        cached = self._translations.get(key)
        if cached is not None:
            self._translations.move_to_end(key)
            return cached
        try:
            vnfd = await self.descriptor(rec)
        except KubeNotFound as exc:
            raise OperationFailed("DescriptorMissing", str(exc)) from None
        # (The API server away while reading it: raised as is, the pass is retried.)
        try:
            result = await self.translator.translate(
                vnfd or "",
                vnf_id=rec.vnf_id,
                vnf_name=spec.get("name") or None,
                namespace=spec.get("namespace") or None,
                params=params,
                extra_kinds=self.extra_kinds,
            )
        except VnfdError as exc:
            raise await self._scrubbed(rec, "InvalidVnfd", str(exc)) from None
        except TranslatorUnavailable:
            raise  # not the descriptor's fault: the pass is retried
        except TranslationAborted as exc:
            raise OperationFailed("InvalidVnfd", f"the VNFD is refused: {exc}") from exc
        except Exception as exc:
            # A shape the validation did not foresee must still end the operation
            # (and say so), never loop in the reconciler.
            failed = await self._scrubbed(
                rec,
                "InvalidVnfd",
                f"the descriptor could not be read: {type(exc).__name__}: {exc}",
            )
            LOG.warning("tosca.unexpected_error", vnf_id=rec.vnf_id, error=failed.message)
            raise failed from None
        self._translations[key] = result
        while len(self._translations) > self._cache_size:
            self._translations.popitem(last=False)
        return result

    async def policies(self, rec: VnfRecord) -> Policies:
        """The VNF's normalized policies with its ``autoscaling`` settings
        applied, cached by descriptor, parameters and settings; OperationFailed
        (InvalidVnfd) when the settings name a policy the VNFD lacks."""
        spec = rec.spec
        key_src = json.dumps(
            [spec.get("vnfdRef") or spec.get("vnfd"), await self.params(rec), rec.autoscaling],
            sort_keys=True,
            default=str,
        )
        key = hashlib.sha256(key_src.encode()).hexdigest()
        cached = self._policies.get(key)
        if cached is not None:
            self._policies.move_to_end(key)
            return cached
        policies = (await self.translation(rec)).policies
        if rec.autoscaling:
            try:
                policies = with_autoscaling(policies, rec.autoscaling)
            except ValueError as exc:
                raise OperationFailed("InvalidVnfd", str(exc)) from None
        self._policies[key] = policies
        while len(self._policies) > self._cache_size:
            self._policies.popitem(last=False)
        return policies

    async def pod_cpu_usage(self, rec: VnfRecord) -> dict[str, float]:
        """The VNF's pods' cpu usage (pod name -> millicores) from its VIM's
        metrics API; MetricsUnavailable saying why it cannot be read."""
        return await pod_cpu_usage(
            self.objects_of(rec).kube, namespace=rec.require_namespace(), vnf_id=rec.vnf_id
        )

    @staticmethod
    def placed_in(rec: VnfRecord, op: Operation) -> str:
        """The namespace the VNF's objects are in; OperationFailed when it has none
        (its instantiate failed before it reached the cluster)."""
        ns = rec.placed_namespace
        if not ns:
            raise OperationFailed(
                "NotInstantiated",
                f"cannot {op.operation}: the VNF has no objects in the cluster "
                "(its instantiate did not get that far)",
                vnf_status=None,
            )
        return ns

    def namespace_of(self, rec: VnfRecord, translation: Translation) -> str:
        ns = rec.placed_namespace or translation.namespace or rec.vnf_namespace
        if ns:
            return ns
        try:
            return self.rules_of(rec).derived(rec.tenant_id)
        except NamespaceRefused as exc:
            raise OperationFailed("NamespaceForbidden", str(exc)) from None

    def check_namespace(self, rec: VnfRecord, namespace: str, *, placed: bool = False) -> None:
        """OperationFailed("NamespaceForbidden") unless the VNF's tenant may use
        ``namespace`` (pure: nothing is read or written). A VNF ``placed`` there
        before may also stay in its tenant's namespace as earlier versions
        derived it."""
        try:
            self.rules_of(rec).check(rec.tenant_id, namespace, legacy=placed)
        except NamespaceRefused as exc:
            raise OperationFailed("NamespaceForbidden", str(exc)) from None
        if not rec.vim_id and self.namespaces.managed and namespace not in self.namespaces.managed:
            # Nothing would watch it: the VNF could never be seen ready.
            raise OperationFailed(
                "NamespaceNotManaged",
                f"namespace {namespace!r} is not one this worker manages "
                f"([kubernetes] namespaces: {', '.join(self.namespaces.managed)})",
            )

    async def rendered(
        self, rec: VnfRecord, translation: Translation, namespace: str
    ) -> list[dict[str, Any]]:
        """The VNF's objects as they would be applied in ``namespace``, checked
        against the pod and Service rules and the bounds; OperationFailed
        ("InvalidVnfd") naming each object, container and field otherwise.
        (A Helm VNF's objects are what its chart renders: checked by the
        post-renderer as helm applies them; here only the bounds.)"""
        if translation.chart is not None:
            bounds = check_replica_bounds(
                ((v.name, v.default_replicas, v.max_replicas) for v in translation.vdus),
                rules=self.pod_rules,
            )
            if bounds:
                raise OperationFailed("InvalidVnfd", str(VnfdError(bounds)))
            return []
        replicas = {
            v.name: rec.desired_replicas.get(v.name, v.default_replicas) for v in translation.vdus
        }
        objects = render(
            translation,
            namespace=namespace,
            replicas=replicas,
            config=rec.spec.get("config"),
            hidden=secret_values(await self.secret_params(rec)),
        )
        rules = self.pod_rules
        problems: list[Problem] = []
        if translation.form != "tosca":
            sources = dict(translation.sources)
            own_cluster = self.own_cluster(rec)
            problems += check_package_objects(
                objects, namespace=namespace, cluster_scoped=own_cluster, sources=sources
            )
            # A pod may run as a ServiceAccount the same VNF creates.
            accounts = tuple(
                o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount"
            )
            rules = replace(rules, service_accounts=rules.service_accounts + accounts)
        problems += check_replica_bounds(
            ((v.name, v.default_replicas, v.max_replicas) for v in translation.vdus),
            rules=rules,
        )
        pod_problems = check_objects(objects, namespace=namespace, rules=rules)
        if translation.form != "tosca":
            pod_problems = [
                replace(p, node=f"{sources[p.node]}: {p.node}") if p.node in sources else p
                for p in pod_problems
            ]
        problems += pod_problems
        if problems:
            raise OperationFailed("InvalidVnfd", str(VnfdError(problems)))
        return objects

    async def drift(
        self,
        rec: VnfRecord,
        *,
        repair: bool,
        full: bool,
        known: set[str] | frozenset[str] = frozenset(),
    ) -> list[Drift]:
        """What drifted in the VNF's objects (see ``lifecycle.drift``), put back
        when ``repair``: replicas always looked at (the caches), missing objects
        when ``full`` or when a Deployment is missing from the cache."""
        ns = rec.placed_namespace
        if not ns:
            return []
        objects = self.objects_of(rec)
        found: list[Drift] = []
        for drifted, want in replica_drift(rec, objects):
            if repair:
                await objects.scale(
                    namespace=ns, deployment=drifted.name, replicas=want, kind=drifted.kind
                )
            found.append(drifted)
        cached = {
            (d["metadata"].get("labels") or {}).get(LABEL_VDU)
            for d in objects.vnf_workloads(rec.vnf_id, ns)
        }
        if full or set(rec.desired_replicas) - cached:
            translation = await self.translation(rec)
            rendered = await self.rendered(rec, translation, ns)
            live = await live_objects(rec, objects, rendered)
            drifted_objects = missing_objects(rendered, live)
            if full:
                drifted_objects += edited_objects(rendered, live)
            for drifted, obj in drifted_objects:
                # An edit already repaired once stays found while the other
                # manager keeps fields of its own there: not applied again.
                if repair and not (drifted.change.startswith("edited") and drifted.key in known):
                    # Server-side apply with force: the fields this worker owns
                    # come back (and with them their ownership).
                    await objects.apply([obj], vnf_id=rec.vnf_id)
                found.append(drifted)
        return found

    async def _owned_kinds(self, rec: VnfRecord) -> frozenset[str]:
        """Every kind the VNF may have objects of: those it recorded, and those
        of its rendering (an apply cut short by a failure or a crash recorded
        none), a StatefulSet's claims included."""
        kinds = set(rec.object_kinds)
        try:
            translation = await self.translation(rec)
        except Exception:  # its descriptor cannot be read now: what it recorded
            return frozenset(kinds)
        kinds |= kinds_of(translation.objects)
        return frozenset(kinds)

    async def watch_objects(self, rec: VnfRecord) -> None:
        """Make sure every kind the VNF's objects have is watched on its VIM
        (the kinds only packages bring are watched from the first VNF that
        needs them; after a restart, from its first pass)."""
        if rec.object_kinds:
            await self.objects_of(rec).watch(rec.object_kinds)

    # -- dispatch ------------------------------------------------------------------
    async def step(self, rec: VnfRecord, op: Operation) -> Outcome:
        kind = op.kind
        handler = self._steps.get(kind) if kind is not None else None
        if handler is None:
            raise OperationFailed(
                "UnknownOperation", f"unknown operation {op.operation!r}", vnf_status=None
            )
        if op.detail is None:
            op.detail = {}
        if self.sites is not None and rec.vim_id:
            try:
                site = await self.sites.prepare(rec.vim_id)  # VimUnavailable, VimGone
            except VimGone as exc:
                if op.kind != OperationKind.TERMINATE:
                    raise
                # A terminate always ends: the VIM is not there to delete anything on.
                return Done({"deleted": 0, "left_behind": f"{exc}: its objects stay there"})
            if not site.reachable:
                raise VimUnavailable(rec.vim_id, site.detail or "its probes fail")
        await self.watch_objects(rec)
        if op.progress.pop("retry", None):
            await self._retrying(rec, op)
        placed = rec.placed_namespace
        if placed and op.kind != OperationKind.TERMINATE:
            # The rules may have changed since it was placed (a grant withdrawn):
            # everything but removing the VNF stops there.
            self.check_namespace(rec, placed, placed=True)
        try:
            return await handler(rec, op)
        except OperationFailed as exc:
            raise await self._scrubbed(
                rec,
                exc.error_type,
                exc.message,
                vnf_status=exc.vnf_status,
                temporary=exc.temporary,
            ) from None
        except KubeRejected as exc:
            raise KubeRejected(
                await self._scrub(rec, str(exc)), status=exc.status, reason=exc.reason
            ) from None

    # -- retry and rollback of a parked (FAILED_TEMP) operation ------------------------
    async def _retrying(self, rec: VnfRecord, op: Operation) -> None:
        """A retried operation starts its work again from what the cluster has:
        its objects are applied again, and every Deployment of the VNF that is not
        ready gets a fresh rollout (rather than the ReplicaSet's create backoff
        waited out)."""
        op.progress.pop("applied", None)
        ns = rec.placed_namespace
        if not ns:
            return
        for dep in self.objects_of(rec).vnf_workloads(rec.vnf_id, ns):
            kind = str(dep.get("kind") or "Deployment")
            if kind in RESTARTABLE and not workload_ready(dep):
                await self.objects_of(rec).restart(
                    namespace=ns, deployment=dep["metadata"]["name"], stamp=utcnow(), kind=kind
                )

    async def roll_back(self, rec: VnfRecord, op: Operation) -> Outcome:
        """One idempotent step undoing a failed operation: an instantiate's
        objects deleted, a scale's replicas restored, an update's objects rolled
        to the descriptor and configuration it replaced (written back into the
        spec before this step, see ``lifecycle.update.restore_previous_spec``)."""
        kind = op.kind
        if kind == OperationKind.INSTANTIATE:
            ns = rec.placed_namespace
            if not ns:
                return Done({"deleted": 0})
            if rec.helm_release and not op.progress.get("uninstalled"):
                await self.helm.uninstall(rec)
                op.progress["uninstalled"] = True
            kinds = await self._owned_kinds(rec)
            if "deleting" not in op.progress:
                op.progress["deleting"] = await self.objects_of(rec).delete_all(
                    namespace=ns, vnf_id=rec.vnf_id, kinds=kinds
                )
            left = await self.objects_of(rec).remaining(
                namespace=ns, vnf_id=rec.vnf_id, kinds=kinds
            )
            if left:
                await self.objects_of(rec).delete_all(namespace=ns, vnf_id=rec.vnf_id, kinds=kinds)
                return Waiting(f"deleting {len(left)} objects: {', '.join(left[:5])}")
            rec.desired_replicas.clear()
            return Done({"deleted": op.progress["deleting"]})
        if kind in (OperationKind.SCALE, OperationKind.UPDATE) and rec.helm_release:
            return await self._roll_back_release(rec, op)
        if kind == OperationKind.SCALE:
            targets = op.progress.get("targets") or {}
            translation = await self.translation(rec)
            ns = rec.require_namespace()
            for vdu, t in targets.items():
                rec.desired_replicas[vdu] = t["old"]
                dep = self.objects_of(rec).workload_of(rec.vnf_id, vdu, ns)
                if dep is None or workload_replicas(dep) != t["old"]:
                    await self.objects_of(rec).scale(
                        namespace=ns,
                        deployment=translation.vdu(vdu).deployment_name,
                        replicas=t["old"],
                        kind=translation.vdu(vdu).kind,
                    )
            for aspect, level in (op.progress.get("levels") or {}).items():
                rec.scale_levels[aspect] = int(level["old"])
            outcome = self._all_ready(rec, translation, refusals=False)
            return Done({"restored": targets}) if isinstance(outcome, Done) else outcome
        if kind == OperationKind.UPDATE:
            outcome = await self._update(rec, op, refusals=False)
            return Done({"restored": True}) if isinstance(outcome, Done) else outcome
        raise OperationFailed(
            "RollbackNotSupported", f"a {op.operation} cannot be rolled back", vnf_status=None
        )

    async def _roll_back_release(self, rec: VnfRecord, op: Operation) -> Outcome:
        """A Helm VNF's failed scale or update: ``helm rollback`` to the revision
        it had before (the spec and replicas it had are the record's again),
        then wait until ready."""
        before = op.progress.get("revision_before")
        if before and not op.progress.get("rolled_back_to"):
            await self.helm.roll_back_to(rec, int(before))
            op.progress["rolled_back_to"] = int(before)
        for vdu, t in (op.progress.get("targets") or {}).items():
            rec.desired_replicas[vdu] = t["old"]
        for aspect, level in (op.progress.get("levels") or {}).items():
            rec.scale_levels[aspect] = int(level["old"])
        translation = await self.translation(rec)
        outcome = self._all_ready(rec, translation, refusals=False)
        if isinstance(outcome, Done):
            return Done({"restored": True, "revision": op.progress.get("rolled_back_to")})
        return outcome

    def _all_ready(
        self,
        rec: VnfRecord,
        translation: Translation,
        *,
        generations: dict[str, int] | None = None,
        since: str | None = None,
        refusals: bool = True,
    ) -> Outcome:
        """Done when every VDU's Deployment is ready at its desired replicas (and
        at least at ``generations[vdu]``, the generation a write of ours produced,
        so a cache that has not seen that write yet cannot pass for ready).  A
        refusal of its pods fails the operation, unless the Deployment is ready
        or the refusal is older than ``since`` (the operation's start: a retry or
        rollback must not fail on what the attempt before it met); without
        ``refusals`` (a rollback, which only goes back) they are waited out."""
        waiting = []
        objects = self.objects_of(rec)
        for vdu in translation.vdus:
            dep = objects.workload_of(rec.vnf_id, vdu.name, rec.placed_namespace)
            want = rec.desired_replicas.get(vdu.name, vdu.default_replicas)
            floor = (generations or {}).get(vdu.name, 0)
            if dep is not None and int(dep["metadata"].get("generation", 0)) < floor:
                waiting.append(f"{vdu.name} (rollout not observed yet)")
                continue
            failure = (
                refusals
                and dep is not None
                and not workload_ready(dep)
                and replica_failure(dep, since=since)
            )
            if failure and _is_refusal(failure):
                # Waiting would not help: the pods are refused at creation.
                raise OperationFailed(
                    "PodsRejected", f"the pods of VDU {vdu.name} cannot be created: {failure}"
                )
            replicas = workload_replicas(dep) if dep is not None else None
            scaled_wrong = vdu.scalable and replicas is not None and replicas != want
            if dep is None or scaled_wrong or not workload_ready(dep):
                status = (dep or {}).get("status") or {}
                ready = status.get("readyReplicas", status.get("numberReady", 0))
                waiting.append(f"{vdu.name} {ready}/{want}")
        retry = None
        if translation.form != "tosca":
            more, retry = self._others_ready(rec, translation, refusals=refusals)
            waiting += more
        if waiting:
            return Waiting("waiting for ready replicas: " + ", ".join(waiting), retry_after=retry)
        return Done()

    def _others_ready(
        self, rec: VnfRecord, translation: Translation, *, refusals: bool
    ) -> tuple[list[str], float | None]:
        """What a package's Jobs and claims still wait for: a Job not complete
        (OperationFailed "JobFailed" when it failed), a claim not Bound (one
        Pending too long, that no volume or StorageClass
        binds, fails "VolumeUnbound" after ``claim_pending_seconds``: an operator
        must act); and in how many seconds to look again (None: on an event)."""
        objects = self.objects_of(rec)
        ns = rec.placed_namespace
        jobs = {j["metadata"]["name"]: j for j in objects.of_kind("Job", rec.vnf_id, ns)}
        claims = {
            c["metadata"]["name"]: c
            for c in objects.of_kind("PersistentVolumeClaim", rec.vnf_id, ns)
        }
        waiting = []
        for obj in translation.objects:
            name = obj["metadata"]["name"]
            if obj["kind"] == "Job":
                job = jobs.get(name)
                if job is None:
                    if (obj.get("spec") or {}).get("ttlSecondsAfterFinished") is None:
                        waiting.append(f"Job {name} (not seen yet)")
                    continue  # (else: done and removed after its TTL)
                state = job_state(job)
                if state.startswith("failed") and refusals:
                    raise OperationFailed("JobFailed", f"Job {name} {state}")
                if state != "complete":
                    waiting.append(f"Job {name} {state}")
            elif obj["kind"] == "PersistentVolumeClaim" and name not in claims:
                waiting.append(f"PersistentVolumeClaim {name} not seen yet")
        retry = None
        now = time.monotonic()
        for name, claim in sorted(claims.items()):  # its own and its StatefulSets'
            phase = claim_phase(claim)
            key = str(claim["metadata"].get("uid") or name)
            if phase == "Bound" or claim["metadata"].get("deletionTimestamp"):
                self._pending_claims.pop(key, None)
                continue
            # Judged from when this replica first saw it Pending, on its own
            # clock (never the API server's timestamps against ours).
            age = now - self._pending_claims.setdefault(key, now)
            while len(self._pending_claims) > 10_000:
                self._pending_claims.pop(next(iter(self._pending_claims)))
            if age > self.claim_pending_seconds and refusals:
                wanted = (claim.get("spec") or {}).get("storageClassName")
                raise OperationFailed(
                    "VolumeUnbound",
                    f"PersistentVolumeClaim {name} is still {phase} after {age:.0f}s: no "
                    f"volume{f' of StorageClass {wanted}' if wanted else ''} binds it",
                )
            waiting.append(f"PersistentVolumeClaim {name} {phase}")
            left = self.claim_pending_seconds - age + 1.0
            retry = left if retry is None else min(retry, left)
        return waiting, retry

    async def _apply(
        self,
        rec: VnfRecord,
        op: Operation,
        translation: Translation,
        *,
        objects: list[dict[str, Any]] | None = None,
    ) -> None:
        """Apply every object at the record's replicas (``objects``: already
        rendered and checked); note what was written."""
        for vdu in translation.vdus:
            rec.desired_replicas.setdefault(vdu.name, vdu.default_replicas)
        if translation.chart is not None:
            if "revision_before" not in op.progress:
                op.progress["revision_before"] = await self.helm.revision(rec)
            release = await self.helm.deploy(rec, translation, reuse=False)
            op.progress["applied"] = True
            op.progress["objects"] = rec.applied_objects
            op.progress["generations"] = {}
            op.progress["revision"] = release.revision
            return
        if objects is None:
            objects = await self.rendered(rec, translation, rec.require_namespace())
        # The kinds only packages bring are watched before their first write.
        await self.objects_of(rec).watch({o["kind"] for o in objects})
        applied = await self.objects_of(rec).apply(objects, vnf_id=rec.vnf_id)
        # A StatefulSet's claims are the VNF's too (terminate deletes them).
        rec.note_applied(applied.names, kinds=kinds_of(objects))
        rec.autoscaled_vdus = _autoscaled(translation, objects)
        op.progress["applied"] = True
        op.progress["objects"] = applied.names
        op.progress["generations"] = applied.generations

    # -- instantiate ------------------------------------------------------------------
    async def _instantiate(self, rec: VnfRecord, op: Operation) -> Outcome:
        translation = await self.translation(rec)
        if not op.progress.get("applied"):
            ns = self.namespace_of(rec, translation)
            # Every check before the first write: a refused VNF creates nothing.
            self.check_namespace(rec, ns)
            await self.policies(rec)  # its autoscaling settings name its policies
            objects = await self.rendered(rec, translation, ns)
            await self.objects_of(rec).ensure_namespace(
                ns,
                tenant_id=rec.tenant_id,
                create=self.namespaces.create,
                guard=self.namespaces.guard,
            )
            rec.placed_namespace = ns
            await self._apply(rec, op, translation, objects=objects)
        outcome = self._all_ready(
            rec, translation, generations=op.progress.get("generations"), since=_retried_at(op)
        )
        if isinstance(outcome, Done):
            return Done(
                {
                    "namespace": rec.require_namespace(),
                    "vdus": {v.name: rec.desired_replicas.get(v.name) for v in translation.vdus},
                }
            )
        return outcome

    # -- terminate ------------------------------------------------------------------
    async def _terminate(self, rec: VnfRecord, op: Operation) -> Outcome:
        ns = rec.placed_namespace
        if not ns:
            return Done({"deleted": 0})  # never reached the cluster
        grace = op.args.get("graceful_timeout")
        if grace is not None:
            # Every pass (a pod or ReplicaSet created while the first ran is
            # caught too; pods already being deleted are left to their grace).
            # The pods get exactly graceful_timeout seconds to stop (0: at once),
            # whatever their own terminationGracePeriodSeconds; the terminate
            # waits for them below, as for every other object.
            op.progress["graceful"] = await self.objects_of(rec).delete_pods_gracefully(
                namespace=ns, vnf_id=rec.vnf_id, grace=int(grace), kinds=rec.object_kinds
            )
        kinds = await self._owned_kinds(rec)
        if rec.helm_release and not op.progress.get("uninstalled"):
            await self.helm.uninstall(rec)
            op.progress["uninstalled"] = True
        if "deleting" not in op.progress:  # the count may be 0: nothing was left to delete
            op.progress["deleting"] = await self.objects_of(rec).delete_all(
                namespace=ns, vnf_id=rec.vnf_id, kinds=kinds
            )
            return Waiting("deleting the VNF's objects")
        left = await self.objects_of(rec).remaining(namespace=ns, vnf_id=rec.vnf_id, kinds=kinds)
        if left:
            # Re-issue deletes for anything that appeared or was missed.
            await self.objects_of(rec).delete_all(namespace=ns, vnf_id=rec.vnf_id, kinds=kinds)
            return Waiting(f"{len(left)} objects still present: {', '.join(left[:5])}")
        return Done({"deleted": op.progress["deleting"]})

    # -- scale ----------------------------------------------------------------------
    async def _scale(self, rec: VnfRecord, op: Operation) -> Outcome:
        translation = await self.translation(rec)
        if "targets" not in op.progress:
            name = op.args.get("policy", "")
            try:
                policy = translation.policies.scaling_policy(name)
            except KeyError:
                known = ", ".join(p.name for p in translation.policies.scaling) or "none"
                raise OperationFailed(
                    "UnknownPolicy",
                    f"no scaling policy {name!r} (the VNFD has: {known})",
                    vnf_status=None,
                ) from None
            direction = op.args.get("type", "out")
            steps = int(op.args.get("steps") or 1)
            targets: dict[str, dict[str, int]] = {}
            blocked = []
            fixed = [v for v in policy.targets if not translation.vdu(v).scalable]
            if fixed:
                raise OperationFailed(
                    "NotScalable",
                    f"cannot scale with policy {name}: VDU {', '.join(fixed)} is a "
                    f"{translation.vdu(fixed[0]).kind}, whose pods follow its nodes, not replicas",
                    vnf_status=None,
                )
            level = _scale_level(rec, translation, policy)
            new_level = level + steps if direction == "out" else max(0, level - steps)
            if (
                policy.max_scale_level is not None
                and direction == "out"
                and new_level > policy.max_scale_level
            ):
                raise OperationFailed(
                    "ScaleBoundReached",
                    f"cannot scale out with aspect {name} by {steps}: it is at scale level "
                    f"{level} and its max_scale_level is {policy.max_scale_level}",
                    vnf_status=None,
                )
            if policy.max_scale_level is not None and direction == "in" and level - steps < 0:
                raise OperationFailed(
                    "ScaleBoundReached",
                    f"cannot scale in with aspect {name} by {steps}: it is at scale level {level}",
                    vnf_status=None,
                )
            for vdu in policy.targets:
                spec = translation.vdu(vdu)
                # Each VDU an aspect spans is held to its own vdu_profile.
                low, high = (
                    (spec.min_replicas, spec.max_replicas)
                    if policy.max_scale_level is not None
                    else (policy.min_instances, policy.max_instances)
                )
                current = int(rec.desired_replicas.get(vdu, spec.default_replicas))
                if policy.step_deltas:
                    lo, hi = sorted((level, new_level))
                    delta = sum(policy.increment_for(vdu, level=i) for i in range(lo, hi))
                else:
                    delta = policy.increment_for(vdu) * steps
                wanted = current + delta if direction == "out" else current - delta
                new = max(low, min(high, wanted))
                # A CPU decision moves toward the replicas it wants, never past
                # them (an aspect's levels are whole steps: not cut short).
                toward = (op.args.get("toward") or {}).get(vdu)
                if toward is not None and policy.max_scale_level is None:
                    if direction == "out":
                        new = min(new, max(int(toward), current))
                    else:
                        new = max(new, min(int(toward), current))
                if new == current:
                    bound = "max_instances" if direction == "out" else "min_instances"
                    limit = high if direction == "out" else low
                    blocked.append(f"{vdu} is at {bound} {limit}")
                targets[vdu] = {"old": current, "new": new}
            if all(t["old"] == t["new"] for t in targets.values()):
                raise OperationFailed(
                    "ScaleBoundReached",
                    f"cannot scale {direction} with policy {name}: " + "; ".join(blocked),
                    vnf_status=None,
                )
            op.progress["targets"] = targets
            op.progress["policy"] = name
            if policy.max_scale_level is not None:
                op.progress["levels"] = {name: {"old": level, "new": new_level}}
                rec.scale_levels[name] = new_level
            for vdu, t in targets.items():
                rec.desired_replicas[vdu] = t["new"]
        ns = self.placed_in(rec, op)
        if translation.chart is not None and not op.progress.get("upgraded"):
            if "revision_before" not in op.progress:
                op.progress["revision_before"] = await self.helm.revision(rec)
            # The replica values set, the rest of the release's values kept.
            release = await self.helm.deploy(rec, translation, reuse=True)
            op.progress["upgraded"] = True
            op.progress["revision"] = release.revision
        for vdu, t in op.progress["targets"].items():
            if translation.chart is not None:
                break
            dep = self.objects_of(rec).workload_of(rec.vnf_id, vdu, ns)
            if dep is None or workload_replicas(dep) != t["new"]:
                spec = translation.vdu(vdu)
                await self.objects_of(rec).scale(
                    namespace=ns, deployment=spec.deployment_name, replicas=t["new"], kind=spec.kind
                )
        outcome = self._all_ready(rec, translation, since=_retried_at(op))
        if isinstance(outcome, Done):
            return Done(
                {
                    "policy": op.progress["policy"],
                    "type": op.args.get("type"),
                    "replicas": op.progress["targets"],
                }
            )
        return outcome

    # -- heal ------------------------------------------------------------------------
    async def _heal(self, rec: VnfRecord, op: Operation) -> Outcome:
        """Replace pods (named, of named VDUs, or every one not ready), restart
        VDUs (a rollout), or recreate the VNF's objects; then wait until ready."""
        translation = await self.translation(rec)
        ns = self.placed_in(rec, op)
        names = op.args.get("vdus") or []
        known = {v.name for v in translation.vdus}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise OperationFailed(
                "UnknownVdu",
                f"no VDU {', '.join(unknown)} in this VNF (it has {', '.join(sorted(known))})",
                vnf_status=None,
            )
        if op.args.get("recreate") or op.args.get("all"):
            return await self._recreate(rec, op, translation)
        if op.args.get("restart"):
            if "generations" not in op.progress:
                stamp = utcnow()
                generations = {}
                for vdu in names or sorted(known):
                    spec = translation.vdu(vdu)
                    charted = self.objects_of(rec).workload_of(rec.vnf_id, vdu, ns)
                    if translation.chart is not None and charted is not None:
                        # A chart's workload: its kind and name are what it rendered.
                        spec = replace(
                            spec,
                            kind=str(charted.get("kind") or spec.kind),
                            deployment_name=charted["metadata"]["name"],
                        )
                    if spec.kind not in RESTARTABLE:
                        raise OperationFailed(
                            "RestartNotSupported",
                            f"VDU {vdu} is a {spec.kind}, which has no rollout to restart "
                            "(heal its pods by vnfc_ids instead)",
                            vnf_status=None,
                        )
                    dep = await self.objects_of(rec).restart(
                        namespace=ns, deployment=spec.deployment_name, stamp=stamp, kind=spec.kind
                    )
                    generations[vdu] = int(dep["metadata"].get("generation", 0))
                op.progress["generations"] = generations
            outcome = self._all_ready(
                rec, translation, generations=op.progress["generations"], since=_retried_at(op)
            )
            if isinstance(outcome, Done):
                return Done(
                    {
                        "restarted_vdus": sorted(op.progress["generations"]),
                        "cause": op.args.get("cause"),
                    }
                )
            return outcome
        pods = self.objects_of(rec).vnf_pods(rec.vnf_id, rec.placed_namespace)
        if "pods" not in op.progress:
            live = [p for p in pods if p["metadata"].get("deletionTimestamp") is None]
            if op.args.get("vnfc_ids"):
                chosen = _vnfcs(live, op.args["vnfc_ids"])
            elif op.args.get("pods"):
                wanted = set(op.args["pods"])
                chosen = [p for p in live if p["metadata"]["name"] in wanted]
            elif names:
                chosen = [
                    p for p in live if (p["metadata"].get("labels") or {}).get(LABEL_VDU) in names
                ]
            else:
                chosen = [p for p in live if pod_failed(p) or not pod_ready(p)]
            op.progress["pods"] = sorted(p["metadata"]["name"] for p in chosen)
            # By uid too: a StatefulSet replaces a pod under the same name.
            op.progress["pod_uids"] = {
                p["metadata"]["name"]: p["metadata"].get("uid") for p in chosen
            }
        targets = set(op.progress["pods"])
        uids: dict[str, str | None] = op.progress.get("pod_uids") or {}
        present = {
            p["metadata"]["name"]: p
            for p in pods
            if p["metadata"]["name"] in targets
            and uids.get(p["metadata"]["name"]) in (None, p["metadata"].get("uid"))
        }
        for name, pod in present.items():
            if pod["metadata"].get("deletionTimestamp") is None:
                await self.objects_of(rec).delete_pod(namespace=ns, name=name)
        if present:
            return Waiting(f"replacing {len(present)} pods")
        if any(v.kind == "Pod" for v in translation.vdus) and not op.progress.get("reapplied"):
            # A bare Pod has no controller to replace it: applied again.
            await self._apply(rec, op, translation)
            op.progress["reapplied"] = True
        outcome = self._all_ready(rec, translation, since=_retried_at(op))
        if isinstance(outcome, Done):
            # The Deployment's status lags the pods (the ReplicaSet and Deployment
            # controllers write it in turn): count the replacement pods themselves.
            replaced = {u for u in uids.values() if u} or targets
            outcome = self._pods_ready(rec, translation, besides=replaced)
        if isinstance(outcome, Done):
            return Done({"replaced_pods": sorted(targets), "cause": op.args.get("cause")})
        return outcome

    def _pods_ready(
        self, rec: VnfRecord, translation: Translation, *, besides: set[str]
    ) -> Outcome:
        """Done when each VDU has its desired number of ready pods that are not
        being deleted and are not among ``besides`` (the pods being replaced:
        their uids, or their names for an operation journaled before uids)."""
        pods = self.objects_of(rec).vnf_pods(rec.vnf_id, rec.placed_namespace)
        waiting = []
        for vdu in translation.vdus:
            want = rec.desired_replicas.get(vdu.name, vdu.default_replicas)
            ready = [
                p
                for p in pods
                if (p["metadata"].get("labels") or {}).get(LABEL_VDU) == vdu.name
                and p["metadata"]["name"] not in besides
                and p["metadata"].get("uid") not in besides
                and p["metadata"].get("deletionTimestamp") is None
                and pod_ready(p)
            ]
            if len(ready) < want:
                waiting.append(f"{vdu.name} {len(ready)}/{want} replacement pods ready")
        if waiting:
            return Waiting("waiting for " + ", ".join(waiting))
        return Done()

    async def _recreate(self, rec: VnfRecord, op: Operation, translation: Translation) -> Outcome:
        ns = self.placed_in(rec, op)
        if not op.progress.get("deleted"):
            if not op.progress.get("deleting"):
                await self.objects_of(rec).delete_all(
                    namespace=ns, vnf_id=rec.vnf_id, kinds=await self._owned_kinds(rec)
                )
                op.progress["deleting"] = True
                return Waiting("deleting the VNF's objects to recreate them")
            left = await self.objects_of(rec).remaining(
                namespace=ns, vnf_id=rec.vnf_id, kinds=rec.object_kinds
            )
            if left:
                return Waiting(f"{len(left)} objects still present")
            op.progress["deleted"] = True
        if not op.progress.get("applied"):
            await self._apply(rec, op, translation)
        outcome = self._all_ready(
            rec, translation, generations=op.progress["generations"], since=_retried_at(op)
        )
        if isinstance(outcome, Done):
            return Done({"recreated": True, "cause": op.args.get("cause")})
        return outcome

    # -- update ------------------------------------------------------------------------
    async def _update(self, rec: VnfRecord, op: Operation, *, refusals: bool = True) -> Outcome:
        """Spec changes are written by the reconciler before this step (see
        ``Reconciler._apply_update_spec``); this rolls the objects to them.

        A VNF whose instantiate failed before it reached the cluster (an invalid
        VNFD, say) is created by its update: that is how a fixed VNFD is sent.
        """
        if not rec.placed_namespace:
            return await self._instantiate(rec, op)
        translation = await self.translation(rec)
        if not op.progress.get("applied"):
            vdus = {v.name for v in translation.vdus}
            for gone in [name for name in rec.desired_replicas if name not in vdus]:
                del rec.desired_replicas[gone]  # a VDU the new descriptor dropped
            await self._apply(rec, op, translation)
            op.progress["removed"] = await self.objects_of(rec).delete_others(
                namespace=rec.require_namespace(),
                vnf_id=rec.vnf_id,
                keep=op.progress["objects"],
                kinds=rec.object_kinds,
            )
        outcome = self._all_ready(
            rec,
            translation,
            generations=op.progress["generations"],
            since=_retried_at(op),
            refusals=refusals,
        )
        if isinstance(outcome, Done) and op.progress.get("removed"):
            return Done({"removed_objects": op.progress["removed"]})
        return outcome


def _scale_level(rec: VnfRecord, translation: Translation, policy: Any) -> int:
    """The aspect's scale level: the record's, or (a VNF scaled before levels
    were recorded) what its first VDU's replicas above the initial ones add
    up to, step by step."""
    if policy.name in rec.scale_levels:
        return int(rec.scale_levels[policy.name])
    if not policy.targets:
        return 0
    vdu = translation.vdu(policy.targets[0])
    current = int(rec.desired_replicas.get(vdu.name, vdu.default_replicas))
    level, reached = 0, vdu.default_replicas
    limit = policy.max_scale_level if policy.max_scale_level is not None else 1000
    while level < limit:
        step = policy.increment_for(vdu.name, level=level)
        if step <= 0 or reached + step > current:
            break
        reached += step
        level += 1
    return level


def _autoscaled(translation: Translation, objects: list[dict[str, Any]]) -> list[str]:
    """The VDUs a HorizontalPodAutoscaler among ``objects`` scales."""
    targets = {
        ((o.get("spec") or {}).get("scaleTargetRef") or {}).get("name")
        for o in objects
        if o.get("kind") == "HorizontalPodAutoscaler"
    }
    return sorted(v.name for v in translation.vdus if v.deployment_name in targets)


def kinds_of(objects: list[dict[str, Any]]) -> set[str]:
    """The kinds of ``objects``, and PersistentVolumeClaim when a StatefulSet
    among them makes claims."""
    kinds = {str(o.get("kind")) for o in objects}
    if any(
        o.get("kind") == "StatefulSet" and (o.get("spec") or {}).get("volumeClaimTemplates")
        for o in objects
    ):
        kinds.add("PersistentVolumeClaim")
    return kinds


def _retried_at(op: Operation) -> str | None:
    """When a retried operation started again (None for a first attempt): a pod
    refusal from before then is the attempt before's."""
    return op.started_at if (op.detail or {}).get("retry_op_id") else None


def _vnfcs(pods: list[dict[str, Any]], ids: list[str]) -> list[dict[str, Any]]:
    """The VNF's pods that ``ids`` name (a pod name or uid each);
    OperationFailed("UnknownVnfc") naming any that is not one of them."""
    by_id: dict[str, dict[str, Any]] = {}
    for pod in pods:
        meta = pod["metadata"]
        by_id[meta["name"]] = pod
        if meta.get("uid"):
            by_id[meta["uid"]] = pod
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise OperationFailed(
            "UnknownVnfc",
            f"no pod {', '.join(unknown)} of this VNF (vnfc_ids are its pods' names or uids)",
            vnf_status=None,
        )
    chosen = {by_id[i]["metadata"]["name"]: by_id[i] for i in ids}
    return list(chosen.values())


def _is_refusal(message: str) -> bool:
    """Whether a ReplicaFailure message is an admission refusal (quota, Pod
    Security, a webhook), which waiting does not fix; others (a ServiceAccount
    not created yet in a new namespace, say) clear by themselves."""
    text = message.lower()
    return "is forbidden" in text or "denied the request" in text
