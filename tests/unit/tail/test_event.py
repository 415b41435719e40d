"""Decoding notifications off the wire, and saying why a body is not one."""

from __future__ import annotations

import json

from k8s_worker.tail.event import Event, Malformed, parse
from k8s_worker.wire.envelope import encode


def _message(**extra: object) -> dict[str, object]:
    return {
        "message_id": "m-1",
        "publisher_id": "k8s_worker.w1",
        "event_type": "vnf.status.update",
        "priority": "INFO",
        "payload": {"vnf_id": "v1", "tenant_id": "t1", "sequence": 7, "status": "ACTIVE"},
        "timestamp": "2024-05-01 12:00:00.123456",
        **extra,
    }


def test_an_oslo_envelope_becomes_an_event() -> None:
    event = parse(encode(_message()), routing_key="notifications.info")
    assert isinstance(event, Event)
    assert (event.event_type, event.priority, event.vnf_id, event.tenant_id, event.sequence) == (
        "vnf.status.update",
        "INFO",
        "v1",
        "t1",
        7,
    )
    assert event.publisher_id == "k8s_worker.w1"
    assert event.message_id == "m-1"


def test_the_bare_1_0_form_is_read_too() -> None:
    event = parse(json.dumps(_message()).encode(), routing_key="notifications.info")
    assert isinstance(event, Event) and event.vnf_id == "v1"


def test_secrets_in_payload_and_context_are_masked() -> None:
    body = encode(
        _message(
            payload={"vnf_id": "v1", "params": {"db_password": "hunter2"}},
            _context_auth_token="tok-123",
            _context_request_id="req-9",
        )
    )
    event = parse(body, routing_key="notifications.info")
    assert isinstance(event, Event)
    assert event.payload["params"]["db_password"] == "***"
    assert event.context == {"auth_token": "***", "request_id": "req-9"}


def test_tenant_falls_back_to_the_context_project() -> None:
    body = encode(_message(payload={"vnf_id": "v1"}, _context_project_id="p-7"))
    event = parse(body, routing_key="notifications.info")
    assert isinstance(event, Event) and event.tenant_id == "p-7"


def test_missing_priority_is_taken_from_the_routing_key() -> None:
    message = _message()
    del message["priority"]
    event = parse(encode(message), routing_key="notifications.warn")
    assert isinstance(event, Event) and event.priority == "WARN"


def test_warning_is_normalized_to_oslo_warn() -> None:
    event = parse(encode(_message(priority="warning")), routing_key="notifications.warn")
    assert isinstance(event, Event) and event.priority == "WARN"


def test_a_non_dict_payload_has_no_vnf_fields() -> None:
    event = parse(encode(_message(payload="hello")), routing_key="notifications.info")
    assert isinstance(event, Event)
    assert (event.vnf_id, event.tenant_id, event.sequence, event.op_id) == (None, None, None, None)


def test_a_boolean_sequence_is_not_a_sequence() -> None:
    event = parse(encode(_message(payload={"sequence": True})), routing_key="n.info")
    assert isinstance(event, Event) and event.sequence is None


def test_undecodable_bodies_are_malformed_with_a_reason() -> None:
    bad = parse(b"not json", routing_key="notifications.info", message_id="amqp-1")
    assert bad == Malformed(
        reason=bad.reason, routing_key="notifications.info", size=8, message_id="amqp-1"
    )
    assert "not JSON" in bad.reason


def test_an_rpc_message_is_not_a_notification() -> None:
    bad = parse(encode({"method": "get_vnf", "args": {}}), routing_key="notifications.info")
    assert isinstance(bad, Malformed)
    assert "event_type" in bad.reason
