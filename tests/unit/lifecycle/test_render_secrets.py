"""Secret parameters stay out of ConfigMaps; the caller's roles are whole names."""

from __future__ import annotations

from k8s_worker.api.endpoint import _is_admin
from k8s_worker.lifecycle.objects import render
from k8s_worker.tosca import translate
from k8s_worker.wire.context import RequestContext
from k8s_worker.wire.redact import secret_values, split_secret_params
from tests.unit.tosca.conftest import VNF_ID, minimal_vdu, tacker_vnfd


def _vnfd() -> dict:
    vnfd = tacker_vnfd(
        {
            "VDU1": minimal_vdu(
                vnfcs={
                    "app": {"image": "nginx:1", "config": {"get_input": "app_config"}},
                    "db": {"image": "db:1", "config": {"get_input": "db_credentials"}},
                }
            )
        }
    )
    vnfd["topology_template"]["inputs"] = {
        "app_config": {"type": "string"},
        "db_credentials": {"type": "string"},
    }
    return vnfd


def test_secret_looking_params_are_split_off() -> None:
    public, secret = split_secret_params(
        {
            "image": "nginx",
            "db_password": "pw1",
            "admin_pass": "pw2",
            "sslkey": "k",
            "fernetkey": "f",
            "passphrase": "p",
            "nested": {"api_token": "t"},
            "bypass_cache": "yes",
        }
    )
    assert public == {"image": "nginx", "bypass_cache": "yes"}
    assert set(secret) == {
        "db_password",
        "admin_pass",
        "sslkey",
        "fernetkey",
        "passphrase",
        "nested",
    }
    assert secret_values(secret) == {"pw1", "pw2", "k", "f", "p", "t"}


def test_config_from_a_secret_param_goes_into_a_secret_mounted_like_the_config_map() -> None:
    params = {
        "app_config": "LOG_LEVEL: debug\nDB_HOST: db",
        "db_credentials": "DB_PASSWORD: s3cr3t-Value",
    }
    _, secret_params = split_secret_params(params)
    assert set(secret_params) == {"db_credentials"}
    translation = translate(_vnfd(), vnf_id=VNF_ID, params=params)
    objects = render(
        translation,
        namespace="ns",
        replicas={},
        config=None,
        hidden=secret_values(secret_params),
    )
    assert objects[0]["kind"] == "Secret"  # applied before the pods that mount it
    secrets = [o for o in objects if o["kind"] == "Secret"]
    maps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    (dep,) = [o for o in objects if o["kind"] == "Deployment"]
    assert "s3cr3t-Value" not in str(maps) and "s3cr3t-Value" not in str(dep)
    (secret,) = secrets
    assert secret["stringData"] == {"DB_PASSWORD": "s3cr3t-Value"}
    name = secret["metadata"]["name"]
    assert maps[name]["data"] == {}  # the db container's map is left empty
    assert secret["metadata"]["labels"] == maps[name]["metadata"]["labels"]
    assert any(m["data"] == {"LOG_LEVEL": "debug", "DB_HOST": "db"} for m in maps.values())
    containers = {c["name"]: c for c in dep["spec"]["template"]["spec"]["containers"]}
    assert {"secretRef": {"name": name}} in containers["db"]["envFrom"]
    assert not any("secretRef" in ref for ref in containers["app"]["envFrom"])
    # Without secret parameters nothing moves.
    plain = render(translation, namespace="ns", replicas={}, config=None)
    assert [o["kind"] for o in plain].count("Secret") == 0


def test_roles_are_whole_names() -> None:
    def ctx(**values: object) -> RequestContext:
        return RequestContext(dict(values))

    assert _is_admin(ctx(roles=["member", "admin"]))
    assert _is_admin(ctx(roles="member,admin"))
    assert _is_admin(ctx(is_admin=True))
    assert not _is_admin(ctx(roles="admin_x"))
    assert not _is_admin(ctx(roles=["admin_x", "readmin"]))
    assert not _is_admin(ctx(is_admin="false"))
    assert not _is_admin(ctx(roles={"admin": 1}))


def test_an_error_quoting_a_line_of_a_secret_config_shows_none_of_it() -> None:
    from k8s_worker.tosca import VnfdError
    from k8s_worker.wire.redact import scrub, secret_fragments

    params = {"app_config": "A: 1", "db_credentials": "DB_PASSWORD hunter2\nX: a: b"}
    _, secret = split_secret_params(params)
    try:
        translate(_vnfd(), vnf_id=VNF_ID, params=params)
    except VnfdError as exc:
        message = str(exc)
    else:
        raise AssertionError("a malformed config must be refused")
    assert "hunter2" in message  # what the parser says, before it is scrubbed
    cleaned = scrub(message, secret_fragments(secret_values(secret)))
    assert "hunter2" not in cleaned and "DB_PASSWORD hunter2" not in cleaned
    assert "vnfcs.db.config" in cleaned  # still says where the problem is
