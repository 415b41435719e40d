"""Respawn detection from the record's memory and the pods as they are."""

from __future__ import annotations

from k8s_worker.lifecycle.respawn import PAIR_WINDOW_SECONDS, track_pods
from k8s_worker.tosca import LABEL_VDU


def pod(
    name: str,
    *,
    vdu: str = "VDU1",
    phase: str = "Running",
    restarts: int = 0,
    last_reason: str | None = None,
    deleting: bool = False,
    created: str = "t0",
    failed_reason: str | None = None,
) -> dict:
    cs: dict = {"name": "c", "restartCount": restarts, "state": {"running": {}}}
    if last_reason:
        cs["lastState"] = {"terminated": {"reason": last_reason}}
    if failed_reason:
        cs["state"] = {"terminated": {"reason": failed_reason}}
    meta: dict = {"name": name, "labels": {LABEL_VDU: vdu}, "creationTimestamp": created}
    if deleting:
        meta["deletionTimestamp"] = "now"
    return {"metadata": meta, "status": {"phase": phase, "containerStatuses": [cs]}}


def test_first_look_reports_nothing_and_remembers_pods():
    memory, respawns = track_pods({}, [pod("a"), pod("b")], now=0, detect=False)
    assert respawns == []
    assert set(memory["pods"]) == {"a", "b"}


def test_deleted_pod_and_its_replacement_make_one_respawn_in_either_order():
    memory, _ = track_pods({}, [pod("a"), pod("b")], now=0, detect=False)
    # The deletion is seen first, the replacement later.
    memory, respawns = track_pods(memory, [pod("b")], now=1, detect=True)
    assert respawns == []
    memory, respawns = track_pods(memory, [pod("b"), pod("c", created="t1")], now=2, detect=True)
    assert [(r.old_pod, r.new_pod, r.reason) for r in respawns] == [("a", "c", "Deleted")]
    # Looking again (a re-list, a watch restart) reports nothing more.
    again, respawns = track_pods(memory, [pod("b"), pod("c")], now=3, detect=True)
    assert respawns == [] and again == memory


def test_replacement_seen_before_the_failure_still_pairs():
    memory, _ = track_pods({}, [pod("a")], now=0, detect=False)
    memory, respawns = track_pods(memory, [pod("a"), pod("n", created="t1")], now=1, detect=True)
    assert respawns == []
    failed = pod("a", phase="Failed", failed_reason="Error")
    memory, respawns = track_pods(memory, [failed, pod("n")], now=2, detect=True)
    assert [(r.old_pod, r.new_pod, r.reason) for r in respawns] == [("a", "n", "Failed: Error")]


def test_a_pod_first_seen_after_an_operation_is_no_replacement_for_a_later_loss():
    # The operation ended on its Deployment's status before pod b's own event came.
    memory, _ = track_pods({}, [pod("a")], now=0, detect=False)
    memory, respawns = track_pods(memory, [pod("a"), pod("b")], now=1, detect=True)
    assert respawns == []
    # A minute later a is deleted: b is not its replacement; c, made for it, is.
    memory, respawns = track_pods(memory, [pod("b")], now=61, detect=True)
    assert respawns == []
    memory, respawns = track_pods(memory, [pod("b"), pod("c", created="t2")], now=62, detect=True)
    assert [(r.old_pod, r.new_pod) for r in respawns] == [("a", "c")]


def test_container_restart_is_a_respawn_with_its_reason_and_count():
    memory, _ = track_pods({}, [pod("a")], now=0, detect=False)
    memory, respawns = track_pods(
        memory, [pod("a", restarts=2, last_reason="OOMKilled")], now=1, detect=True
    )
    assert len(respawns) == 1
    r = respawns[0]
    assert (r.old_pod, r.new_pod, r.reason, r.restart_count) == ("a", "a", "OOMKilled", 2)
    _, respawns = track_pods(
        memory, [pod("a", restarts=2, last_reason="OOMKilled")], now=2, detect=True
    )
    assert respawns == []


def test_changes_during_an_operation_are_accounted_silently():
    memory, _ = track_pods({}, [pod("a")], now=0, detect=False)
    memory, respawns = track_pods(memory, [pod("b")], now=1, detect=False)
    assert respawns == [] and set(memory["pods"]) == {"b"} and memory["lost"] == []


def test_a_lost_pod_never_replaced_is_forgotten_after_the_window():
    memory, _ = track_pods({}, [pod("a"), pod("b")], now=0, detect=False)
    memory, _ = track_pods(memory, [pod("b")], now=1, detect=True)
    assert [e["pod"] for e in memory["lost"]] == ["a"]
    memory, respawns = track_pods(memory, [pod("b")], now=2 + PAIR_WINDOW_SECONDS, detect=True)
    assert memory["lost"] == [] and respawns == []


def test_pods_of_another_vdu_do_not_pair():
    memory, _ = track_pods({}, [pod("a", vdu="VDU1")], now=0, detect=False)
    memory, respawns = track_pods(memory, [pod("x", vdu="VDU2")], now=1, detect=True)
    assert respawns == []
    assert [e["vdu"] for e in memory["lost"]] == ["VDU1"]


def _with_uid(p: dict, uid: str) -> dict:
    p["metadata"]["uid"] = uid
    return p


def test_a_pod_replaced_under_its_own_name_is_one_respawn_even_unseen_gone():
    """A StatefulSet recreates db-0 as db-0: told apart by its uid, whether or
    not a pass saw the old one fail."""
    memory, _ = track_pods({}, [_with_uid(pod("db-0"), "u1")], now=0, detect=False)
    memory, respawns = track_pods(memory, [_with_uid(pod("db-0"), "u2")], now=1, detect=True)
    assert [(r.old_pod, r.new_pod, r.reason) for r in respawns] == [("db-0", "db-0", "Replaced")]
    again, respawns = track_pods(memory, [_with_uid(pod("db-0"), "u2")], now=2, detect=True)
    assert respawns == [] and again == memory
    # Seen failed first, then replaced: one respawn with the failure's reason.
    failed = _with_uid(pod("db-0", phase="Failed", failed_reason="Error"), "u2")
    memory, respawns = track_pods(memory, [failed], now=3, detect=True)
    assert respawns == []
    memory, respawns = track_pods(memory, [_with_uid(pod("db-0"), "u3")], now=4, detect=True)
    assert [(r.new_pod, r.reason) for r in respawns] == [("db-0", "Failed: Error")]
