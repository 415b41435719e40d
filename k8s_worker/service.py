"""The worker process: every part wired together, started and stopped in order.

Start-up: the Kubernetes client, the Vnf CRD and the record namespace, the
informers (each synced before anything reads its cache), the notifier, the
membership lease (so ownership is known before anything is reconciled), the
reconciler, and last the intake, so a replica consumes RPCs only once it can
carry them out.  Stop (SIGTERM): the intake drains first (no new work, in-flight
casts finished or handed back), the lease is released so the other replicas
take the VNFs over at once, then the rest is cancelled; the VNF records hold
everything a successor needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from oslo_config import cfg

from k8s_worker import conf as worker_conf
from k8s_worker.alerts import AlertAlarm, AlertReceiver, ReceiverSettings
from k8s_worker.api.endpoint import LifecycleEndpoint
from k8s_worker.fleet.membership import Membership
from k8s_worker.health import Readiness, event_check, kubernetes_check, lease_check
from k8s_worker.helm import HelmRunner
from k8s_worker.intake.service import IntakeService, IntakeSettings
from k8s_worker.kube import (
    KINDS,
    Kube,
    KubeConflict,
    KubeNotFound,
    KubeRejected,
    parse_kind,
    register_kind,
)
from k8s_worker.kube.client import make_api_client
from k8s_worker.lifecycle.objects import NamespaceGuard, VnfObjects
from k8s_worker.lifecycle.operations import NamespacePolicy, Operations
from k8s_worker.lifecycle.sites import Site, Sites
from k8s_worker.lifecycle.translator import Translator, TranslatorLimits
from k8s_worker.lifecycle.workloads import WorkloadWatch
from k8s_worker.logs import bind_request_context
from k8s_worker.metrics import Metrics
from k8s_worker.notify.kube_events import EventRecorder, Involved
from k8s_worker.notify.notifier import Notifier, NotifierSettings
from k8s_worker.packages import PackageLimits
from k8s_worker.policy.engine import PolicyEngine
from k8s_worker.preflight import StartupError
from k8s_worker.reconcile.reconciler import Reconciler
from k8s_worker.reconcile.vim_duties import VimDuties
from k8s_worker.reconcile.workqueue import WorkQueue
from k8s_worker.record import CRD_NAME, RecordStore, VnfRecord, install_crd
from k8s_worker.tenancy import (
    NamespaceRules,
    PodRules,
    parse_grants,
    parse_quantity,
    tenant_label_value,
)
from k8s_worker.tosca import LABEL_VNF_ID, WATCH_SELECTOR
from k8s_worker.tosca.loader import YamlBudget
from k8s_worker.vims import DEFAULT_VIM_ID, VimHealth, VimRecord, VimStore
from k8s_worker.vims.crd import VIM_CRD_NAME, vim_crd_manifest
from k8s_worker.vims.health import VimHealthReporter
from k8s_worker.vims.registry import VimRegistry, VimSettings
from k8s_worker.vims.store import LABEL_VIM as VIM_LABEL
from k8s_worker.watch import Informer, WatchEvent
from k8s_worker.watch.nodes import NodeWatch
from k8s_worker.watch.projection import project_pod, project_workload, without_managed_fields
from rpc.exceptions import VnfNotFound

LOG = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True)
class _Parts:
    """What one replica is made of, built once (``Worker._build``)."""

    store: RecordStore
    records: Informer
    membership: Membership
    reconciler: Reconciler
    intake: IntakeService
    namespaces: list[str | None]
    vim_duties: VimDuties | None = None
    alerts: AlertReceiver | None = None


def events_of(
    recorder: EventRecorder | None,
) -> Callable[[VnfRecord, dict[str, Any]], None] | None:
    """The outbox's on_published for ``recorder``: each confirmed notification as
    an Event on the VNF's record."""
    if recorder is None:
        return None

    def note(rec: VnfRecord, entry: dict[str, Any]) -> None:
        meta = rec.obj["metadata"]
        recorder.note(
            Involved(
                kind="Vnf",
                name=rec.name,
                namespace=rec.namespace,
                uid=meta.get("uid", ""),
                api_version=rec.obj.get("apiVersion", ""),
            ),
            event_type=entry["eventType"],
            payload=entry["payload"],
            priority=entry["priority"],
        )

    return note


class Worker:
    """One replica: builds its parts from the configuration and runs them (membership,
    informers, reconciler, intake, health server) until stopped; a SIGTERM drains the
    intake and releases the lease."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        worker_conf.register_opts(conf)
        self.conf = conf
        self.ready = asyncio.Event()
        self.informers: list[Informer] = []
        self.queue = WorkQueue()
        self.events: EventRecorder | None = None
        self.membership: Membership | None = None
        self.sites: Sites | None = None
        self.metrics = Metrics()  # served on /metrics by k8s_worker.cmd.worker
        self.readiness = Readiness()  # served on /readyz
        limits = conf.limits
        VnfRecord.outbox_cap = limits.outbox_coalesce_after
        self.translator = Translator(
            TranslatorLimits(
                memory_bytes=limits.translation_memory_mb << 20,
                timeout=limits.translation_timeout,
                processes=limits.translation_processes,
                yaml=YamlBudget(
                    max_bytes=limits.max_vnfd_bytes,
                    max_nodes=limits.max_yaml_nodes,
                    max_aliases=limits.max_yaml_aliases,
                    max_depth=limits.max_yaml_depth,
                ),
            )
        )

    def _route(self, event: WatchEvent) -> None:
        vnf_id = event.labels.get(LABEL_VNF_ID)
        if vnf_id:
            self.queue.add(vnf_id)

    def _route_record(self, event: WatchEvent) -> None:
        vnf_id = event.obj.get("spec", {}).get("vnfId")
        if vnf_id and event.type != "DELETED":
            self.queue.add(vnf_id)

    async def run(self, stop: asyncio.Event) -> None:
        """Build the parts, start them in named phases, run until ``stop``."""
        kconf = self.conf.kubernetes
        self.metrics.report_stages()
        api = await make_api_client(
            kubeconfig=kconf.kubeconfig or None,
            context=kconf.context or None,
            host=self.conf.k8s_worker.host,
        )
        kube = Kube(api, retry_seconds=kconf.api_retry_seconds)
        notifier = self.metrics.instrument_publisher(
            Notifier(NotifierSettings.from_conf(self.conf))
        )
        try:
            store = await self._prepare_records(kube)
            parts = await self._build(kube=kube, store=store, notifier=notifier)
            self._observe(
                intake=parts.intake, kube=kube, records=parts.records, reconciler=parts.reconciler
            )
            await self._start_and_run(parts, notifier=notifier, stop=stop)
        finally:
            self.translator.close()
            with contextlib.suppress(Exception):
                await notifier.close()
            await api.close()
            LOG.info("worker.stopped", host=self.conf.k8s_worker.host)

    async def _prepare_records(self, kube: Kube) -> RecordStore:
        """The records' CRDs (installed when configured) and namespace."""
        kconf = self.conf.kubernetes
        if kconf.install_crd:
            await install_crd(kube)
            await install_crd(kube, manifest=vim_crd_manifest())
        await self._ensure_namespace(kube, kconf.record_namespace)
        await _require_crd(kube, namespace=kconf.record_namespace)
        return RecordStore(kube, namespace=kconf.record_namespace, finalizer=kconf.record_finalizer)

    async def _build(self, *, kube: Kube, store: RecordStore, notifier: Notifier) -> _Parts:
        """Every part of the replica, wired together (nothing runs yet)."""
        kconf = self.conf.kubernetes
        namespaces: list[str | None] = list(kconf.namespaces) or [None]
        pods: list[Informer] = []
        deployments: list[Informer] = []
        for ns in namespaces:
            for kind, bucket in (("Pod", pods), ("Deployment", deployments)):
                informer = Informer(
                    kube,
                    KINDS[kind],
                    selector=WATCH_SELECTOR,
                    namespace=ns,
                    inactivity_seconds=kconf.watch_inactivity_seconds,
                    index_label=LABEL_VNF_ID,
                    project=project_pod if kind == "Pod" else project_workload,
                )
                informer.add_handler(self._route)
                bucket.append(informer)
        records = Informer(
            kube,
            KINDS["Vnf"],
            namespace=kconf.record_namespace,
            inactivity_seconds=kconf.watch_inactivity_seconds,
            project=without_managed_fields,
        )
        store.use_cache(lambda name: records.cache.get((kconf.record_namespace, name)))
        self.informers = [*pods, *deployments, records]
        nodes = NodeWatch(kube, inactivity_seconds=kconf.watch_inactivity_seconds)
        node_status = None
        if await nodes.allowed():
            nodes.informer.add_handler(nodes.route_to_vnfs(pods, self.queue.add))
            self.informers.append(nodes.informer)
            node_status = nodes.status

        vnf_objects = VnfObjects(
            kube=kube,
            pods=pods,
            deployments=deployments,
            workloads=WorkloadWatch(
                kube=kube,
                route=self._route,
                namespaces=namespaces,
                inactivity_seconds=kconf.watch_inactivity_seconds,
            ),
        )
        namespace_policy, pod_rules = tenancy_settings(self.conf)
        host = self.conf.k8s_worker.host
        vim_settings = VimSettings.from_conf(self.conf)
        vim_store = None
        if await _has_vim_crd(kube, namespace=kconf.record_namespace):
            vim_store = VimStore(kube, namespace=kconf.record_namespace)
        else:
            LOG.warning(
                "vim.registry_off",
                detail=f"the Vim custom resource ({VIM_CRD_NAME}) is not installed: only the "
                "worker's own cluster is used (apply etc/kubernetes/crd-vim.yaml)",
            )
        sites = Sites(
            default=Site(
                vim_id=DEFAULT_VIM_ID,
                kube=kube,
                objects=vnf_objects,
                rules=namespace_policy.rules,
                informers=[*pods, *deployments],
                managed=namespace_policy.managed,
                closeable=False,
            ),
            store=vim_store,
            route=self._route,
            base_rules=namespace_policy.rules,
            host=host,
            probe_interval=vim_settings.probe_interval,
            inactivity_seconds=kconf.watch_inactivity_seconds,
            admit=vim_settings.admit,
        )
        self.sites = sites
        operations = Operations(
            vnf_objects=vnf_objects,
            sites=sites,
            namespaces=namespace_policy,
            pods=pod_rules,
            secret_params=store.secret_params,
            descriptor=store.descriptor,
            translator=self.translator,
            helm=HelmRunner(binary=self.conf.helm.binary, timeout=self.conf.helm.timeout),
            extra_kinds=package_kinds(self.conf),
            claim_pending_seconds=self.conf.lifecycle.claim_pending_timeout,
        )
        membership = Membership(
            kube,
            namespace=kconf.record_namespace,
            host=host,
            lease_duration=self.conf.cluster.lease_duration,
            renew_interval=self.conf.cluster.renew_interval,
        )
        self.membership = membership
        events = (
            EventRecorder(
                kube,
                host=host,
                count=lambda outcome: self.metrics.kube_events.labels(outcome).inc(),
            )
            if kconf.record_events
            else None
        )
        self.events = events
        reconciler = Reconciler(
            on_published=events_of(events),
            store=store,
            operations=operations,
            publisher=notifier,
            queue=self.queue,
            workers=self.conf.k8s_worker.concurrency,
            operation_timeout=kconf.operation_timeout,
            backoff_max=kconf.backoff_max,
            policy=PolicyEngine(host=host, clock_tolerance=self.conf.cluster.clock_tolerance),
            owns=membership.owns,
            host=host,
            node_status=node_status,
            lease_deadline=membership.valid_until,
            clock_tolerance=self.conf.cluster.clock_tolerance,
            failed_temp_timeout=self.conf.lifecycle.failed_temp_timeout,
            auto_rollback_updates=self.conf.lifecycle.auto_rollback_updates,
            drift_interval=self.conf.lifecycle.drift_check_interval,
            repair_drift=self.conf.lifecycle.repair_drift,
            metrics_interval=self.conf.policy.metrics_interval,
        )
        notifier.on_recovered.append(reconciler.publisher_recovered)

        def record_changed(event: WatchEvent) -> None:
            store.observed(event.obj, deleted=event.type == "DELETED")
            if not reconciler.records.echo(event.obj):
                self._route_record(event)

        records.add_handler(record_changed)

        def look_at_every_record(_members: list[str]) -> None:
            for r in records.items():
                self._route_record(WatchEvent("MODIFIED", r, None))

        membership.listeners.append(look_at_every_record)
        registry = None
        vim_duties = None
        if vim_store is not None:
            registry = VimRegistry(
                store=vim_store,
                settings=vim_settings,
                host=host,
                in_use=lambda vim_id: _vnfs_on(store, vim_id),
            )
            reporter = VimHealthReporter(store=vim_store, publisher=notifier, owns=membership.owns)
            reports: set[asyncio.Task[None]] = set()

            def report(vim_id: str, health: VimHealth, reason: str) -> None:
                task = asyncio.create_task(reporter.report(vim_id, health, reason))
                reports.add(task)
                task.add_done_callback(reports.discard)

            sites.health_listeners.append(report)
            vims = Informer(
                kube,
                KINDS["Vim"],
                namespace=kconf.record_namespace,
                inactivity_seconds=kconf.watch_inactivity_seconds,
            )
            refreshes: set[asyncio.Task[None]] = set()

            def refresh(event: WatchEvent) -> None:
                if event.type == "DELETED":
                    return
                task = asyncio.create_task(sites.refresh(VimRecord(event.obj)))
                refreshes.add(task)
                task.add_done_callback(refreshes.discard)

            vims.add_handler(refresh)
            self.informers.append(vims)
            vim_duties = VimDuties(
                sites=sites,
                reporter=reporter,
                records=records.items,
                owns=membership.owns,
                every=vim_settings.probe_interval,
            )
        lifecycle = LifecycleEndpoint(
            store=store,
            vnf_objects=vnf_objects,
            enqueue=self.queue.add,
            kube=kube,
            max_vnfs_per_tenant=self.conf.limits.max_vnfs_per_tenant,
            max_vnfd_bytes=self.conf.limits.max_vnfd_bytes,
            package_limits=PackageLimits(
                max_bytes=self.conf.limits.max_package_bytes,
                max_files=self.conf.limits.max_package_files,
                max_expanded_bytes=self.conf.limits.max_package_expanded_bytes,
                max_ratio=self.conf.limits.max_package_ratio,
            ),
            max_pending_operations=self.conf.limits.max_pending_operations,
            max_record_bytes=self.conf.limits.max_record_bytes,
            cached_records=records.items,
            registry=registry,
            sites=sites,
        )
        endpoint = self.metrics.instrument_handler(bind_request_context(lifecycle))
        return _Parts(
            store=store,
            records=records,
            membership=membership,
            reconciler=reconciler,
            intake=IntakeService(IntakeSettings.from_conf(self.conf), endpoint, notifier),
            namespaces=namespaces,
            vim_duties=vim_duties,
            alerts=self._alert_receiver(lifecycle),
        )

    def _alert_receiver(self, lifecycle: LifecycleEndpoint) -> AlertReceiver | None:
        """The Alertmanager webhook receiver (``[alertmanager] enabled``)."""
        aconf = self.conf.alertmanager
        if not aconf.enabled:
            return None
        if not aconf.token_file:
            raise StartupError("[alertmanager] token_file: required when enabled")

        async def sink(alarm: AlertAlarm) -> str:
            try:
                return await lifecycle.alert(alarm)
            except VnfNotFound as exc:
                raise LookupError(exc.message) from None

        return AlertReceiver(
            ReceiverSettings(
                bind_host=aconf.bind_host,
                bind_port=aconf.bind_port,
                token_file=aconf.token_file,
                cert_file=aconf.cert_file,
                key_file=aconf.key_file,
            ),
            sink,
        )

    async def _start_and_run(
        self, parts: _Parts, *, notifier: Notifier, stop: asyncio.Event
    ) -> None:
        """The start-up phases, each named in the error when it does not finish
        in ``[service] startup_timeout``: the informers' first lists, the
        notifier's broker connection, the translation process, this replica's
        Lease; then the reconciler and the intake run until ``stop``, the
        intake drains and the lease is released."""
        startup = _Startup(stop, limit=self.conf.service.startup_timeout)
        async with asyncio.TaskGroup() as group:
            background = [group.create_task(i.run()) for i in self.informers]
            started = await startup.step(
                asyncio.gather(*(i.synced.wait() for i in self.informers)),
                "the first list of pods, Deployments and VNF records",
            ) and await startup.step(notifier.start(), "the notifier's broker connection")
            started = started and await startup.step(
                self.translator.start(), "the VNFD translation process"
            )
            if started:
                background.append(group.create_task(parts.membership.run()))
                started = await startup.step(parts.membership.ready.wait(), "this replica's Lease")
            if started:
                background.append(group.create_task(parts.reconciler.run()))
                if self.events is not None:
                    background.append(group.create_task(self.events.run()))
                background.append(group.create_task(_sweep_tombstones(parts.store)))
                if parts.vim_duties is not None:
                    background.append(group.create_task(parts.vim_duties.run()))
                if parts.alerts is not None:
                    started = await startup.step(
                        parts.alerts.start(), "the Alertmanager webhook listener"
                    )
                intake_task = group.create_task(parts.intake.run(stop))
                background.append(group.create_task(self._announce(parts.intake)))
                LOG.info(
                    "worker.started",
                    host=self.conf.k8s_worker.host,
                    namespaces=[n or "*" for n in parts.namespaces],
                )
                await intake_task  # returns after stop is set and the intake drained
            if parts.alerts is not None:
                await parts.alerts.stop()
            if self.events is not None:
                await self.events.drain()
            await parts.membership.release()  # the others take our VNFs over now
            for task in background:
                task.cancel()
        if self.sites is not None:
            await self.sites.close()
        if startup.failure is not None:
            raise startup.failure

    def _observe(
        self, *, intake: IntakeService, kube: Kube, records: Informer, reconciler: Reconciler
    ) -> None:
        """Readiness checks and scrape-time metrics of this replica."""
        self.readiness.add("broker", event_check(intake.ready, what="consuming RPCs"))
        self.readiness.add(
            "kubernetes",
            kubernetes_check(
                lambda: kube.request("GET", "/version", retry=False, request_seconds=2.0),
                informers=lambda: self.informers,
            ),
        )
        if self.membership is not None:
            self.readiness.add("leases", lease_check(self.membership))
        self.metrics.observe_state(
            informers=lambda: [
                *self.informers,
                *([self.membership.informer] if self.membership else []),
            ],
            queue_depth=lambda: len(self.queue),
            owned_vnfs=lambda: sum(
                1 for r in records.items() if reconciler.owns(r.get("spec", {}).get("vnfId", ""))
            ),
            vims=lambda: self._vim_state(records, reconciler),
        )

    def _vim_state(self, records: Informer, reconciler: Reconciler) -> list[tuple[str, bool, int]]:
        """(vim_id, reachable, VNFs owned here) of the default VIM and each open one."""
        owned: dict[str, int] = {}
        for r in records.items():
            spec = r.get("spec") or {}
            if reconciler.owns(spec.get("vnfId", "")):
                vim = spec.get("vimId") or DEFAULT_VIM_ID
                owned[vim] = owned.get(vim, 0) + 1
        sites = self.sites.open_sites() if self.sites is not None else []
        state = [(DEFAULT_VIM_ID, True, owned.get(DEFAULT_VIM_ID, 0))]
        return state + [(s.vim_id, s.reachable, owned.get(s.vim_id, 0)) for s in sites]

    async def _announce(self, intake: IntakeService) -> None:
        await intake.ready.wait()
        self.ready.set()
        await asyncio.Event().wait()

    @staticmethod
    async def _ensure_namespace(kube: Kube, name: str) -> None:
        if await kube.get_or_none(KINDS["Namespace"], name=name) is None:
            with contextlib.suppress(KubeConflict):
                await kube.create(
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
                )


async def _vnfs_on(store: RecordStore, vim_id: str) -> int:
    """VNFs on the VIM, not terminated (read afresh: a deregistration must not
    race a record the cache has not seen yet)."""
    records = await store.list(selector=f"{VIM_LABEL}={tenant_label_value(vim_id)}")
    return sum(1 for r in records if r.vim_id == vim_id and not r.terminated())


async def _has_vim_crd(kube: Kube, *, namespace: str) -> bool:
    """The Vim resource is installed and the worker may read it (an older RBAC
    without ``vims``: the registry is off, the worker still runs)."""
    try:
        await kube.request(
            "GET", KINDS["Vim"].path(namespace=namespace), query=[("limit", 1)], retry=False
        )
    except KubeNotFound:
        return False
    except KubeRejected as exc:
        LOG.warning("vim.registry_forbidden", error=str(exc))
        return False
    return True


async def _require_crd(kube: Kube, *, namespace: str) -> None:
    """The Vnf resource must exist (RBAC checks pass without it, and every record
    watch would then fail for ever): one line saying what to do instead."""
    try:
        await kube.request(
            "GET", KINDS["Vnf"].path(namespace=namespace), query=[("limit", 1)], retry=False
        )
    except KubeNotFound as exc:
        raise StartupError(
            f"the Vnf custom resource ({CRD_NAME}) is not installed: apply "
            "etc/kubernetes/crd.yaml, or let the worker install it ([kubernetes] install_crd "
            "= true, with the RBAC to create CustomResourceDefinitions)"
        ) from exc


class _Startup:
    """The start-up steps after the checks: each ends, or a stop signal or the
    time limit ends the start-up (a replica that cannot start must say so and
    exit, not hang where SIGTERM goes unheard and /healthz still says ok)."""

    def __init__(self, stop: asyncio.Event, *, limit: float) -> None:
        self.stop = stop
        self.limit = limit
        self.failure: StartupError | None = None

    async def step(self, awaitable: Awaitable[Any], what: str) -> bool:
        task = asyncio.ensure_future(awaitable)
        stopped = asyncio.ensure_future(self.stop.wait())
        done, _ = await asyncio.wait(
            {task, stopped}, timeout=self.limit, return_when=asyncio.FIRST_COMPLETED
        )
        stopped.cancel()
        if task in done:
            task.result()
            return True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        if stopped not in done:
            self.failure = StartupError(
                f"start-up did not finish: {what} within {self.limit:.0f} s "
                "([service] startup_timeout)"
            )
            LOG.error("worker.startup_timeout", step=what, limit=self.limit)
        return False


def package_kinds(conf: cfg.ConfigOpts) -> tuple[str, ...]:
    """``[kubernetes] package_extra_kinds``, each known to the kind table;
    StartupError naming an entry that is not <apiVersion>/<Kind>/<plural>."""
    for text in conf.kubernetes.package_extra_kinds:
        try:
            register_kind(parse_kind(text))
        except ValueError as exc:
            raise StartupError(f"[kubernetes] package_extra_kinds: {exc}") from None
    return tuple(conf.kubernetes.package_extra_kinds)


def tenancy_settings(conf: cfg.ConfigOpts) -> tuple[NamespacePolicy, PodRules]:
    """The namespace and pod rules from ``[kubernetes]`` and ``[limits]``.

    Raises StartupError naming the option when a value cannot be used.
    """
    kconf, limits = conf.kubernetes, conf.limits
    if kconf.allow_foreign_namespaces:
        LOG.warning(
            "config.deprecated",
            option="[kubernetes] allow_foreign_namespaces",
            detail="ignored: a namespace labelled for another tenant is always refused; "
            "grant namespaces with [kubernetes] tenant_namespaces",
        )
    try:
        grants = parse_grants(kconf.tenant_namespaces)
    except ValueError as exc:
        raise StartupError(f"[kubernetes] tenant_namespaces: {exc}") from None
    for name in ("max_container_cpu", "max_container_memory"):
        try:
            parse_quantity(getattr(limits, name))
        except ValueError as exc:
            raise StartupError(f"[limits] {name}: {exc}") from None
    rules = NamespaceRules(
        record_namespace=kconf.record_namespace,
        prefix=kconf.tenant_namespace_prefix,
        forbidden=tuple(kconf.forbidden_namespaces),
        grants=grants,
    )
    policy = NamespacePolicy(
        rules=rules,
        create=kconf.create_namespaces,
        managed=tuple(kconf.namespaces),
        guard=NamespaceGuard(
            enforce=kconf.pod_security_enforce,
            warn=kconf.pod_security_warn,
            quota=tuple(sorted(kconf.namespace_quota.items())),
            container_defaults=tuple(sorted(kconf.namespace_container_defaults.items())),
        ),
    )
    pods = PodRules(
        allowed_service_types=tuple(kconf.allowed_service_types),
        max_replicas_per_vdu=limits.max_replicas_per_vdu,
        max_pods_per_vnf=limits.max_pods_per_vnf,
        max_container_cpu=limits.max_container_cpu,
        max_container_memory=limits.max_container_memory,
    )
    return policy, pods


async def _sweep_tombstones(store: RecordStore, *, every: float = 600.0) -> None:
    """Delete expired tombstones of terminated VNFs and descriptors no record
    references, every ``every`` seconds (any replica may: the deletions are
    idempotent)."""
    while True:
        try:
            gone = await store.collect_tombstones()
            if gone:
                LOG.info("record.tombstones_collected", count=gone)
        except Exception as exc:  # the API server away: next time
            LOG.warning("record.tombstones_not_collected", error=repr(exc))
        try:
            gone = await store.collect_descriptors()
            if gone:
                LOG.info("record.descriptors_collected", chunks=gone)
        except Exception as exc:
            LOG.warning("record.descriptors_not_collected", error=repr(exc))
        await asyncio.sleep(every)
