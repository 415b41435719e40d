"""The registry's rules over a small in-memory Kubernetes, with the VIM's own
API server stood in for by a validator that records what it was asked: who
may register, what is refused before anything is stored, another tenant's
VIM not found, Tacker v2's vim_connection_info forms, no credential in any
answer or in the Vim resource."""

from __future__ import annotations

import json
from typing import Any

import pytest

from k8s_worker.kube import KINDS
from k8s_worker.vims import VimRecord, VimStore
from k8s_worker.vims.registry import Caller, VimRegistry, VimSettings
from k8s_worker.vims.validate import EndpointRules, VimFacts
from rpc.exceptions import Forbidden, InvalidArguments, VimInUse, VimNotFound, VimRefused
from tests.doubles.kube import MemoryKube

TOKEN = "tok-VIM-SECRET"
ADMIN = Caller(tenant_id="admin-project", admin=True)


class Validator:
    """Answers like a VIM that accepts ``accepts`` (a token) only."""

    def __init__(self, accepts: str = TOKEN) -> None:
        self.accepts = accepts
        self.asked: list[Any] = []

    async def __call__(self, creds: Any, **kw: Any) -> VimFacts:
        self.asked.append(creds)
        if creds.bearer_token != self.accepts:
            raise VimRefused("401", reason="Unauthorized", vim_id=kw.get("vim_id"))
        return VimFacts(version="v1.36.3")


def _registry(
    *, tenant_registration: bool = False, in_use: int = 0
) -> tuple[VimRegistry, MemoryKube, Validator]:
    kube = MemoryKube()
    validator = Validator()

    async def users(_vim_id: str) -> int:
        return in_use

    registry = VimRegistry(
        store=VimStore(kube, namespace="rec"),  # type: ignore[arg-type]
        settings=VimSettings(
            endpoints=EndpointRules(("127.0.0.1",)), tenant_registration=tenant_registration
        ),
        validate=validator,
        in_use=users,
    )
    return registry, kube, validator


def _args(**extra: Any) -> dict[str, Any]:
    return {
        "vim_id": "vim2",
        "tenant_id": "t1",
        "auth_url": "https://127.0.0.1:16444",
        "ssl_ca_cert": "-----BEGIN CERTIFICATE-----\n...",
        "bearer_token": TOKEN,
        "default_namespace": "web",
        **extra,
    }


def _stored(kube: MemoryKube) -> list[dict[str, Any]]:
    return [o for (path, _), o in kube.objects.items() if path.endswith("/vims")]


async def test_an_admin_registers_a_vim_and_no_answer_or_resource_holds_its_token() -> None:
    registry, kube, validator = _registry()
    reply = await registry.register(ADMIN, _args())
    assert reply["vim_id"] == "vim2" and reply["version"] == "v1.36.3"
    assert validator.asked[0].url == "https://127.0.0.1:16444"
    (vim,) = _stored(kube)
    for shown in (reply, vim, await registry.get(ADMIN, "vim2"), await registry.list(ADMIN)):
        assert TOKEN not in json.dumps(shown)
    assert "auth=token" in repr(validator.asked[0]) and TOKEN not in repr(validator.asked[0])
    creds = await registry.store.credentials(VimRecord(vim))
    assert creds.bearer_token == TOKEN  # in the Secret, where it belongs


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ({"bearer_token": "wrong"}, "Unauthorized"),
        ({"auth_url": "https://10.0.0.1:6443"}, "EndpointNotAllowed"),
        ({"ssl_ca_cert": None}, "CertificateRequired"),
        ({"ssl_ca_cert": None, "insecure": True}, "CertificateRequired"),  # not allowed here
        ({"bearer_token": None, "username": "u", "password": "p"}, "InvalidCredentials"),
        ({"bearer_token": None}, "InvalidCredentials"),
    ],
)
async def test_a_refused_registration_stores_nothing(args: dict[str, Any], reason: str) -> None:
    registry, kube, _ = _registry()
    with pytest.raises(VimRefused) as caught:
        await registry.register(ADMIN, _args(**args))
    assert caught.value.kwargs["reason"] == reason
    assert not kube.objects


async def test_only_an_admin_registers_unless_tenant_registration_is_on() -> None:
    registry, kube, _ = _registry()
    with pytest.raises(Forbidden):
        await registry.register(Caller("t1"), _args())
    assert not kube.objects
    registry, kube, _ = _registry(tenant_registration=True)
    with pytest.raises(Forbidden):
        await registry.register(Caller("t1"), _args(tenant_id="t2"))
    with pytest.raises(Forbidden):
        await registry.register(Caller("t1"), _args(shared=True))
    await registry.register(Caller("t1"), _args())
    with pytest.raises(VimRefused) as caught:
        await registry.register(Caller("t1"), _args())
    assert caught.value.kwargs["reason"] == "VimExists"


async def test_another_tenants_vim_is_not_found_and_a_used_one_is_not_deregistered() -> None:
    registry, _, _ = _registry(in_use=1)
    await registry.register(ADMIN, _args())
    with pytest.raises(VimNotFound):
        await registry.get(Caller("t2"), "vim2")
    with pytest.raises(VimNotFound):
        await registry.usable("vim2", Caller("t2"))
    assert await registry.list(Caller("t2")) == []
    assert (await registry.usable("vim2", Caller("t1"))).vim_id == "vim2"
    with pytest.raises(VimInUse):
        await registry.deregister(ADMIN, "vim2")


async def test_an_update_validates_new_credentials_before_they_replace_the_old() -> None:
    registry, _, validator = _registry()
    await registry.register(ADMIN, _args())
    with pytest.raises(VimRefused):
        await registry.update(ADMIN, {"vim_id": "vim2", "bearer_token": "revoked"})
    record = await registry.store.get("vim2")
    assert record is not None
    assert (await registry.store.credentials(record)).bearer_token == TOKEN
    validator.accepts = "rotated"
    await registry.update(ADMIN, {"vim_id": "vim2", "bearer_token": "rotated"})
    record = await registry.store.get("vim2")
    assert record is not None
    assert (await registry.store.credentials(record)).bearer_token == "rotated"
    assert record.obj["spec"]["credentialsGeneration"] == 1


async def test_tacker_v2s_connection_info_registers_reuses_or_names_a_vim() -> None:
    registry, kube, validator = _registry()
    entry = {
        "vimId": "vim2",
        "vimType": "ETSINFV.KUBERNETES.V_1",
        "interfaceInfo": {"endpoint": "https://127.0.0.1:16444", "ssl_ca_cert": "PEM"},
        "accessInfo": {"bearer_token": TOKEN},
    }
    named = await registry.from_connection_info(
        ADMIN, {"vim1": entry}, tenant_id="t1", namespace="web"
    )
    assert named == "vim2" and len(_stored(kube)) == 1
    # The same entry again, as one object: nothing new is validated or stored.
    await registry.from_connection_info(ADMIN, entry, tenant_id="t1", namespace=None)
    assert len(validator.asked) == 1
    # Only the id: a registered VIM.
    assert (
        await registry.from_connection_info(
            ADMIN, {"vimId": "vim2"}, tenant_id="t1", namespace=None
        )
        == "vim2"
    )
    with pytest.raises(InvalidArguments):
        await registry.from_connection_info(
            ADMIN, {"a": entry, "b": entry}, tenant_id="t1", namespace=None
        )
    with pytest.raises(InvalidArguments):
        await registry.from_connection_info(
            ADMIN, {**entry, "vimType": "openstack"}, tenant_id="t1", namespace=None
        )
    assert KINDS["Vim"].plural == "vims"


async def test_a_tenant_may_not_change_a_vim_an_admin_registered() -> None:
    registry, _, _ = _registry(tenant_registration=True)
    await registry.register(ADMIN, _args())
    with pytest.raises(Forbidden):
        await registry.update(Caller("t1"), {"vim_id": "vim2", "namespaces": ["*"]})
    record = await registry.store.get("vim2")
    assert record is not None and record.registration.namespaces_of("t1") == ("web",)


async def test_a_second_registration_of_an_id_leaves_the_first_ones_credentials() -> None:
    registry, _, validator = _registry(tenant_registration=True)
    await registry.register(Caller("t1"), _args())
    validator.accepts = "t2-token"
    with pytest.raises(VimRefused) as caught:
        await registry.register(Caller("t2"), _args(tenant_id="t2", bearer_token="t2-token"))
    assert caught.value.kwargs["reason"] == "VimExists"
    record = await registry.store.get("vim2")
    assert record is not None and record.tenant_id == "t1"
    assert (await registry.store.credentials(record)).bearer_token == TOKEN


async def test_an_update_keeps_what_another_writer_changed_during_its_validation() -> None:
    registry, _, validator = _registry()
    await registry.register(ADMIN, _args())
    slow = validator.__call__

    async def meanwhile(creds: Any, **kw: Any) -> VimFacts:
        def revoke(rec: VimRecord) -> bool:
            rec.obj["spec"]["grants"] = {}
            return True

        await registry.store.mutate("vim2", revoke, status=False)
        return await slow(creds, **kw)

    registry._validate = meanwhile
    await registry.update(ADMIN, {"vim_id": "vim2", "name": "renamed"})
    record = await registry.store.get("vim2")
    assert record is not None
    assert record.registration.name == "renamed" and record.registration.grants == {}


async def test_a_shared_vim_named_by_tacker_v2s_form_serves_every_tenant() -> None:
    registry, _, _ = _registry()
    await registry.register(ADMIN, _args(shared=True, namespaces={"t2": ["t2-ns"], "t3": ["x"]}))
    entry = {
        "vimId": "vim2",
        "interfaceInfo": {"endpoint": "https://127.0.0.1:16444/", "ssl_ca_cert": "PEM"},
        "accessInfo": {"bearer_token": TOKEN},
    }
    caller = Caller("t2")
    assert (
        await registry.from_connection_info(caller, entry, tenant_id="t2", namespace=None) == "vim2"
    )
    shown = await registry.get(caller, "vim2")
    assert shown["namespaces"] == {"t2": ["t2-ns"]}  # not the other tenants' grants


@pytest.mark.parametrize(
    "url",
    [
        "https://admin:pw@127.0.0.1:16444",
        "https://127.0.0.1:16444/?token=x",
        "https://127.0.0.1:16444/#frag",
    ],
)
async def test_an_endpoint_carrying_credentials_is_refused_without_echoing_it(url: str) -> None:
    registry, kube, _ = _registry()
    with pytest.raises(VimRefused) as caught:
        await registry.register(ADMIN, _args(auth_url=url))
    assert caught.value.kwargs["reason"] == "EndpointNotAllowed"
    assert "pw" not in str(caught.value) and "token=x" not in str(caught.value)
    assert not kube.objects
