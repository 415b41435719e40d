"""Every decision rule, driven by a fake clock."""

from __future__ import annotations

import pytest

from k8s_worker.policy.decisions import (
    ACT,
    BACKOFF,
    BOUND,
    COOLDOWN,
    EXHAUSTED,
    LOGGED,
    REJECTED,
    TriggerState,
    decide_heal,
    decide_scale,
    evaluate_threshold,
    step_trigger,
)
from k8s_worker.tosca import HealPolicy, ScalingPolicy

SP = ScalingPolicy(
    name="SP1",
    targets=("VDU1",),
    min_instances=1,
    max_instances=3,
    default_instances=1,
    increment=1,
    cooldown_seconds=60,
)


def heal(action: str = "respawn", **params: str) -> HealPolicy:
    defaults = {"max_attempts": "3", "window": "600", "backoff": "10"}
    defaults.update(params)
    return HealPolicy(
        name="HP",
        targets=("VDU1",),
        action=action,
        trigger="failure",
        parameters=tuple(defaults.items()),
    )


class TestScale:
    def test_scales_out_one_step(self):
        d = decide_scale(
            SP, trigger="t", direction="out", replicas={"VDU1": 1}, last_scaled_at=None, now=1000
        )
        assert d.decision == ACT and d.operation == "scale"
        assert d.args == {"policy": "SP1", "type": "out", "steps": 1}

    def test_cooldown_blocks_a_second_scale_and_ends(self):
        d = decide_scale(
            SP, trigger="t", direction="out", replicas={"VDU1": 2}, last_scaled_at=1000, now=1059
        )
        assert d.decision == COOLDOWN and "1s left" in d.reason and d.retry_in == pytest.approx(1)
        d = decide_scale(
            SP, trigger="t", direction="out", replicas={"VDU1": 2}, last_scaled_at=1000, now=1060
        )
        assert d.decision == ACT

    @pytest.mark.parametrize(
        ("direction", "replicas", "bound"),
        [("out", 3, "max_instances 3"), ("in", 1, "min_instances 1")],
    )
    def test_bounds_are_never_crossed(self, direction, replicas, bound):
        d = decide_scale(
            SP,
            trigger="t",
            direction=direction,
            replicas={"VDU1": replicas},
            last_scaled_at=None,
            now=0,
        )
        assert d.decision == BOUND and bound in d.reason and d.operation is None

    def test_scales_in_above_min(self):
        d = decide_scale(
            SP, trigger="t", direction="in", replicas={"VDU1": 2}, last_scaled_at=None, now=0
        )
        assert d.decision == ACT and d.args["type"] == "in"


class TestHeal:
    def test_respawns_the_failed_pods(self):
        d = decide_heal(heal(), vdu="VDU1", condition="failure", pods=["p1"], attempts=[], now=0)
        assert d.decision == ACT and d.operation == "heal"
        assert d.args["pods"] == ["p1"] and d.args["vdus"] == ["VDU1"]

    def test_backoff_doubles_between_attempts(self):
        d = decide_heal(
            heal(), vdu="VDU1", condition="failure", pods=["p"], attempts=[100], now=105
        )
        assert d.decision == BACKOFF and d.retry_in == pytest.approx(5)
        d = decide_heal(
            heal(), vdu="VDU1", condition="failure", pods=["p"], attempts=[100, 110], now=125
        )
        assert d.decision == BACKOFF and d.retry_in == pytest.approx(5)  # 20 s after 110
        d = decide_heal(
            heal(), vdu="VDU1", condition="failure", pods=["p"], attempts=[100, 110], now=130
        )
        assert d.decision == ACT

    def test_gives_up_after_max_attempts_in_the_window(self):
        d = decide_heal(
            heal(), vdu="VDU1", condition="failure", pods=["p"], attempts=[0, 20, 60], now=200
        )
        assert d.decision == EXHAUSTED and "3 heal attempts" in d.reason

    def test_old_attempts_leave_the_window(self):
        d = decide_heal(
            heal(), vdu="VDU1", condition="failure", pods=["p"], attempts=[0, 20, 60], now=700
        )
        assert d.decision == ACT

    def test_log_only_never_acts(self):
        d = decide_heal(
            heal("log"), vdu="VDU1", condition="failure", pods=["p"], attempts=[], now=0
        )
        assert d.decision == LOGGED and d.operation is None

    def test_restart_and_recreate_actions(self):
        d = decide_heal(
            heal("restart_vdu"), vdu="VDU1", condition="not_ready", pods=["p"], attempts=[], now=0
        )
        assert d.args["restart"] is True
        d = decide_heal(
            heal("recreate"), vdu="VDU1", condition="failure", pods=["p"], attempts=[], now=0
        )
        assert d.args["recreate"] is True

    def test_scale_out_heal_respects_the_scaling_policy(self):
        d = decide_heal(
            heal("scale_out"),
            vdu="VDU1",
            condition="not_ready",
            pods=["p"],
            attempts=[],
            now=0,
            scaling=SP,
            replicas={"VDU1": 3},
        )
        assert d.decision == BOUND
        d = decide_heal(
            heal("scale_out"),
            vdu="VDU1",
            condition="not_ready",
            pods=["p"],
            attempts=[],
            now=0,
            scaling=None,
        )
        assert d.decision == REJECTED


class TestTriggers:
    def test_fires_only_after_the_whole_period_and_resolves_once(self):
        state = TriggerState()
        state, change = step_trigger(state, holds=True, period_seconds=30, now=0)
        assert change is None and state.since == 0
        state, change = step_trigger(state, holds=True, period_seconds=30, now=29)
        assert change is None
        state, change = step_trigger(state, holds=True, period_seconds=30, now=30)
        assert change == "firing" and state.firing
        state, change = step_trigger(state, holds=True, period_seconds=30, now=45)
        assert change is None
        state, change = step_trigger(state, holds=False, period_seconds=30, now=50)
        assert change == "resolved" and not state.firing

    def test_a_blip_restarts_the_period(self):
        state, _ = step_trigger(TriggerState(), holds=True, period_seconds=30, now=0)
        state, _ = step_trigger(state, holds=False, period_seconds=30, now=10)
        state, change = step_trigger(state, holds=True, period_seconds=30, now=20)
        assert change is None
        _, change = step_trigger(state, holds=True, period_seconds=30, now=40)
        assert change is None

    @pytest.mark.parametrize(
        ("op", "value", "expected"),
        [
            ("gt", 2, True),
            ("gt", 1, False),
            ("ge", 1, True),
            ("lt", 0, True),
            ("le", 2, False),
            ("eq", 1, True),
        ],
    )
    def test_thresholds(self, op, value, expected):
        assert evaluate_threshold(value=value, threshold=1, comparison=op) is expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, (3, 600.0, 10.0)),
        ({"max_attempts": "5", "window": 60, "backoff": 0}, (5, 60.0, 0.0)),
        ({"max_attempts": ".inf", "window": "nan", "backoff": -1}, (3, 600.0, 10.0)),
        ({"max_attempts": 0, "window": -1, "backoff": "soon"}, (3, 600.0, 10.0)),
        ({"max_attempts": [1], "window": None}, (3, 600.0, 10.0)),
    ],
    ids=["defaults", "valid", "not-finite", "out-of-range", "wrong-type"],
)
def test_heal_limits_never_crash_and_never_switch_a_limit_off(given, expected):
    from k8s_worker.policy.decisions import HealLimits

    policy = type("P", (), {"parameters": given})()
    limits = HealLimits.of(policy)
    assert (limits.max_attempts, limits.window_seconds, limits.backoff_seconds) == expected
