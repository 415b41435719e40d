"""The checked-in sample configuration stays in step with the options."""

from __future__ import annotations

import pathlib

from k8s_worker.conf import list_opts

SAMPLE = pathlib.Path(__file__).resolve().parents[2] / "etc" / "k8s-worker.conf.sample"


def test_the_sample_config_lists_every_option_with_its_default() -> None:
    sample = SAMPLE.read_text()
    for group, opts in list_opts():
        assert f"\n[{group}]\n" in sample, f"[{group}] missing: run tox -e genconfig"
        section = sample.split(f"\n[{group}]\n", 1)[1].split("\n[", 1)[0]
        for opt in opts:
            assert f"\n#{opt.dest} =" in section, f"[{group}] {opt.dest} missing: tox -e genconfig"
