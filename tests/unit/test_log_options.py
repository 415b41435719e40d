"""oslo.log's option names drive the worker's logging; oslo's notification
drivers and the ignored rabbit options behave as documented."""

from __future__ import annotations

import asyncio
import json
import logging
import pathlib

import pytest
import structlog
from oslo_config import cfg

from k8s_worker import conf as worker_conf
from k8s_worker import logs
from k8s_worker.amqp.options import unimplemented_rabbit_options
from k8s_worker.notify.notifier import Notifier, NotifierSettings

SECRET = "hunter2-in-a-url"


def load(tmp_path: pathlib.Path, text: str) -> cfg.ConfigOpts:
    path = tmp_path / "k8s-worker.conf"
    path.write_text(text)
    conf = cfg.ConfigOpts()
    worker_conf.register_opts(conf)
    conf(["--config-file", str(path)], project="tacker", prog="k8s-worker")
    return conf


@pytest.fixture(autouse=True)
def _reset_logging() -> None:
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.WARNING)


def test_defaults_are_info_and_the_service_format(tmp_path: pathlib.Path) -> None:
    settings = logs.settings_from_conf(load(tmp_path, ""), program="k8s-worker")
    assert (settings.level, settings.fmt, settings.path) == ("INFO", "auto", None)


def test_debug_alone_gives_debug_lines(tmp_path: pathlib.Path) -> None:
    conf = load(tmp_path, "[DEFAULT]\ndebug = true\nlog_file = w.log\n")
    conf.set_override("log_dir", str(tmp_path))
    settings = logs.settings_from_conf(conf, program="k8s-worker")
    assert settings.level == "DEBUG" and settings.path == str(tmp_path / "w.log")
    logs.apply(settings)
    structlog.get_logger("k8s_worker.test").debug("a.debug.line", url=f"rabbit://u:{SECRET}@h/")
    text = (tmp_path / "w.log").read_text()
    line = json.loads(text.splitlines()[-1])  # a file is not a terminal: JSON
    assert line["event"] == "a.debug.line" and line["level"] == "debug"
    assert SECRET not in text


def test_use_json_wins_over_the_deprecated_service_format(tmp_path: pathlib.Path) -> None:
    both = "[DEFAULT]\nuse_json = false\n[service]\nlog_format = json\n"
    assert logs.settings_from_conf(load(tmp_path, both), program="x").fmt == "console"
    assert (
        logs.settings_from_conf(load(tmp_path, "[DEFAULT]\nuse_json = true\n"), program="x").fmt
        == "json"
    )
    only_old = "[service]\nlog_format = json\n"
    assert logs.settings_from_conf(load(tmp_path, only_old), program="x").fmt == "json"


def test_log_dir_without_a_file_names_the_program(tmp_path: pathlib.Path) -> None:
    conf = load(tmp_path, f"[DEFAULT]\nlog_dir = {tmp_path}\n")
    assert logs.settings_from_conf(conf, program="k8s-worker").path == str(
        tmp_path / "k8s-worker.log"
    )


def test_default_log_levels_set_each_logger_and_a_bad_pair_is_named(
    tmp_path: pathlib.Path,
) -> None:
    conf = load(tmp_path, "[DEFAULT]\ndefault_log_levels = chatty.lib=ERROR,other=WARN\n")
    logs.apply(logs.settings_from_conf(conf, program="x"))
    assert logging.getLogger("chatty.lib").level == logging.ERROR
    assert logging.getLogger("other").level == logging.WARNING
    bad = load(tmp_path, "[DEFAULT]\ndefault_log_levels = chatty.lib:ERROR\n")
    with pytest.raises(ValueError, match=r"'chatty\.lib:ERROR' is not logger=LEVEL"):
        logs.settings_from_conf(bad, program="x")


def test_log_config_append_uses_its_handlers_and_still_scrubs(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "out.log"
    ini = tmp_path / "logging.ini"
    ini.write_text(
        "[loggers]\nkeys=root\n[handlers]\nkeys=file\n[formatters]\nkeys=plain\n"
        "[logger_root]\nlevel=INFO\nhandlers=file\n"
        f"[handler_file]\nclass=FileHandler\nformatter=plain\nargs=({str(out)!r},)\n"
        "[formatter_plain]\nformat=PLAIN %(name)s %(message)s\n"
    )
    conf = load(tmp_path, f"[DEFAULT]\nlog_config_append = {ini}\n")
    logs.apply(logs.settings_from_conf(conf, program="x"))
    structlog.get_logger("k8s_worker.test").info("from.structlog", password=SECRET)
    logging.getLogger("aio_pika").warning("connect to amqp://guest:%s@127.0.0.1/", SECRET)
    logging.getLogger("k8s_worker.test").debug("not.shown")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = out.read_text()
    assert "PLAIN k8s_worker.test" in text and "from.structlog" in text
    assert "PLAIN aio_pika connect to amqp://guest:***@127.0.0.1/" in text
    assert SECRET not in text and "not.shown" not in text


def test_log_config_append_scrubs_tracebacks_and_named_loggers_handlers(
    tmp_path: pathlib.Path,
) -> None:
    out = tmp_path / "named.log"
    ini = tmp_path / "logging.ini"
    ini.write_text(
        "[loggers]\nkeys=root,pika\n[handlers]\nkeys=null,file\n[formatters]\nkeys=plain\n"
        "[logger_root]\nlevel=INFO\nhandlers=null\n"
        "[logger_pika]\nlevel=INFO\nhandlers=file\nqualname=aio_pika\npropagate=0\n"
        "[handler_null]\nclass=NullHandler\nargs=()\n"
        f"[handler_file]\nclass=FileHandler\nformatter=plain\nargs=({str(out)!r},)\n"
        "[formatter_plain]\nformat=%(name)s %(message)s\n"
    )
    conf = load(tmp_path, f"[DEFAULT]\nlog_config_append = {ini}\n")
    logs.apply(logs.settings_from_conf(conf, program="x"))
    try:
        raise ConnectionError(f"connect to amqp://guest:{SECRET}@127.0.0.1/ failed")
    except ConnectionError:
        logging.getLogger("aio_pika").exception("Authorization: Bearer %s", SECRET)
    for handler in logging.getLogger("aio_pika").handlers:
        handler.flush()
    text = out.read_text()
    assert "ConnectionError" in text and "Bearer ***" in text  # the traceback is there
    assert SECRET not in text
    # back to the worker's own setup (a SIGHUP without the file): no handler of it left
    logs.apply(logs.LogSettings(fmt="json"))
    assert not logging.getLogger("aio_pika").handlers


def test_global_request_id_reaches_the_lines_of_its_operation() -> None:
    out = __import__("io").StringIO()
    logs.configure(fmt="json", level="INFO", stream=out)

    class Handler:
        async def scale_vnf(self, ctx: object, **kwargs: object) -> None:
            structlog.get_logger("k8s_worker.test").info("in.handler")

    ctx = type("Ctx", (), {"request_id": "req-1", "global_request_id": "req-global-9"})()
    asyncio.run(logs.bind_request_context(Handler()).scale_vnf(ctx, vnf_id="v", op_id="op-7"))
    structlog.contextvars.clear_contextvars()
    structlog.get_logger("k8s_worker.reconcile").info("later.line", op_id="op-7")
    first, later = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["global_request_id"] == "req-global-9"
    assert later["global_request_id"] == "req-global-9" and later["request_id"] == "req-1"


def conf_with(tmp_path: pathlib.Path, text: str) -> cfg.ConfigOpts:
    return load(tmp_path, "[DEFAULT]\ntransport_url = rabbit://u:p@127.0.0.1:5672/\n" + text)


def test_notifications_default_to_the_broker(tmp_path: pathlib.Path) -> None:
    settings = NotifierSettings.from_conf(conf_with(tmp_path, ""))
    assert settings.enabled and not settings.to_log


def test_noop_sends_nothing_and_log_writes_to_the_log(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    noop = NotifierSettings.from_conf(
        conf_with(tmp_path, "[oslo_messaging_notifications]\ndriver = noop\n")
    )
    assert not noop.enabled and not noop.to_log
    notifier = Notifier(
        NotifierSettings.from_conf(
            conf_with(tmp_path, "[oslo_messaging_notifications]\ndriver = log\n")
        )
    )
    caplog.set_level(logging.INFO)
    # nothing to connect to: the log driver alone never touches the broker
    asyncio.run(notifier.publish("vnf.scale.end", {"vnf_id": "v", "password": SECRET}))
    [record] = [r for r in caplog.records if r.name == "oslo.messaging.notification.vnf.scale.end"]
    message = json.loads(record.getMessage())
    assert message["event_type"] == "vnf.scale.end" and message["payload"]["vnf_id"] == "v"
    assert SECRET not in record.getMessage()


def test_an_unknown_notification_driver_is_refused(tmp_path: pathlib.Path) -> None:
    conf = conf_with(tmp_path, "[oslo_messaging_notifications]\ndriver = routing\n")
    with pytest.raises(ValueError, match="routing not available"):
        NotifierSettings.from_conf(conf)


def test_rabbit_options_the_worker_ignores_are_named(tmp_path: pathlib.Path) -> None:
    conf = conf_with(
        tmp_path,
        "[oslo_messaging_rabbit]\nrabbit_login_method = PLAIN\nheartbeat_timeout_threshold = 30\n"
        "kombu_reconnect_delay = 2.5\n",
    )
    assert unimplemented_rabbit_options(conf) == ["kombu_reconnect_delay", "rabbit_login_method"]
    assert unimplemented_rabbit_options(conf_with(tmp_path, "")) == []
