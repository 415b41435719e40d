"""Test doubles of the handler seam (the broker and the oslo peer stay real).

``InMemoryHandler`` records every call and de-duplicates operations by op_id;
``JournalHandler`` also keeps that record in a file shared by worker
processes, standing in for the VNF record in Kubernetes, so tests can check
that a cast is completed exactly once across replicas.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

from k8s_worker.wire.context import RequestContext
from rpc import contract
from rpc.exceptions import BadRequest, VnfNotFound
from tests.doubles.process import ReadyProcess

#: A VNF whose name is this makes instantiate_vnf raise an unexpected error.
EXPLODE = "explode"
#: get_vnf("slow-<seconds>") answers after that many seconds.
SLOW = "slow-"
#: Every cast for a VNF whose id starts so fails with an unexpected error.
FAILING = "failing-"
#: The first delivery of an instantiate of a VNF whose id starts so fails.
FLAKY = "flaky-"


@dataclass
class Call:
    method: str
    kwargs: dict[str, Any]
    ctx: RequestContext


@dataclass
class InMemoryHandler:
    host: str = "test"
    delay: float = 0.0
    calls: list[Call] = field(default_factory=list)
    vnfs: dict[str, dict[str, Any]] = field(default_factory=dict)
    done_ops: set[str] = field(default_factory=set)
    failed_ops: set[str] = field(default_factory=set)

    async def _op(self, method: str, ctx: RequestContext, kwargs: dict[str, Any]) -> bool:
        """Record the call; True when op_id is new and the operation should run."""
        self.calls.append(Call(method, kwargs, ctx))
        vnf = kwargs.get("vnf")
        vnf_id = str(kwargs.get("vnf_id") or (vnf.get("id") if isinstance(vnf, dict) else ""))
        op_id = str(kwargs.get("op_id"))
        if vnf_id.startswith(FAILING) or (
            vnf_id.startswith(FLAKY)
            and method == "instantiate_vnf"
            and op_id not in self.failed_ops
        ):
            self.failed_ops.add(op_id)
            await self._failed(method, kwargs)
            raise RuntimeError(f"{method} for {vnf_id} failed on purpose")
        op_id = kwargs.get("op_id")
        if op_id is not None and await self._seen(op_id):
            return False
        await self._started(method, kwargs)
        if self.delay:
            await asyncio.sleep(self.delay)
        return True

    async def _seen(self, op_id: str) -> bool:
        return op_id in self.done_ops

    async def _started(self, method: str, kwargs: dict[str, Any]) -> None:
        return None

    async def _failed(self, method: str, kwargs: dict[str, Any]) -> None:
        return None

    async def _done(self, method: str, kwargs: dict[str, Any]) -> None:
        if kwargs.get("op_id") is not None:
            self.done_ops.add(kwargs["op_id"])

    async def instantiate_vnf(
        self,
        ctx: RequestContext,
        *,
        vnf: dict[str, Any],
        op_id: str,
        vim_id: str | None = None,
        vim_connection_info: dict[str, Any] | None = None,
        package: str | dict[str, Any] | None = None,
        flavour_id: str | None = None,
        instantiation_level_id: str | None = None,
        additional_params: dict[str, Any] | None = None,
    ) -> None:
        if vnf.get("name") == EXPLODE:
            raise RuntimeError("instantiate exploded on purpose")
        if await self._op("instantiate_vnf", ctx, {"vnf": vnf, "op_id": op_id}):
            self.vnfs[vnf["id"]] = {
                "id": vnf["id"],
                "tenant_id": vnf["tenant_id"],
                "status": "ACTIVE",
                "last_op": op_id,
            }
            await self._done("instantiate_vnf", {"vnf": vnf, "op_id": op_id})

    async def _vnf_op(self, method: str, ctx: RequestContext, **kwargs: Any) -> None:
        if await self._op(method, ctx, kwargs):
            if kwargs["vnf_id"] in self.vnfs:
                self.vnfs[kwargs["vnf_id"]]["last_op"] = kwargs.get("op_id")
            await self._done(method, kwargs)

    async def terminate_vnf(
        self, ctx: RequestContext, *, vnf_id: str, op_id: str, graceful_timeout: int | None
    ) -> None:
        await self._vnf_op(
            "terminate_vnf", ctx, vnf_id=vnf_id, op_id=op_id, graceful_timeout=graceful_timeout
        )

    async def retry_operation(
        self, ctx: RequestContext, *, vnf_id: str, op_id: str, target_op_id: str
    ) -> None:
        await self._vnf_op(
            "retry_operation", ctx, vnf_id=vnf_id, op_id=op_id, target_op_id=target_op_id
        )

    async def rollback_operation(
        self, ctx: RequestContext, *, vnf_id: str, op_id: str, target_op_id: str
    ) -> None:
        await self._vnf_op(
            "rollback_operation", ctx, vnf_id=vnf_id, op_id=op_id, target_op_id=target_op_id
        )

    async def fail_operation(
        self, ctx: RequestContext, *, vnf_id: str, op_id: str, target_op_id: str
    ) -> None:
        await self._vnf_op(
            "fail_operation", ctx, vnf_id=vnf_id, op_id=op_id, target_op_id=target_op_id
        )

    async def scale_vnf(
        self, ctx: RequestContext, *, vnf_id: str, op_id: str, policy: str, type: str, steps: int
    ) -> None:
        await self._vnf_op(
            "scale_vnf", ctx, vnf_id=vnf_id, op_id=op_id, policy=policy, type=type, steps=steps
        )

    async def heal_vnf(
        self,
        ctx: RequestContext,
        *,
        vnf_id: str,
        op_id: str,
        vdus: list[str] | None,
        cause: str | None,
        vnfc_ids: list[str] | None = None,
        all: bool | None = None,
    ) -> None:
        await self._vnf_op("heal_vnf", ctx, vnf_id=vnf_id, op_id=op_id, vdus=vdus, cause=cause)

    async def update_vnf(
        self,
        ctx: RequestContext,
        *,
        vnf_id: str,
        op_id: str,
        vnfd: str | dict[str, Any] | None,
        config: dict[str, Any] | None,
        package: str | dict[str, Any] | None = None,
        flavour_id: str | None = None,
        instantiation_level_id: str | None = None,
        additional_params: dict[str, Any] | None = None,
    ) -> None:
        await self._vnf_op("update_vnf", ctx, vnf_id=vnf_id, op_id=op_id, vnfd=vnfd, config=config)

    async def alarm(
        self,
        ctx: RequestContext,
        *,
        vnf_id: str,
        policy: str,
        trigger: str,
        state: str,
        details: dict[str, Any] | None,
    ) -> None:
        await self._vnf_op(
            "alarm",
            ctx,
            vnf_id=vnf_id,
            policy=policy,
            trigger=trigger,
            state=state,
            details=details,
        )

    async def get_vnf(self, ctx: RequestContext, *, vnf_id: str) -> dict[str, Any]:
        self.calls.append(Call("get_vnf", {"vnf_id": vnf_id}, ctx))
        if vnf_id.startswith(SLOW):
            await asyncio.sleep(float(vnf_id[len(SLOW) :]))
            return {"id": vnf_id, "served_by": self.host}
        if vnf_id not in self.vnfs:
            raise VnfNotFound(f"no VNF {vnf_id}", vnf_id=vnf_id)
        return {**self.vnfs[vnf_id], "served_by": self.host}

    async def list_vnfs(
        self, ctx: RequestContext, *, tenant_id: str | None
    ) -> list[dict[str, Any]]:
        self.calls.append(Call("list_vnfs", {"tenant_id": tenant_id}, ctx))
        return [v for v in self.vnfs.values() if tenant_id in (None, v["tenant_id"])]

    async def register_vim(self, ctx: RequestContext, **args: Any) -> dict[str, Any]:
        raise BadRequest("this double serves no VIM registry")

    update_vim = register_vim

    async def deregister_vim(self, ctx: RequestContext, **args: Any) -> None:
        raise BadRequest("this double serves no VIM registry")

    async def get_vim(self, ctx: RequestContext, **args: Any) -> dict[str, Any]:
        raise BadRequest("this double serves no VIM registry")

    async def list_vims(self, ctx: RequestContext) -> list[dict[str, Any]]:
        return []


class NoopHandler:
    """Does nothing and counts: the handler of the intake benchmark."""

    def __init__(self) -> None:
        self.count = 0
        self.reached = asyncio.Event()
        self.target = 0
        self.first: float | None = None
        self.last: float | None = None

    async def _noop(self, ctx: RequestContext, **kwargs: Any) -> None:
        loop = asyncio.get_running_loop()
        self.count += 1
        if self.first is None:
            self.first = loop.time()
        if self.count >= self.target:
            self.last = loop.time()
            self.reached.set()

    async def get_vnf(self, ctx: RequestContext, *, vnf_id: str) -> dict[str, Any]:
        return {"id": vnf_id}

    async def list_vnfs(
        self, ctx: RequestContext, *, tenant_id: str | None
    ) -> list[dict[str, Any]]:
        return []

    async def register_vim(self, ctx: RequestContext, **args: Any) -> dict[str, Any]:
        return {}

    update_vim = register_vim

    async def deregister_vim(self, ctx: RequestContext, **args: Any) -> None:
        return None

    async def get_vim(self, ctx: RequestContext, **args: Any) -> dict[str, Any]:
        return {}

    async def list_vims(self, ctx: RequestContext) -> list[dict[str, Any]]:
        return []


# Every cast of the contract, none written out again: a new one is served too.
for _name, _spec in contract.METHODS.items():
    if _spec.kind == "cast":
        setattr(NoopHandler, _name, NoopHandler._noop)


@dataclass
class JournalHandler(InMemoryHandler):
    """InMemoryHandler whose op journal is a JSON-lines file shared by processes."""

    journal: pathlib.Path = pathlib.Path("journal.jsonl")

    def _append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record) + "\n").encode()
        fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _read_done(self) -> set[str]:
        if not self.journal.exists():
            return set()
        return {r["op_id"] for r in read_journal(self.journal) if r["event"] == "done"}

    async def _seen(self, op_id: str) -> bool:
        return op_id in await asyncio.to_thread(self._read_done)

    async def _started(self, method: str, kwargs: dict[str, Any]) -> None:
        await asyncio.to_thread(
            self._append,
            {"event": "start", "method": method, "op_id": kwargs.get("op_id"), "host": self.host},
        )

    async def _failed(self, method: str, kwargs: dict[str, Any]) -> None:
        await asyncio.to_thread(
            self._append,
            {"event": "failed", "method": method, "op_id": kwargs.get("op_id"), "host": self.host},
        )

    async def _done(self, method: str, kwargs: dict[str, Any]) -> None:
        await super()._done(method, kwargs)
        await asyncio.to_thread(
            self._append,
            {"event": "done", "method": method, "op_id": kwargs.get("op_id"), "host": self.host},
        )


def read_journal(path: pathlib.Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class WorkerProcess(ReadyProcess):
    """A dev server (``tests.doubles.devserver``: the real intake over a test
    double) for ``host``; ``opts`` become its command-line flags."""

    def __init__(
        self, *, transport_url: str, host: str, topic: str, exchange: str, **opts: Any
    ) -> None:
        argv = [
            sys.executable,
            "-m",
            "tests.doubles.devserver",
            "--transport-url",
            transport_url,
            "--host",
            host,
            "--topic",
            topic,
            "--exchange",
            exchange,
        ]
        for key, value in opts.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                argv.append(flag)
            elif value not in (None, False):
                argv += [flag, str(value)]
        log = pathlib.Path(tempfile.mkstemp(prefix=f"tkw-{host}-", suffix=".log")[1])
        super().__init__(argv, log=log, name=f"worker {host}", append_log=False)
        self.host = host

    async def start(self, *, ready_within: float = 30.0) -> WorkerProcess:  # type: ignore[override]
        await super().start(within=ready_within)
        return self

    async def terminate(self, *, within: float = 30.0) -> int:
        """SIGTERM, wait; the exit status."""
        return await self.stop(within=within)


_CONF_PARSED = False


def oslo_rpc_client(transport_url: str, *, topic: str, exchange: str, timeout: float = 30) -> Any:
    """A K8sWorkerClient on an unmodified oslo.messaging RPCClient (global cfg.CONF)."""
    from oslo_config import cfg

    from rpc.client import K8sWorkerClient, get_transport

    global _CONF_PARSED
    if not _CONF_PARSED:
        cfg.CONF([], project="test", default_config_files=[])
        _CONF_PARSED = True
    transport = get_transport(cfg.CONF, url=transport_url)
    return K8sWorkerClient(transport, topic=topic, exchange=exchange, timeout=timeout)


async def wait_for(predicate: Any, *, within: float, what: str, every: float = 0.1) -> None:
    """Poll ``predicate`` (sync) until true; TimeoutError naming ``what`` otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        await asyncio.sleep(every)
