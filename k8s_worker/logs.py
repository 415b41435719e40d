"""Logging of the worker: structlog, one event per line, never a secret.

Production (stderr not a terminal, or ``[DEFAULT] use_json = true``) writes
JSON lines; a terminal gets readable, coloured lines.  oslo.log's option names
(``debug``, ``log_file``, ``log_dir``, ``use_json``, ``log_config_append``,
``default_log_levels``) are honoured: ``settings_from_conf`` maps them.  Third-party libraries
(aio-pika, kubernetes_asyncio, oslo) log through the standard library; their
records go through the same processors, so they are formatted and redacted
the same way.

Every line about a piece of work carries ``vnf_id``, ``op_id`` and
``request_id`` (and oslo.context's ``global_request_id`` when the caller sent
one): ``bind_request_context`` binds them (as contextvars) around each RPC
handler call, and remembers which request journaled an op_id, so the
reconciler's later lines about that operation get the same ids.

Redaction runs last before rendering: secret-looking keys are masked at any
depth (``k8s_worker.wire.redact``), and strings (messages, reprs,
tracebacks) are scrubbed of bearer tokens, JWTs, passwords in URLs and
``token=...``-style pairs.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import logging
import logging.config
import logging.handlers
import os
import re
import sys
import typing
from collections.abc import Awaitable, MutableMapping
from typing import Any, TextIO

import structlog
from oslo_config import cfg
from structlog.typing import EventDict, Processor, WrappedLogger

from k8s_worker.conf import set_by_user
from k8s_worker.wire.redact import MASK, redact

WORK_KEYS = ("vnf_id", "op_id", "request_id")

_KEYWORDS = (
    r"auth_?token|x-auth-token|token|password|passwd|secret|credential|private_?key|api_?key"
)
_SCRUBBERS: tuple[tuple[re.Pattern[str], str], ...] = (
    # "Authorization: Bearer abc", "bearer abc"
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), rf"\1{MASK}"),
    # JSON web tokens (service-account tokens), wherever they appear
    (re.compile(r"eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*"), MASK),
    # scheme://user:password@host
    (re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@", re.I), rf"\1{MASK}@"),
    # ...,user2:password2@host2 (the further hosts of a transport_url)
    (re.compile(r"(,[^:/@\s,]+:)[^@\s/,]+@"), rf"\1{MASK}@"),
    # 'auth_token': 'abc'  /  "password": "abc"  (reprs and JSON text)
    (
        re.compile(rf"(?i)(['\"][\w-]*(?:{_KEYWORDS})[\w-]*['\"]\s*:\s*)(['\"])(?:(?!\2).)*\2"),
        rf"\1\2{MASK}\2",
    ),
    # token=abc  /  password: abc  (unquoted)
    (
        re.compile(
            rf"(?i)\b([\w-]*(?:{_KEYWORDS})[\w-]*\s*[=:]\s*)(?!{re.escape(MASK)})[^\s,;'\"}}&)]+"
        ),
        rf"\1{MASK}",
    ),
)


def scrub(text: str) -> str:
    """``text`` with anything that looks like a credential masked."""
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    return text


def _scrub_deep(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrub_deep(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_deep(v) for v in value]
    if isinstance(value, BaseException):
        return scrub(repr(value))
    return value


def redact_processor(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Mask secret-looking keys at any depth and scrub credentials out of strings."""
    return _scrub_deep(redact(dict(event_dict)))


class _RequestIds:
    """op_id -> (request_id, global_request_id) of the request that journaled it
    (bounded, this process)."""

    def __init__(self, size: int = 4096) -> None:
        self._ids: collections.OrderedDict[str, tuple[str, str | None]] = collections.OrderedDict()
        self._size = size

    def remember(self, op_id: str, request_id: str, global_request_id: str | None = None) -> None:
        self._ids[op_id] = (request_id, global_request_id)
        self._ids.move_to_end(op_id)
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)

    def get(self, op_id: str) -> str | None:
        known = self._ids.get(op_id)
        return known[0] if known else None

    def get_global(self, op_id: str) -> str | None:
        known = self._ids.get(op_id)
        return known[1] if known else None


REQUEST_IDS = _RequestIds()


def work_fields(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """A line about a VNF or an operation names vnf_id, op_id and request_id."""
    if not any(event_dict.get(k) is not None for k in ("vnf_id", "op_id")):
        return event_dict
    op_id = event_dict.get("op_id")
    if event_dict.get("request_id") is None and isinstance(op_id, str):
        event_dict["request_id"] = REQUEST_IDS.get(op_id)
    if event_dict.get("global_request_id") is None and isinstance(op_id, str):
        global_id = REQUEST_IDS.get_global(op_id)
        if global_id is not None:
            event_dict["global_request_id"] = global_id
    for key in WORK_KEYS:
        event_dict.setdefault(key, None)
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        work_fields,
    ]


def use_json(fmt: str, stream: TextIO) -> bool:
    if fmt == "auto":
        return not (hasattr(stream, "isatty") and stream.isatty())
    return fmt == "json"


@dataclasses.dataclass(frozen=True)
class LogSettings:
    """Where and how the process logs: ``fmt`` auto/json/console, the lowest
    ``level``, a file ``path`` (else stderr), a logging ``config_append`` file that
    replaces handlers and formatters, and per-logger ``levels``."""

    fmt: str = "auto"
    level: str = "INFO"
    path: str | None = None
    config_append: str | None = None
    levels: tuple[tuple[str, str], ...] = ()


def parse_log_levels(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    """``["amqp=WARN", ...]`` as (logger, LEVEL); ValueError names a bad pair."""
    levels = []
    for pair in pairs:
        name, sep, level = pair.partition("=")
        level = {"WARN": "WARNING"}.get(level.strip().upper(), level.strip().upper())
        if not sep or not name.strip() or not isinstance(logging.getLevelName(level), int):
            raise ValueError(
                f"[DEFAULT] default_log_levels: {pair!r} is not logger=LEVEL "
                "(DEBUG, INFO, WARN, ERROR, CRITICAL)"
            )
        levels.append((name.strip(), level))
    return tuple(levels)


def settings_from_conf(conf: cfg.ConfigOpts, *, program: str) -> LogSettings:
    """The settings oslo.log's options ask for; they win over ``[service] log_*``.

    ``debug`` turns on DEBUG (else ``[service] log_level``); ``use_json``, when
    set either way, chooses JSON or console lines (else ``[service] log_format``);
    ``log_file`` (under ``log_dir`` when relative) or ``<log_dir>/<program>.log``
    replaces stderr.  Raises ValueError for a bad ``default_log_levels`` pair.
    """
    fmt = conf.service.log_format
    if set_by_user(conf, "use_json"):
        fmt = "json" if conf.use_json else "console"
    path = None
    if conf.log_file:
        path = os.path.join(conf.log_dir or "", conf.log_file)
    elif conf.log_dir:
        path = os.path.join(conf.log_dir, f"{program}.log")
    return LogSettings(
        fmt=fmt,
        level="DEBUG" if conf.debug else conf.service.log_level,
        path=path,
        config_append=conf.log_config_append or None,
        levels=parse_log_levels(conf.default_log_levels),
    )


def apply(settings: LogSettings, *, stream: TextIO | None = None) -> None:
    """``configure`` with ``settings`` (again on SIGHUP: a reload replaces the setup)."""
    configure(
        fmt=settings.fmt,
        level=settings.level,
        stream=stream,
        path=settings.path,
        config_append=settings.config_append,
        levels=settings.levels,
    )


class _ScrubFilter(logging.Filter):
    """Scrubs credentials out of records a logging config file's formatters render:
    the message, and a traceback or stack (rendered here, then scrubbed)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + record.stack_info
        record.msg = scrub(text)
        record.args = None
        record.exc_info = record.exc_text = record.stack_info = None
        return True


#: A logging config file configured the loggers (their handlers are its own).
_FROM_FILE = False


def _drop_file_handlers() -> None:
    """Undo a logging config file's handlers on named loggers (SIGHUP without it)."""
    global _FROM_FILE
    if not _FROM_FILE:
        return
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
                handler.close()
            logger.propagate = True
    _FROM_FILE = False


def configure(
    *,
    fmt: str = "auto",
    level: str = "INFO",
    stream: TextIO | None = None,
    path: str | None = None,
    config_append: str | None = None,
    levels: tuple[tuple[str, str], ...] = (),
) -> None:
    """Set up structlog and the standard library's root logger (replaces earlier setup).

    Lines go to ``stream`` (stderr), or to the file ``path``; with
    ``config_append`` the logging config file sets handlers and formatters, and
    each line reaches them rendered and redacted.
    """
    if config_append:
        _configure_from_file(config_append, fmt=fmt, level=level, levels=levels)
        return
    _drop_file_handlers()
    handler: logging.Handler
    out: TextIO
    if path:
        file_handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
        handler, out = file_handler, typing.cast(TextIO, file_handler.stream)
    else:
        out = stream if stream is not None else sys.stderr
        handler = logging.StreamHandler(out)
    numeric = logging.getLevelName(level.upper())
    renderer: Processor
    if use_json(fmt, out):
        renderer = structlog.processors.JSONRenderer(default=repr, sort_keys=False)
        tail: list[Processor] = [
            # Tracebacks as data, without each frame's local variables: those hold
            # VNF parameters and descriptors that key-based redaction cannot see.
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            redact_processor,
            renderer,
        ]
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=hasattr(out, "isatty") and out.isatty(),
            exception_formatter=structlog.dev.plain_traceback,
        )
        tail = [structlog.processors.format_exc_info, redact_processor, renderer]

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(), structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
    )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric)
    _set_levels(numeric, levels)
    _configure_structlog([structlog.stdlib.ProcessorFormatter.wrap_for_formatter])


def _set_levels(numeric: int, levels: tuple[tuple[str, str], ...]) -> None:
    for noisy in ("aiormq", "aio_pika", "kubernetes_asyncio", "asyncio"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    for name, level in levels:
        logging.getLogger(name).setLevel(level)
    # Failed connects are logged by k8s_worker.amqp (with the retry) and reported
    # by the start-up checks; aiormq's own ERROR line per attempt is noise.
    logging.getLogger("aiormq.connection").setLevel(logging.CRITICAL)


def _configure_structlog(tail: list[Processor]) -> None:
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.processors.StackInfoRenderer(),
            *tail,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )


def _configure_from_file(
    path: str, *, fmt: str, level: str, levels: tuple[tuple[str, str], ...]
) -> None:
    """oslo.log's log_config_append: the file's handlers, our rendering and redaction."""
    global _FROM_FILE
    logging.config.fileConfig(path, disable_existing_loggers=False)
    _FROM_FILE = True
    root = logging.getLogger()
    # Every handler the file made, also those only a named logger has.
    for ref in list(logging._handlerList):  # type: ignore[attr-defined]
        handler = ref()
        if handler is not None and not any(isinstance(f, _ScrubFilter) for f in handler.filters):
            handler.addFilter(_ScrubFilter())
    if level.upper() == "DEBUG":  # [DEFAULT] debug = true wins over the file's level
        root.setLevel(logging.DEBUG)
    _set_levels(root.level, levels)
    renderer: Processor = (
        structlog.processors.JSONRenderer(default=repr)
        if fmt == "json"
        else structlog.processors.KeyValueRenderer(key_order=["event"], drop_missing=True)
    )
    _configure_structlog([structlog.processors.format_exc_info, redact_processor, renderer])


# -- binding the work fields around RPC handler calls ---------------------------------


def _work_of(ctx: Any, kwargs: MutableMapping[str, Any]) -> dict[str, Any]:
    vnf = kwargs.get("vnf")
    vnf_id = kwargs.get("vnf_id") or (vnf.get("id") if isinstance(vnf, dict) else None)
    return {
        "vnf_id": str(vnf_id) if vnf_id is not None else None,
        "op_id": kwargs.get("op_id"),
        "request_id": getattr(ctx, "request_id", None),
        "global_request_id": getattr(ctx, "global_request_id", None),
    }


class _BoundHandler:
    """The handler with vnf_id/op_id/request_id bound around each method call."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith("_") or not callable(attr):
            return attr

        @functools.wraps(attr)
        async def call(ctx: Any, *args: Any, **kwargs: Any) -> Any:
            work = _work_of(ctx, kwargs)
            if work["op_id"] and work["request_id"]:
                REQUEST_IDS.remember(work["op_id"], work["request_id"], work["global_request_id"])
            # Bound without reset: the intake's own lines about this request,
            # logged after the handler returns in the same task, keep them.
            structlog.contextvars.bind_contextvars(rpc_method=name, **work)
            result = attr(ctx, *args, **kwargs)
            return await result if isinstance(result, Awaitable) else result

        return call


def bind_request_context(handler: Any) -> Any:
    """Wrap an intake handler so every line logged for a request names its work."""
    return _BoundHandler(handler)
