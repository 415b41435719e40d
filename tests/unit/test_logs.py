"""Log lines: JSON in production, the work fields on every line of work, no secrets."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
import structlog

from k8s_worker import logs
from k8s_worker.wire.context import RequestContext

TOKEN = "gAAAAABsecret-keystone-token"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlLXNpZ25lZA"


@pytest.fixture
def stream() -> io.StringIO:
    out = io.StringIO()
    logs.configure(fmt="json", level="DEBUG", stream=out)
    yield out
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_secrets_never_reach_a_log_line(stream: io.StringIO) -> None:
    log = structlog.get_logger("test")
    ctx = RequestContext({"auth_token": TOKEN, "request_id": "req-1", "project_id": "p"})
    log.info("with.context", ctx=ctx.values, vnf={"params": {"db_password": "hunter2"}})
    log.warning(
        "with.repr",
        error=repr({"auth_token": TOKEN}),
        url="rabbit://tacker:pw1@mq:5672,tacker:pw3@mq2:5672/",
    )
    try:
        raise RuntimeError(f"API said no to Authorization: Bearer {JWT}")
    except RuntimeError:
        log.exception("with.traceback")
    logging.getLogger("aio_pika").warning("connect to amqp://guest:pw2@127.0.0.1/ failed")
    logging.getLogger("kubernetes_asyncio").error("token=%s rejected", TOKEN)

    text = stream.getvalue()
    for secret in (TOKEN, JWT, "hunter2", "pw1", "pw2", "pw3"):
        assert secret not in text
    got = lines(stream)
    assert [g["event"] for g in got][:3] == ["with.context", "with.repr", "with.traceback"]
    assert got[0]["ctx"]["auth_token"] == "***" and got[0]["ctx"]["request_id"] == "req-1"
    assert got[0]["vnf"]["params"]["db_password"] == "***"
    assert got[1]["url"] == "rabbit://tacker:***@mq:5672,tacker:***@mq2:5672/"
    assert "Bearer ***" in json.dumps(got[2]["exception"])
    assert got[3]["logger"] == "aio_pika" and "amqp://guest:***@127.0.0.1/" in got[3]["event"]
    assert got[4]["level"] == "error" and "token=***" in got[4]["event"]


def test_console_format_is_readable_text() -> None:
    out = io.StringIO()
    logs.configure(fmt="console", stream=out)
    structlog.get_logger("test").info("worker.started", host="w1", password="x")
    text = out.getvalue()
    assert "worker.started" in text and "host" in text and "w1" in text
    assert not text.lstrip().startswith("{")
    assert "password=***" in text or "'***'" in text


def test_auto_format_is_json_when_not_a_terminal() -> None:
    assert logs.use_json("auto", io.StringIO())
    assert not logs.use_json("console", io.StringIO())


class Handler:
    async def scale_vnf(self, ctx: RequestContext, *, vnf_id: str, op_id: str, **_: Any) -> str:
        structlog.get_logger("handler").info("intake.journaled", operation="scale")
        return "done"


async def test_every_line_of_work_names_vnf_op_and_request(stream: io.StringIO) -> None:
    handler = logs.bind_request_context(Handler())
    ctx = RequestContext({"request_id": "req-42", "auth_token": TOKEN})
    assert await handler.scale_vnf(ctx, vnf_id="v1", op_id="op-7", policy="SP1") == "done"
    structlog.contextvars.clear_contextvars()
    # Later, the reconciler logs about the same operation without the request at hand.
    structlog.get_logger("reconciler").bind(vnf_id="v1", op_id="op-7").info("operation.started")
    structlog.get_logger("reconciler").info("vnf.observed", vnf_id="v2")
    structlog.get_logger("intake").info("intake.consuming", topic="t")

    journaled, started, observed, idle = lines(stream)
    assert (journaled["vnf_id"], journaled["op_id"], journaled["request_id"]) == (
        "v1",
        "op-7",
        "req-42",
    )
    assert journaled["rpc_method"] == "scale_vnf"
    assert (started["op_id"], started["request_id"]) == ("op-7", "req-42")
    assert observed["vnf_id"] == "v2" and observed["op_id"] is None
    assert "request_id" in observed
    assert "vnf_id" not in idle


def test_a_traceback_shows_no_local_variables(stream: io.StringIO) -> None:
    log = structlog.get_logger("test")

    def fail(params: dict[str, str]) -> None:
        site_specific = params["site_key"]  # noqa: F841 - a local the traceback must not show
        raise ValueError("boom")

    try:
        fail({"site_key": "value-no-key-name-gives-away"})
    except ValueError:
        log.exception("op.failed")
    (record,) = lines(stream)
    frames = record["exception"][0]["frames"]
    assert frames and record["exception"][0]["exc_value"] == "boom"
    assert "value-no-key-name-gives-away" not in stream.getvalue()
