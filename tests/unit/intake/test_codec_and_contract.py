"""Envelope codec, request parsing, contract validation and redaction."""

from __future__ import annotations

import json

import pytest

from k8s_worker.intake.request import MalformedRequest, RpcRequest
from k8s_worker.wire.context import RequestContext
from k8s_worker.wire.envelope import EnvelopeError, decode, encode
from rpc import contract
from rpc.exceptions import InvalidArguments


def test_envelope_round_trip_and_bare_1_0_form() -> None:
    msg = {"method": "get_vnf", "args": {"vnf_id": "v"}}
    assert decode(encode(msg)) == msg
    assert decode(json.dumps(msg).encode()) == msg


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not an object"),
        (b'{"oslo.version": "3.0", "oslo.message": "{}"}', "unsupported envelope version"),
        (b'{"oslo.version": "2.0", "oslo.message": "[1]"}', "not a JSON object"),
        (b"\xff\xfe", "not text"),
    ],
)
def test_undecodable_bodies_say_why(body: bytes, why: str) -> None:
    with pytest.raises(EnvelopeError, match=why):
        decode(body)


def test_request_takes_the_context_and_reply_address() -> None:
    req = RpcRequest.from_message(
        {
            "method": "get_vnf",
            "args": {"vnf_id": "v"},
            "_msg_id": "m",
            "_reply_q": "reply_x",
            "_timeout": 4,
            "_unique_id": "u",
            "_context_project_id": "p",
            "_context_auth_token": "s3cr3t",
        }
    )
    assert req.is_call and req.version == "1.0" and req.ctx.project_id == "p"
    assert "s3cr3t" not in repr(req.ctx) and req.ctx.auth_token == "s3cr3t"
    with pytest.raises(MalformedRequest):
        RpcRequest.from_message({"args": {}})


def test_a_long_vnfd_is_left_to_the_workers_limit() -> None:
    vnf = {"id": "v", "name": "n", "tenant_id": "t", "vnfd": "x" * 100_000}
    contract.METHODS["instantiate_vnf"].validate({"vnf": vnf, "op_id": "o"})


@pytest.mark.parametrize(
    ("method", "args", "message"),
    [
        ("get_vnf", {}, "get_vnf: vnf_id: is required"),
        ("get_vnf", {"vnf_id": 1}, "get_vnf: vnf_id: must be a string, got int"),
        (
            "scale_vnf",
            {"vnf_id": "v", "op_id": "o", "policy": "p", "type": "up"},
            "scale_vnf: type: must be one of 'out', 'in'",
        ),
        (
            "scale_vnf",
            {"vnf_id": "v", "op_id": "o", "policy": "p", "type": "in", "steps": 0},
            "scale_vnf: steps: must be in [1, 1000]",
        ),
        (
            "scale_vnf",
            {"vnf_id": "v", "op_id": "o", "policy": "p", "type": "in", "steps": 10**30},
            "scale_vnf: steps: must be in [1, 1000]",
        ),
        (
            "terminate_vnf",
            {"vnf_id": "v", "op_id": "o" * 256},
            "terminate_vnf: op_id: must be at most 255 characters, got 256",
        ),
        (
            "alarm",
            {
                "vnf_id": "v",
                "policy": "p",
                "trigger": "t",
                "state": "firing",
                "details": {"x": "y" * 9000},
            },
            "alarm: details: must be at most 8192 bytes of JSON",
        ),
        (
            "heal_vnf",
            {"vnf_id": "v", "op_id": "o", "vdus": ["a"] * 101},
            "heal_vnf: vdus: must have at most 100 items, got 101",
        ),
        (
            "heal_vnf",
            {"vnf_id": "v", "op_id": "o", "cause": "c" * 1025},
            "heal_vnf: cause: must be at most 1024 characters",
        ),
        (
            "instantiate_vnf",
            {"vnf": {"id": "v", "name": "n", "tenant_id": "t"}, "op_id": "o"},
            "instantiate_vnf: vnf.vnfd: is required",
        ),
        (
            "instantiate_vnf",
            {
                "vnf": {
                    "id": "v",
                    "name": "n",
                    "tenant_id": "t",
                    "vnfd": "x",
                    "namespace": "Bad_NS",
                },
                "op_id": "o",
            },
            "instantiate_vnf: vnf.namespace: must be a DNS-1123 label",
        ),
        (
            "heal_vnf",
            {"vnf_id": "v", "op_id": "o", "vdus": ["a", 2]},
            "heal_vnf: vdus: item 1 must be a non-empty string",
        ),
        ("list_vnfs", {"colour": "red"}, "list_vnfs: colour: unexpected argument"),
    ],
)
def test_each_bad_field_gets_a_precise_message(method: str, args: dict, message: str) -> None:
    with pytest.raises(InvalidArguments) as info:
        contract.METHODS[method].validate(args)
    assert str(info.value).startswith(message)


def test_validation_fills_defaults_and_finds_the_vnf() -> None:
    spec = contract.METHODS["scale_vnf"]
    args = spec.validate({"vnf_id": "v", "op_id": "o", "policy": "p", "type": "out"})
    assert args["steps"] == 1 and spec.vnf_id(args) == "v"
    inst = contract.METHODS["instantiate_vnf"]
    assert inst.vnf_id({"vnf": {"id": "v9"}}) == "v9"


def test_versions_follow_oslo_rules() -> None:
    assert contract.version_is_compatible("1.3", "1.0")
    assert not contract.version_is_compatible("1.0", "1.1")
    assert not contract.version_is_compatible("1.0", "2.0")
    assert not contract.version_is_compatible("1.0", "one")


def test_context_redacts_secrets_at_any_depth() -> None:
    ctx = RequestContext({"auth_token": "t", "nested": {"password": "p", "ok": 1}})
    assert ctx.redacted() == {"auth_token": "***", "nested": {"password": "***", "ok": 1}}
