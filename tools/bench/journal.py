"""Journal: N casts for N VNFs through the real intake into Vnf records, against a
bare client making the same writes (issue 21).

What it answers: how fast the durable intake turns casts into operations
journaled in the VNFs' records, next to the fastest any client could make the
same writes on the same API server in the same run.

- ours: the worker's own intake, built by ``k8s_worker.service.Worker`` from a
  worker configuration (the RPC consumer, the lifecycle endpoint, the record
  store and the records informer) and run in this process without its
  reconciler, so that nothing else writes the records; ``--vnfs`` scale_vnf
  casts (one per VNF) go through an unmodified oslo RPCClient into its queue
  while it is stopped (drain rate, not producer rate, as in the intake
  benchmark; the producer would otherwise share this process's core); each
  is journaled by a read of the record and a JSON Patch guarded by its
  journalSeq, as the intake always does.  Its clock: the intake consuming
  again -> the last journal write answered;
- bare: a kubernetes_asyncio client on the same API server reading the other
  N records and sending each the same JSON Patch (the same operation body,
  built by the same ``journal_patch``), as many in flight as the intake
  handles at once (``[k8s_worker] concurrency``).

Both sets of records are created beforehand, the same way, in the same
namespace; the two contenders run one after the other (``--rounds``, order
rotated), and the ratio ours / bare is printed with issue 21's goal (>= 0.8).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from typing import Any

from k8s_worker.kube import Kube
from k8s_worker.kube.client import make_api_client
from k8s_worker.record import Operation, OperationKind, RecordStore, VnfRecord
from k8s_worker.record.model import record_name
from k8s_worker.record.store import VNF
from tools.bench import breakdown, stats
from tools.bench.peer import TENANT, Conductor
from tools.bench.testbed import KUBECONFIG, Run

CONCURRENT_CREATES = 32


async def _preload(store: RecordStore, *, count: int, namespace: str) -> list[str]:
    """``count`` ACTIVE records of VNFs that exist nowhere else."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    gate = asyncio.Semaphore(CONCURRENT_CREATES)

    async def create(vnf_id: str) -> None:
        rec = VnfRecord.new(
            namespace=store.namespace,
            vnf_id=vnf_id,
            name="bench",
            tenant_id=str(TENANT),
            vnf_namespace=namespace,
            vnfd="tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0\n",
            params={},
            labels={},
        )
        rec.obj["status"] = {"status": "ACTIVE", "journalSeq": 0, "sequence": 0}
        async with gate:
            await store.create(rec)

    await asyncio.gather(*(create(v) for v in ids))
    return ids


def _operation(vnf_id: str) -> Operation:
    return Operation.new(
        op_id=f"s-{vnf_id}",
        operation=OperationKind.SCALE.value,
        args={"policy": "SP1", "type": "out", "steps": 1},
        parks=True,
    )


async def _bare(kube: Kube, store: RecordStore, ids: list[str], *, in_flight: int) -> float:
    """Seconds for the bare client to journal one operation into each record."""
    gate = asyncio.Semaphore(in_flight)

    async def journal(vnf_id: str) -> None:
        async with gate:
            obj = await kube.get(VNF, name=record_name(vnf_id), namespace=store.namespace)
            patch = VnfRecord(obj).journal_patch(_operation(vnf_id))
            assert patch is not None
            await kube.json_patch(
                VNF,
                name=record_name(vnf_id),
                namespace=store.namespace,
                ops=patch,
                subresource="status",
            )

    t0 = time.monotonic()
    await asyncio.gather(*(journal(v) for v in ids))
    return time.monotonic() - t0


class _Intake:
    """The worker's intake, built as a replica builds it, without its reconciler."""

    def __init__(self, run: Run) -> None:
        from k8s_worker.cmd.worker import load_config

        self.conf = load_config(["--config-file", str(run.write_config("bench-jr"))])
        self.journaled: dict[str, float] = {}
        self.tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        from k8s_worker.notify.notifier import Notifier, NotifierSettings
        from k8s_worker.service import Worker

        worker = Worker(self.conf)
        worker.metrics.report_stages()
        self.metrics = worker.metrics
        api = await make_api_client(kubeconfig=KUBECONFIG, host="bench-jr")
        self.api = api
        kube = Kube(api)
        notifier = Notifier(NotifierSettings.from_conf(self.conf))
        await notifier.start()
        self.notifier = notifier
        store = await worker._prepare_records(kube)
        parts = await worker._build(kube=kube, store=store, notifier=notifier)
        journal = store.journal

        async def timed_journal(record: VnfRecord, patch: Any) -> VnfRecord | None:
            stored = await journal(record, patch)
            if stored is not None:
                self.journaled[record.vnf_id] = time.monotonic()
            return stored

        store.journal = timed_journal  # type: ignore[method-assign]
        self.tasks.append(asyncio.create_task(parts.records.run()))
        await parts.records.synced.wait()
        self.intake = parts.intake
        await self.drain([])  # declares its queues: casts wait there from now on

    async def drain(self, ids: list[str], *, within: float = 120.0) -> float:
        """Consume until every one of ``ids`` is journaled, then stop; the
        seconds from consuming to the last journal write."""
        stop = asyncio.Event()
        self.intake.ready.clear()
        task = asyncio.create_task(self.intake.run(stop))
        try:
            await asyncio.wait_for(self.intake.ready.wait(), 30)
            t0 = time.monotonic()
            deadline = t0 + within
            while any(v not in self.journaled for v in ids):
                if time.monotonic() > deadline:
                    missing = sum(1 for v in ids if v not in self.journaled)
                    raise RuntimeError(f"{missing} of {len(ids)} casts not journaled")
                await asyncio.sleep(0.01)
            return max((self.journaled[v] for v in ids), default=t0) - t0
        finally:
            stop.set()
            await task

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.notifier.close()
        await self.api.close()


async def _ours(intake: _Intake, conductor: Conductor, ids: list[str], *, within: float) -> float:
    """Seconds the intake takes to journal ``ids``, cast into its queue beforehand."""
    await asyncio.gather(
        *(
            conductor("scale_vnf", vnf_id=v, op_id=f"s-{v}", policy="SP1", type="out", steps=1)
            for v in ids
        )
    )
    return await intake.drain(ids, within=within)


async def measure(*, vnfs: int, rounds: int, within: float) -> None:
    run = Run("journal")
    intake: _Intake | None = None
    closing: list[Any] = []
    try:
        await run.open()
        intake = _Intake(run)
        await intake.start()
        in_flight = intake.conf.k8s_worker.concurrency
        bare_api = await make_api_client(kubeconfig=KUBECONFIG, host="bench-bare")
        closing.append(bare_api)
        bare = Kube(bare_api)
        store = RecordStore(bare, namespace=run.names.records)
        conductor = Conductor(run.transport_url, run.names)
        ours_rates: list[float] = []
        bare_rates: list[float] = []
        window: breakdown.Snapshot | None = None
        for r in range(rounds):
            mine = await _preload(store, count=vnfs, namespace=run.names.namespace)
            theirs = await _preload(store, count=vnfs, namespace=run.names.namespace)
            order = ["ours", "bare"] if r % 2 == 0 else ["bare", "ours"]
            for who in order:
                load = stats.loadavg()
                if who == "ours":
                    before = breakdown.parse(intake.metrics.render().decode())
                    secs = await _ours(intake, conductor, mine, within=within)
                    window = breakdown.parse(intake.metrics.render().decode()).minus(before)
                    ours_rates.append(vnfs / secs)
                else:
                    secs = await _bare(bare, store, theirs, in_flight=in_flight)
                    bare_rates.append(vnfs / secs)
                print(
                    f"  round {r + 1} {who:4s}: {vnfs} journaled in {secs:.2f} s"
                    f" ({vnfs / secs:.0f}/s; load {load} -> {stats.loadavg()})",
                    flush=True,
                )
        ours, theirs_rate = statistics.median(ours_rates), statistics.median(bare_rates)
        ratio = ours / theirs_rate
        print(f"  {vnfs} casts for {vnfs} VNFs, {rounds} round(s), {in_flight} in flight:")
        print(f"    ours (oslo cast -> journaled in the record): {ours:.0f}/s (median)")
        print(f"    bare client (GET + the same JSON Patch):     {theirs_rate:.0f}/s (median)")
        verdict = "met" if ratio >= 0.8 else "NOT met"
        print(f"    ratio ours / bare {ratio:.2f} (goal >= 0.8): {verdict}")
        if window is not None:
            breakdown.report(window, per=vnfs, unit="cast")
    finally:
        if intake is not None:
            await intake.close()
        for api in closing:
            await api.close()
        await run.cleanup()


def main(args: Any) -> int:
    import logging

    import structlog

    # The intake runs in this process: its logs would drown the figures.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(f"journal: {stats.machine()}")
    print(f"  {args.vnfs} casts, {args.rounds} round(s); load {stats.loadavg()}")
    asyncio.run(measure(vnfs=args.vnfs, rounds=args.rounds, within=args.timeout))
    return 0
