"""The command line: configuration precedence, output mode and usage errors."""

from __future__ import annotations

import io
import pathlib
from collections.abc import Iterator

import pytest
import structlog

from k8s_worker.tail.cli import build_conf, build_parser, use_color, use_json


@pytest.fixture(autouse=True)
def _keep_logging_config() -> Iterator[None]:
    """main() configures structlog for the process; tests must not leak that."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_broker_exchange_and_topics_come_from_the_config_file(tmp_path: pathlib.Path) -> None:
    conf_file = tmp_path / "k8s-worker.conf"
    conf_file.write_text(
        "[DEFAULT]\n"
        "transport_url = rabbit://u:p@broker:5672/\n"
        "control_exchange = nfv\n"
        "[oslo_messaging_notifications]\n"
        "topics = notifications,audit\n"
    )
    args = build_parser().parse_args(["--config-file", str(conf_file)])
    conf = build_conf(args)
    assert conf.transport_url == "rabbit://u:p@broker:5672/"
    assert conf.control_exchange == "nfv"
    assert conf.oslo_messaging_notifications.topics == ["notifications", "audit"]


def test_flags_override_the_config_file(tmp_path: pathlib.Path) -> None:
    conf_file = tmp_path / "k8s-worker.conf"
    conf_file.write_text(
        "[DEFAULT]\ncontrol_exchange = nfv\n"
        "[oslo_messaging_notifications]\ntransport_url = rabbit://n:n@notify:5672/\n"
    )
    args = build_parser().parse_args(
        [
            "--config-file",
            str(conf_file),
            "--transport-url",
            "rabbit://o:o@other:5672/",
            "--exchange",
            "tkw",
            "--topic",
            "mine",
        ]
    )
    conf = build_conf(args)
    assert conf.transport_url == "rabbit://o:o@other:5672/"
    assert conf.oslo_messaging_notifications.transport_url is None
    assert conf.control_exchange == "tkw"
    assert conf.oslo_messaging_notifications.topics == ["mine"]


def test_defaults_are_tackers() -> None:
    conf = build_conf(build_parser().parse_args([]))
    assert conf.control_exchange == "tacker"  # Tacker's set_transport_defaults, not oslo's
    # oslo.messaging's own
    assert conf.oslo_messaging_notifications.topics == ["notifications"]


def test_json_when_piped_terminal_lines_on_a_tty() -> None:
    parser = build_parser()
    assert use_json(parser.parse_args([]), io.StringIO()) is True
    assert use_json(parser.parse_args([]), _Tty()) is False
    assert use_json(parser.parse_args(["--json"]), _Tty()) is True
    assert use_json(parser.parse_args(["--no-json"]), io.StringIO()) is False


def test_colour_follows_the_terminal_and_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = build_parser()
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(parser.parse_args([]), _Tty()) is True
    assert use_color(parser.parse_args([]), io.StringIO()) is False
    assert use_color(parser.parse_args(["--color", "always"]), io.StringIO()) is True
    assert use_color(parser.parse_args(["--color", "never"]), _Tty()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(parser.parse_args([]), _Tty()) is False


@pytest.mark.parametrize(
    "argv",
    [["--count", "0"], ["--timeout", "-1"], ["--priority", "loud"], ["--color", "pink"]],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from k8s_worker.tail.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "k8s-worker-tail: error:" in capsys.readouterr().err


def test_a_missing_config_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from k8s_worker.tail.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--config-file", "/nonexistent/k8s-worker.conf"])
    assert exc.value.code == 2
    assert "nonexistent" in capsys.readouterr().err
