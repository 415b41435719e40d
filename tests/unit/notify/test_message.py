"""The notification message: oslo's fields, and an identity an outbox entry keeps."""

from __future__ import annotations

from oslo_config import cfg

from k8s_worker.amqp.options import register_oslo_opts
from k8s_worker.notify.notifier import Notifier, NotifierSettings
from k8s_worker.wire.context import RequestContext


def notifier() -> Notifier:
    conf = cfg.ConfigOpts()
    register_oslo_opts(conf)
    conf([], project="k8s_worker", default_config_files=[])
    return Notifier(NotifierSettings.from_conf(conf, publisher_id="k8s_worker.test"))


def test_a_fresh_message_has_oslo_fields_and_no_secret():
    ctx = RequestContext({"request_id": "req-1", "auth_token": "tok-secret"})
    message = notifier().build("vnf.respawn", {"vnf_id": "v"}, priority="INFO", ctx=ctx)
    assert {"message_id", "publisher_id", "event_type", "priority", "payload", "timestamp"} <= set(
        message
    )
    assert message["_context_request_id"] == "req-1"
    assert "tok-secret" not in repr(message)


def test_each_fresh_message_gets_its_own_id():
    n = notifier()
    ids = {n.build("e", {}, priority="INFO", ctx=None)["message_id"] for _ in range(3)}
    assert len(ids) == 3


def test_a_message_published_again_keeps_its_id_and_time():
    n = notifier()
    when = "2026-11-24 06:00:00"
    args = {"priority": "INFO", "ctx": None, "message_id": "m-1", "timestamp": when}
    first, again = n.build("e", {"a": 1}, **args), n.build("e", {"a": 1}, **args)
    assert (first["message_id"], first["timestamp"]) == ("m-1", when)
    assert (again["message_id"], again["timestamp"]) == (first["message_id"], first["timestamp"])
