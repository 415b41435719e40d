"""The notification samples of the documentation against what the code builds.

``doc/source/notifications/<event_type>.json`` holds one message per event type
(the message inside the oslo envelope, as a notification listener gets it).
Each is checked against a message the worker's own code builds and publishes,
through its own path: the operation state machine (``Reconciler`` over the
in-memory Kubernetes of tests/doubles, with scripted steps), respawn and drift
found by a reconcile pass, the policy engine's decision published from the
record's outbox, the VIM health reporter, the intake's refusals, all published
by a real ``Notifier`` whose broker write is replaced by a recorder.  Sample and
built message must have the same keys at every level, with values of the same
JSON types.  An operation's ``.end`` detail is also held to the ``Done({...})``
its step in ``k8s_worker/lifecycle/operations.py`` returns, and the samples to
the recorded golden stream (tests/golden/notifications.json) where it has the
event.  Every event type ``doc/source/contract.rst`` names has a sample, and
every sample is of an event type it names.
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from oslo_config import cfg

from k8s_worker.amqp.options import register_oslo_opts
from k8s_worker.intake.consumer import Consumer
from k8s_worker.intake.dispatcher import Dispatcher
from k8s_worker.intake.pool import OrderedPool
from k8s_worker.lifecycle.drift import Drift
from k8s_worker.lifecycle.operations import Outcome
from k8s_worker.lifecycle.outcome import Done, OperationFailed
from k8s_worker.notify.notifier import Notifier, NotifierSettings
from k8s_worker.policy.engine import PolicyEngine, add_alarm
from k8s_worker.reconcile.reconciler import Reconciler
from k8s_worker.reconcile.workqueue import WorkQueue
from k8s_worker.record import Operation, RecordStore, VnfRecord
from k8s_worker.tosca import LABEL_VDU
from k8s_worker.vims.health import VimHealthReporter
from k8s_worker.vims.model import VimHealth, VimRecord, VimRegistration
from k8s_worker.wire.envelope import encode
from tests.doubles.intake import InMemoryHandler
from tests.doubles.kube import MemoryKube
from tests.unit.policy.test_engine import Clock
from tests.unit.policy.test_engine import T as POLICY_TRANSLATION
from tests.unit.policy.test_engine import record as policy_record
from tests.unit.record.test_outbox import record

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "doc" / "source" / "notifications"
CONTRACT = ROOT / "doc" / "source" / "contract.rst"
GOLDEN = ROOT / "tests" / "golden" / "notifications.json"
OPERATIONS_PY = ROOT / "k8s_worker" / "lifecycle" / "operations.py"
NS = "r"  # the record namespace of tests.unit.record.test_outbox.record()
VNF_ID = "v-1"
OPS = ("instantiate", "terminate", "scale", "heal", "update")


# -- the publishing path, recorded ------------------------------------------------------
class RecordingNotifier(Notifier):
    """The real notifier (build, redact, envelope, priority checks) whose broker
    write keeps the message instead."""

    def __init__(self) -> None:
        conf = cfg.ConfigOpts()
        register_oslo_opts(conf)
        conf([], project="k8s_worker", default_config_files=[])
        super().__init__(NotifierSettings.from_conf(conf, publisher_id="k8s_worker.worker-1"))
        self.sent: list[dict[str, Any]] = []

    async def _publish_once(self, body: bytes, priority: str) -> None:
        envelope = json.loads(body)
        self.sent.append(json.loads(envelope["oslo.message"]))


class Pods:
    """A VNF's objects as the informers show them: the pods a test sets."""

    def __init__(self) -> None:
        self.pods: list[dict[str, Any]] = []

    def vnf_pods(self, vnf_id: str, namespace: str | None) -> list[dict[str, Any]]:
        return list(self.pods)

    def vnf_deployments(self, vnf_id: str, namespace: str | None) -> list[dict[str, Any]]:
        return []

    def vnf_workloads(self, vnf_id: str, namespace: str | None) -> list[dict[str, Any]]:
        return []


class ScriptedOperations:
    """Operations whose steps give (or raise) what a scenario scripts; its drift
    check finds what ``drifts`` holds, once."""

    def __init__(self, outcome: Outcome | OperationFailed | None = None) -> None:
        self.outcome = outcome
        self.vnf_objects = Pods()
        self.sites = None  # every VNF on the default VIM
        self.drifts: list[Drift] = []
        self.policy_set: Any = None

    def objects_of(self, rec: VnfRecord) -> Pods:
        return self.vnf_objects

    async def step(self, rec: VnfRecord, op: Operation) -> Outcome:
        rec.placed_namespace = "tacker-t"
        if isinstance(self.outcome, OperationFailed):
            raise self.outcome
        assert self.outcome is not None
        return self.outcome

    async def roll_back(self, rec: VnfRecord, op: Operation) -> Outcome:
        return Done({"restored": True})

    async def translation(self, rec: VnfRecord) -> Any:
        raise AssertionError("no scenario here changes a descriptor")

    async def policies(self, rec: VnfRecord) -> Any:
        if self.policy_set is None:
            raise OperationFailed("NoPolicies", "none in this scenario")
        return self.policy_set

    async def watch_objects(self, rec: VnfRecord) -> None:
        return None

    async def drift(
        self, rec: VnfRecord, *, repair: bool, full: bool, known: Any = frozenset()
    ) -> list[Drift]:
        return list(self.drifts)


async def _reconciler(
    rec: VnfRecord, ops: ScriptedOperations, *, policy: PolicyEngine | None = None
) -> tuple[Reconciler, RecordStore, RecordingNotifier]:
    store = RecordStore(MemoryKube(), namespace=NS)  # type: ignore[arg-type]
    await store.create(rec)
    notifier = RecordingNotifier()
    reconciler = Reconciler(
        store=store,
        operations=ops,  # type: ignore[arg-type]
        publisher=notifier,
        queue=WorkQueue(),
        host="worker-1",
        policy=policy,
    )
    return reconciler, store, notifier


def _op(op_id: str, operation: str, **args: Any) -> Operation:
    # Cast at contract 1.2 or later: its caller handles FAILED_TEMP.
    return Operation.new(op_id=op_id, operation=operation, args=args, parks=True)


async def run_operation(
    operation: str, args: dict[str, Any], outcome: Outcome | OperationFailed
) -> list[dict[str, Any]]:
    """One operation journaled, then reconciled until it ended (or parked)."""
    rec = record(VNF_ID)
    rec.add_operation(_op(f"{operation}-1", operation, **args))
    reconciler, _, notifier = await _reconciler(rec, ScriptedOperations(outcome))
    for _ in range(3):
        await reconciler.handle(VNF_ID)
    return notifier.sent


async def rolled_back_update() -> list[dict[str, Any]]:
    """An update that parks (FAILED_TEMP), then rollback_operation: ROLLED_BACK."""
    rec = record(VNF_ID)
    rec.add_operation(_op("update-1", "update"))
    failure = OperationFailed("Timeout", "update did not finish in 600s: web 1/2 ready")
    reconciler, store, notifier = await _reconciler(rec, ScriptedOperations(failure))
    await reconciler.handle(VNF_ID)
    stored = await store.get(VNF_ID)
    assert stored is not None
    parked = stored.find("update-1")
    assert parked is not None and parked.parked
    parked.request_action("rollback", op_id="rollback-1")
    stored.save_operation(parked)
    await store.write_status(stored)
    for _ in range(3):
        await reconciler.handle(VNF_ID)
    return notifier.sent


def _pod(name: str, uid: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "uid": uid,
            "labels": {LABEL_VDU: "VDU1"},
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "web", "restartCount": 0, "state": {"running": {}}}],
        },
    }


async def steady_state() -> list[dict[str, Any]]:
    """An ACTIVE VNF, no operation: a Service deleted by hand (drift), then a pod
    replaced (respawn), each found by a reconcile pass."""
    rec = record(VNF_ID)
    rec.placed_namespace = "tacker-t"
    rec.st["status"] = "ACTIVE"
    ops = ScriptedOperations()
    ops.vnf_objects.pods = [_pod("web-5d9c7-a", "u-a"), _pod("web-5d9c7-b", "u-b")]
    ops.drifts = [Drift("Service", "web", "re-created")]
    reconciler, _, notifier = await _reconciler(rec, ops)
    await reconciler.handle(VNF_ID)
    ops.vnf_objects.pods = [_pod("web-5d9c7-b", "u-b"), _pod("web-5d9c7-c", "u-c")]
    await reconciler.handle(VNF_ID)
    return notifier.sent


async def policy_decision() -> list[dict[str, Any]]:
    """An alarm the engine acts on: vnf.policy.triggered (decision act, op_id)."""
    rec = policy_record()
    add_alarm(rec, policy="SP1", trigger="cpu_high", state="firing", details={}, now=0)
    ops = ScriptedOperations(Done())
    ops.policy_set = POLICY_TRANSLATION.policies
    reconciler, _, notifier = await _reconciler(
        rec, ops, policy=PolicyEngine(clock=Clock(), host="worker-1")
    )
    await reconciler.handle(rec.vnf_id)
    return notifier.sent


class _VimStore:
    """The part of VimStore the reporter uses, over one record in memory."""

    def __init__(self, rec: VimRecord) -> None:
        self.rec = rec

    async def mutate(self, vim_id: str, change: Any, *, status: bool) -> VimRecord:
        change(self.rec)
        return self.rec


async def vim_health() -> list[dict[str, Any]]:
    registration = VimRegistration(
        vim_id="vim2", name="edge", tenant_id="t", auth_url="https://10.0.0.5:6443"
    )
    rec = VimRecord.new(namespace=NS, registration=registration, labels={})
    rec.set_health(VimHealth.REACHABLE, reason=None, now="2026-01-01 00:00:00")
    rec.published(rec.sequence)
    notifier = RecordingNotifier()
    reporter = VimHealthReporter(
        store=_VimStore(rec),  # type: ignore[arg-type]
        publisher=notifier,
        owns=lambda key: True,
    )
    await reporter.report("vim2", VimHealth.UNREACHABLE, "2 probes failed: connection refused")
    return notifier.sent


class _Channel:
    is_closed = False

    async def basic_ack(self, tag: int, wait: bool = True) -> None: ...

    async def basic_nack(self, tag: int, requeue: bool = True, wait: bool = True) -> None: ...

    async def basic_reject(self, tag: int, requeue: bool = False, wait: bool = True) -> None: ...


def _delivery(tag: int, message: dict[str, Any]) -> Any:
    props = SimpleNamespace(content_encoding="utf-8", headers={}, content_type="application/json")
    return SimpleNamespace(
        body=encode(message),
        header=SimpleNamespace(properties=props),
        delivery=SimpleNamespace(delivery_tag=tag, redelivered=False),
        channel=_Channel(),
    )


def _cast(method: str, args: dict[str, Any], *, version: str = "1.3") -> dict[str, Any]:
    return {
        "method": method,
        "args": args,
        "version": version,
        "_unique_id": f"u-{method}",
        "_context_project_id": "t",
        "_context_request_id": "req-1",
    }


async def refused_casts() -> list[dict[str, Any]]:
    """Casts the intake refuses: arguments the contract does not allow, a method
    it does not know."""
    notifier = RecordingNotifier()
    consumer = Consumer(
        dispatcher=Dispatcher(InMemoryHandler()),
        pool=OrderedPool(concurrency=2),
        replies=None,  # type: ignore[arg-type]
        notifier=notifier,
    )
    casts = [
        _cast("frobnicate_vnf", {"vnf_id": VNF_ID, "op_id": "x-1"}),
        _cast("retry_operation", {"vnf_id": VNF_ID, "op_id": "retry-1", "target_op_id": 7}),
        _cast("rollback_operation", {"vnf_id": VNF_ID, "op_id": "rb-1", "target_op_id": 7}),
        _cast("fail_operation", {"vnf_id": VNF_ID, "op_id": "fail-1", "target_op_id": 7}),
        _cast(
            "alarm",
            {"vnf_id": VNF_ID, "policy": "SP1", "trigger": "cpu_high", "state": "burning"},
        ),
    ]
    for tag, cast in enumerate(casts, 1):
        await consumer.on_message(_delivery(tag, cast))
    for _ in range(200):
        if len(notifier.sent) >= len(casts):
            break
        await asyncio.sleep(0.01)
    return notifier.sent


async def build_all() -> dict[str, dict[str, Any]]:
    """One built message per event type, from the scenarios above."""
    scenarios: list[Callable[[], Awaitable[list[dict[str, Any]]]]] = [
        lambda: run_operation(
            "instantiate", {}, Done({"namespace": "web", "vdus": {"VDU1": 2, "VDU2": 1}})
        ),
        lambda: run_operation("instantiate", {}, OperationFailed("PodsRejected", "quota exceeded")),
        lambda: run_operation("terminate", {"graceful_timeout": 30}, Done({"deleted": 4})),
        lambda: run_operation("terminate", {}, OperationFailed("KubernetesRejected", "403")),
        lambda: run_operation(
            "scale",
            {"policy": "SP1", "type": "out", "steps": 1},
            Done({"policy": "SP1", "type": "out", "replicas": {"VDU1": {"old": 2, "new": 3}}}),
        ),
        lambda: run_operation(
            "scale",
            {"policy": "SP1", "type": "out", "steps": 1},
            OperationFailed("ScaleBoundReached", "at max_instances 3", vnf_status=None),
        ),
        lambda: run_operation(
            "heal",
            {"vnfc_ids": ["web-5d9c7-a"], "cause": "c"},
            Done({"replaced_pods": ["web-5d9c7-a"], "cause": "c"}),
        ),
        lambda: run_operation(
            "heal",
            {"vnfc_ids": ["nope"]},
            OperationFailed("UnknownVnfc", "no pod nope", vnf_status=None),
        ),
        lambda: run_operation("update", {}, Done({"removed_objects": ["ConfigMap/web-old"]})),
        rolled_back_update,
        steady_state,
        policy_decision,
        vim_health,
        refused_casts,
    ]
    built: dict[str, dict[str, Any]] = {}
    for scenario in scenarios:
        for message in await scenario():
            event_type = message["event_type"]
            payload = message["payload"]
            if event_type == "vnf.status.update" and payload.get("old_status") is None:
                continue  # the sample shows a change from a status
            if event_type.endswith(".error") and "operation_state" in payload:
                # The final .error of an operation (the last one seen wins):
                # the update's sample is its ROLLED_BACK end.
                built[event_type] = message
                continue
            built.setdefault(event_type, message)
    return built


@pytest.fixture(scope="module")
def built() -> dict[str, dict[str, Any]]:
    return asyncio.run(build_all())


# -- what the samples and the contract say ------------------------------------------------
def samples() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(SAMPLES.glob("*.json"))}


def contract_event_types() -> set[str]:
    """Every event type contract.rst names: spelled out, or as
    ``vnf.<op>.start / .end / .error`` with the operations its row lists."""
    text = CONTRACT.read_text()
    names = set(re.findall(r"\b(?:vnf|vim)\.[a-z_]+(?:\.[a-z_]+)?\b", text))
    names -= {"vnf.vnfd"}  # not an event: a field path, should one ever be named
    if "vnf.<op>.start / .end / .error" in text:
        row = re.search(r"op in ((?:[a-z_]+, )*[a-z_]+)", text)
        assert row, "contract.rst names vnf.<op>.* without the operations it is for"
        ops = row.group(1).split(", ")
        assert tuple(ops) == OPS, ops
        names |= {f"vnf.{op}.{end}" for op in ops for end in ("start", "end", "error")}
    return names


def shape(value: Any) -> Any:
    """A JSON value's structure: mappings by key, lists by their first item."""
    if isinstance(value, Mapping):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def public(message: Mapping[str, Any]) -> dict[str, Any]:
    """The message without the transport's own fields (``_unique_id``, the
    caller's context as ``_context_*``), which the samples leave out."""
    return {k: v for k, v in message.items() if not k.startswith("_")}


def done_details() -> dict[str, list[set[str]]]:
    """Per operation, the keys of each ``Done({...})`` its step returns (from
    the ``_steps`` table of lifecycle/operations.py)."""
    tree = ast.parse(OPERATIONS_PY.read_text())
    methods = {
        node.name: node
        for node in ast.walk(tree)
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef)
    }
    steps: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict) and all(
            isinstance(k, ast.Attribute) and getattr(k.value, "id", "") == "OperationKind"
            for k in node.keys
        ):
            for key, value in zip(node.keys, node.values, strict=True):
                assert isinstance(key, ast.Attribute) and isinstance(value, ast.Attribute)
                steps[key.attr.lower()] = value.attr
    details: dict[str, list[set[str]]] = {}
    for operation, method in steps.items():
        found = []
        for node in ast.walk(methods[method]):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", "") == "Done"
                and node.args
                and isinstance(node.args[0], ast.Dict)
            ):
                keys = node.args[0].keys
                found.append({str(k.value) for k in keys if isinstance(k, ast.Constant)})
        details[operation] = found
    return details


# -- the checks ---------------------------------------------------------------------------
def test_every_event_type_of_the_contract_has_a_sample_and_no_other() -> None:
    named, have = contract_event_types(), set(samples())
    assert named - have == set(), "event types of contract.rst without a sample"
    assert have - named == set(), "samples of event types contract.rst does not name"


def test_each_sample_is_one_message_of_its_event_type() -> None:
    for event_type, sample in samples().items():
        assert sample["event_type"] == event_type
        assert sample["publisher_id"].startswith("k8s_worker.")


@pytest.mark.parametrize("event_type", sorted(p.stem for p in SAMPLES.glob("*.json")))
def test_a_sample_has_the_shape_of_the_message_the_code_builds(
    event_type: str, built: dict[str, dict[str, Any]]
) -> None:
    sample = samples()[event_type]
    assert event_type in built, f"no scenario here builds {event_type}"
    message = public(built[event_type])
    assert sample.keys() == message.keys()
    assert sample["priority"] == message["priority"]
    assert shape(sample["payload"]) == shape(message["payload"]), (
        f"{event_type}: the sample's payload differs from the one built: "
        f"{json.dumps(message['payload'], indent=1, sort_keys=True)}"
    )


@pytest.mark.parametrize("operation", OPS)
def test_an_end_samples_detail_is_what_its_step_returns(operation: str) -> None:
    end = samples()[f"vnf.{operation}.end"]["payload"]
    start = samples()[f"vnf.{operation}.start"]["payload"]
    added = set(end) - set(start)  # what the step's detail adds (it may repeat an argument)
    returned = done_details()[operation]
    assert returned, f"no Done({{...}}) found in the {operation} step"
    assert any(added <= keys <= set(end) for keys in returned), (
        f"vnf.{operation}.end adds {added}; the step returns one of {returned}"
    )


def test_the_samples_agree_with_the_recorded_golden_stream() -> None:
    golden: dict[str, dict[str, Any]] = {}
    for message in json.loads(GOLDEN.read_text()):
        golden.setdefault(message["event_type"], message)
    have = samples()
    compared = [t for t in golden if t in have]
    assert compared, "the golden stream shares no event type with the samples"
    for event_type in compared:
        sample, recorded = have[event_type], golden[event_type]
        assert sample.keys() == recorded.keys(), event_type
        assert sample["payload"].keys() == recorded["payload"].keys(), event_type
