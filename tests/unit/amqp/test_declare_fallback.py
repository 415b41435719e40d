"""oslo's non-durable fallback: which 406 triggers it and what is declared instead.

The declarations themselves run against the real broker in
tests/functional/test_intake_fallback.py; these pin the pure parts.
"""

from __future__ import annotations

import aiormq.exceptions

from k8s_worker.amqp.topology import (
    RabbitSettings,
    is_durable_mismatch,
    nondurable,
    rpc_server_queues,
)

DURABLE_406 = (
    "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'tacker' in vhost '/': "
    "received 'true' but current is 'false'"
)


def test_only_a_durability_precondition_failure_falls_back() -> None:
    assert is_durable_mismatch(aiormq.exceptions.ChannelPreconditionFailed(DURABLE_406))
    queue_type = (
        "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 't' in vhost '/': "
        "received none but current is the value 'quorum' of type 'longstr'"
    )
    assert not is_durable_mismatch(aiormq.exceptions.ChannelPreconditionFailed(queue_type))
    # The same words in another error are no 406.
    assert not is_durable_mismatch(aiormq.exceptions.ChannelNotFoundEntity(DURABLE_406))
    assert not is_durable_mismatch(RuntimeError(DURABLE_406))


def test_the_fallback_is_non_durable_and_keeps_everything_else() -> None:
    settings = RabbitSettings(amqp_durable_queues=True, cancel_on_failover=True)
    topic, _server, fanout = rpc_server_queues(
        settings, exchange="tacker", topic="t", server="h", fanout_id="f"
    )
    assert topic.durable and topic.exchange.durable
    fallback = nondurable(topic)
    assert (fallback.durable, fallback.exchange.durable) == (False, False)
    assert (fallback.name, fallback.routing_key) == (topic.name, topic.routing_key)
    assert (fallback.exchange.name, fallback.exchange.type) == ("tacker", "topic")
    assert fallback.arguments == topic.arguments
    assert fallback.consumer_arguments == {"x-cancel-on-ha-failover": True}
    assert fallback.auto_delete is False
    # oslo's _declare_fallback_nondurable gives the exchange the queue's auto_delete.
    assert fanout.exchange.auto_delete is True
    assert nondurable(fanout).exchange.auto_delete is fanout.auto_delete is False


def test_a_non_durable_spec_has_no_other_fallback() -> None:
    (topic, *_) = rpc_server_queues(RabbitSettings(), exchange="tacker", topic="t", server="h")
    assert nondurable(topic) == topic
