"""The dispatcher's checks give the same verdict every time (they are remembered)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from oslo_messaging.rpc.dispatcher import NoSuchMethod, UnsupportedVersion

from k8s_worker.intake.dispatcher import Dispatcher
from k8s_worker.intake.request import RpcRequest
from rpc.exceptions import InvalidArguments
from tests.doubles.intake import NoopHandler


class _OnlyHeal:
    async def heal_vnf(self, ctx: Any, **kwargs: Any) -> str:
        return f"healed {kwargs['vnf_id']}"


def _request(method: str, args: dict[str, Any], **extra: Any) -> RpcRequest:
    return RpcRequest.from_message({"method": method, "args": args, **extra})


@pytest.mark.parametrize("attempt", [1, 2])
def test_bad_version_namespace_and_method_are_refused_every_time(attempt: int) -> None:
    dispatcher = Dispatcher(_OnlyHeal())  # type: ignore[arg-type]
    heal = {"vnf_id": "v", "op_id": "o"}
    for _ in range(attempt):
        with pytest.raises(UnsupportedVersion):
            dispatcher.prepare(_request("heal_vnf", heal, version="1.9"))
        with pytest.raises(UnsupportedVersion):
            dispatcher.prepare(_request("heal_vnf", heal, namespace="other"))
        with pytest.raises(NoSuchMethod):
            dispatcher.prepare(_request("scale_vnf", heal))
        with pytest.raises(NoSuchMethod):
            dispatcher.prepare(_request("no_such_method", heal))


def test_arguments_are_validated_on_every_request_after_the_checks_passed() -> None:
    dispatcher = Dispatcher(_OnlyHeal())  # type: ignore[arg-type]
    good = dispatcher.prepare(_request("heal_vnf", {"vnf_id": "v1", "op_id": "o"}))
    assert good.vnf_id == "v1" and good.op_id == "o" and good.kwargs["vdus"] is None
    with pytest.raises(InvalidArguments):
        dispatcher.prepare(_request("heal_vnf", {"vnf_id": 3, "op_id": "o"}))
    other = dispatcher.prepare(_request("heal_vnf", {"vnf_id": "v2", "op_id": "p"}))
    assert other.vnf_id == "v2"
    assert asyncio.run(dispatcher.invoke(other)) == "healed v2"


def test_ping_and_the_vnf_key_of_instantiate() -> None:
    dispatcher = Dispatcher(NoopHandler())  # type: ignore[arg-type]
    ping = dispatcher.prepare(_request("oslo_rpc_server_ping", {}))
    assert ping.vnf_id is None and asyncio.run(dispatcher.invoke(ping)) == "pong"
    vnf = {"id": "v7", "name": "n", "tenant_id": "t", "vnfd": "x"}
    inst = dispatcher.prepare(_request("instantiate_vnf", {"vnf": vnf, "op_id": "o"}))
    assert inst.vnf_id == "v7"
