"""The tail tool shows an event published twice once."""

from __future__ import annotations

import pytest

from k8s_worker.tail.repeats import RecentMessages


def test_a_repeated_message_id_is_recognised_and_counted():
    recent = RecentMessages()
    assert [recent.repeat(m) for m in ("a", "b", "a", "a")] == [False, False, True, True]
    assert recent.repeats == 2


def test_events_without_a_message_id_are_always_shown():
    recent = RecentMessages()
    assert recent.repeat(None) is False and recent.repeat(None) is False
    assert recent.repeat("") is False
    assert recent.repeats == 0


def test_the_window_is_bounded_and_forgets_the_oldest():
    recent = RecentMessages(size=2)
    for m in ("a", "b", "c"):  # "a" falls out
        recent.repeat(m)
    assert recent.repeat("a") is False
    assert recent.repeat("c") is True


def test_a_repeat_refreshes_its_place_in_the_window():
    recent = RecentMessages(size=2)
    recent.repeat("a")
    recent.repeat("b")
    recent.repeat("a")  # seen again: now the newest
    recent.repeat("c")  # pushes out "b", not "a"
    assert recent.repeat("a") is True
    assert recent.repeat("b") is False


def test_size_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        RecentMessages(size=0)
