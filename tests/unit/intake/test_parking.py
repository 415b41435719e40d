"""The per-VNF order of parked casts (pure; the broker side is in the functional tests)."""

from __future__ import annotations

from k8s_worker.amqp.topology import RabbitSettings
from k8s_worker.intake.parking import ParkedOrder, RetryParking


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_later_casts_wait_behind_a_parked_head_and_run_in_its_order() -> None:
    order = ParkedOrder(grace=5, clock=Clock())
    assert not order.must_wait("x", "c1")
    order.park("x", "c1", delay=2, head=True)
    assert order.must_wait("x", "c2") and not order.must_wait("y", "c9")
    order.park("x", "c2", delay=order.delay_of("x"), head=False)
    order.park("x", "c3", delay=2, head=False)
    # Back from the delay queue: only the head may run; c1 fails again and stays head.
    assert not order.must_wait("x", "c1")
    order.park("x", "c1", delay=4, head=True)
    assert order.must_wait("x", "c2") and order.delay_of("x") == 4
    order.done("x", "c1")
    assert not order.must_wait("x", "c2") and order.must_wait("x", "c3")
    order.done("x", "c2")
    order.done("x", "c3")
    assert len(order) == 0 and not order.must_wait("x", "c4")


def test_a_line_whose_head_went_elsewhere_is_forgotten_after_its_delay_and_grace() -> None:
    clock = Clock()
    order = ParkedOrder(grace=5, clock=clock)
    order.park("x", "c1", delay=10, head=True)
    order.park("x", "c2", delay=10, head=False)
    clock.now += 14
    order.park("x", "c2", delay=10, head=False)  # going round again does not re-arm it
    assert order.must_wait("x", "c2")
    clock.now += 2
    assert not order.must_wait("x", "c2") and len(order) == 0


def test_the_delay_queue_dead_letters_back_to_the_topic() -> None:
    parking = RetryParking(
        lambda: None,
        settings=RabbitSettings(quorum_queue=True, quorum_delivery_limit=5),
        exchange="tacker",
        topic="k8s_worker",
    )
    assert parking.queue == "k8s_worker.retry"
    assert parking.queue_arguments() == {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": "tacker",
        "x-dead-letter-routing-key": "k8s_worker",
    }
