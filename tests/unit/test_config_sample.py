"""The checked-in sample configuration stays in step with the options."""

from __future__ import annotations

import pathlib

from k8s_worker.conf import list_opts

SAMPLE = pathlib.Path(__file__).resolve().parents[2] / "etc" / "k8s-worker.conf.sample"


def test_the_sample_config_lists_every_option_with_its_default() -> None:
    sample = "\n" + SAMPLE.read_text()
    for group, opts in list_opts():
        assert f"\n[{group}]\n" in sample, f"[{group}] missing: run tox -e genconfig"
        section = sample.split(f"\n[{group}]\n", 1)[1].split("\n[", 1)[0]
        for opt in opts:
            assert f"\n#{opt.dest} =" in section, f"[{group}] {opt.dest} missing: tox -e genconfig"


def test_the_sample_marks_what_the_worker_does_differently_from_oslo() -> None:
    sample = SAMPLE.read_text()
    notifications = sample.split("\n[oslo_messaging_notifications]\n", 1)[1].split("\n[", 1)[0]
    assert "\n#driver = messagingv2\n" in notifications
    rabbit = sample.split("\n[oslo_messaging_rabbit]\n", 1)[1].split("\n[", 1)[0]
    # one the worker ignores, one it implements
    ignored = rabbit.split("\n#rabbit_login_method =", 1)[0].rsplit("\n\n", 1)[1]
    assert "Not implemented by tacker-k8s-worker" in ignored
    used = rabbit.split("\n#heartbeat_timeout_threshold =", 1)[0].rsplit("\n\n", 1)[1]
    assert "Not implemented" not in used
