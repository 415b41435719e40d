"""The Alertmanager webhook receiver: ``POST /v1/alerts`` on a listener of its
own (``[alertmanager]``), so load alerts reach the policies with no conductor.

Every request needs ``Authorization: Bearer <token>``, the token read from
``token_file`` (re-read when the file changes, so it can be rotated): 401
otherwise, and nothing is done.  A body that is not webhook JSON is a 400
with the reason.  Each alert is journaled by ``sink`` into its VNF's record
as the ``alarm`` cast would (any replica may receive it; the record decides);
the answer (200) counts what was accepted and lists, per alert, what was not
(an unknown VNF is reported, never a 400).
"""

from __future__ import annotations

import hmac
import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from k8s_worker.alerts.webhook import AlertAlarm, WebhookError, parse

LOG = structlog.get_logger(__name__)
MAX_BODY = 1 << 20

#: Journals one alert's alarm: "accepted" or "duplicate"; LookupError (the
#: message says why) when its VNF is unknown.
AlarmSink = Callable[[AlertAlarm], Awaitable[str]]


@dataclass(frozen=True)
class ReceiverSettings:
    """``[alertmanager]`` options."""

    bind_host: str = "127.0.0.1"
    bind_port: int = 9094
    token_file: str = ""
    cert_file: str = ""
    key_file: str = ""


class _Token:
    """The bearer token, from its file, re-read when the file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self._value = b""

    def value(self) -> bytes:
        try:
            stat = os.stat(self.path)
        except OSError:
            return b""
        stamp = (stat.st_mtime, stat.st_size)
        if stamp != self._stamp:
            with open(self.path, "rb") as handle:
                self._value = handle.read().strip()
            self._stamp = stamp
        return self._value


class AlertReceiver:
    """The listener (``start``/``stop``); ``port`` is the bound port."""

    def __init__(self, settings: ReceiverSettings, sink: AlarmSink) -> None:
        self.settings = settings
        self.sink = sink
        self.token = _Token(settings.token_file)
        self.port = 0
        self._runner: web.AppRunner | None = None

    def _authorized(self, request: web.Request) -> bool:
        token = self.token.value()
        given = request.headers.get("Authorization", "")
        if not token or not given.startswith("Bearer "):
            return False
        return hmac.compare_digest(given[len("Bearer ") :].strip().encode(), token)

    async def _alerts(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            LOG.warning("alerts.unauthorized", peer=request.remote)
            return web.json_response({"error": "unauthorized"}, status=401)
        body = await request.read()
        try:
            alarms, skipped = parse(body)
        except WebhookError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        accepted = duplicates = 0
        refused: list[dict[str, Any]] = [{"alert": s.index, "reason": s.reason} for s in skipped]
        for index, alarm in enumerate(alarms):
            try:
                outcome = await self.sink(alarm)
            except LookupError as exc:
                refused.append({"vnf_id": alarm.vnf_id, "reason": str(exc)})
                continue
            if outcome == "duplicate":
                duplicates += 1
            else:
                accepted += 1
            LOG.info(
                "alerts.received",
                vnf_id=alarm.vnf_id,
                policy=alarm.policy,
                trigger=alarm.trigger,
                state=alarm.state,
                outcome=outcome,
                index=index,
            )
        return web.json_response(
            {"accepted": accepted, "duplicates": duplicates, "refused": refused}
        )

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/v1/alerts", self._alerts)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        context = None
        if self.settings.cert_file:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.settings.cert_file, self.settings.key_file or None)
        site = web.TCPSite(
            self._runner,
            self.settings.bind_host,
            self.settings.bind_port,
            ssl_context=context,
        )
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.settings.bind_port
        LOG.info("alerts.listening", host=self.settings.bind_host, port=self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
