"""The pure rules of VIM registration: which endpoints are allowed, a token's
expiry, a registration's namespaces per tenant, the health transitions and
their sequence, and the namespace rules of a registered VIM."""

from __future__ import annotations

import base64
import json

import pytest

from k8s_worker.tenancy import NamespaceRefused, NamespaceRules
from k8s_worker.vims import VimHealth, VimRecord, VimRegistration
from k8s_worker.vims.validate import EndpointRules, token_expiry, vim_permissions
from rpc.exceptions import VimRefused


@pytest.mark.parametrize(
    ("patterns", "url", "allowed"),
    [
        (["127.0.0.1"], "https://127.0.0.1:16444", True),
        (["127.0.0.1"], "https://127.0.0.2:16444", False),
        (["127.0.0.0/8"], "https://127.9.9.9:6443", True),
        (["10.0.0.0/8:6443"], "https://10.1.2.3:6443", True),
        (["10.0.0.0/8:6443"], "https://10.1.2.3:443", False),
        (["*.k8s.example.net"], "https://a.k8s.example.net", True),
        (["*.k8s.example.net"], "https://k8s.example.net.evil.org", False),
        (["127.0.0.1"], "http://127.0.0.1:16444", False),  # https only
        ([], "https://127.0.0.1:16444", False),  # empty: no VIM at all
        (["k8s.example.net:6443"], "https://K8S.example.net:6443", True),
    ],
)
def test_endpoints_are_allowed_only_by_a_pattern(
    patterns: list[str], url: str, allowed: bool
) -> None:
    rules = EndpointRules(tuple(patterns))
    if allowed:
        rules.check(url)
    else:
        with pytest.raises(VimRefused) as caught:
            rules.check(url)
        assert caught.value.kwargs["reason"] == "EndpointNotAllowed"


def _jwt(payload: dict) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJSUzI1NiJ9.{body}.c2ln"


def test_a_tokens_expiry_is_read_from_its_jwt_payload() -> None:
    assert token_expiry(_jwt({"exp": 1900000000})) == 1900000000.0
    assert token_expiry(_jwt({"sub": "x"})) is None
    assert token_expiry("not-a-jwt") is None
    assert token_expiry("a.!!!.c") is None


def test_the_permissions_reviewed_name_the_vims_namespace_for_writes() -> None:
    perms = [str(p) for p in vim_permissions("web")]
    assert "list pods in all namespaces" in perms
    assert "create deployments.apps in namespace web" in perms
    assert "patch deployments/scale.apps in namespace web" in perms


def test_a_registration_grants_its_default_namespace_to_its_tenant_only() -> None:
    reg = VimRegistration(
        vim_id="v",
        name="v",
        tenant_id="t1",
        auth_url="https://x",
        default_namespace="web",
        grants={"t1": ("blue-*",), "t2": ("green",)},
    )
    assert reg.namespaces_of("t1") == ("web", "blue-*")
    assert reg.namespaces_of("t2") == ("green",)
    assert reg.namespaces_of("t3") == ()
    assert reg.usable_by("t1") and not reg.usable_by("t2") and reg.usable_by("t2", admin=True)
    assert "bearer" not in json.dumps(reg.public()).lower()


def test_health_transitions_are_numbered_without_gaps_and_queued_until_published() -> None:
    reg = VimRegistration(vim_id="v", name="v", tenant_id="t", auth_url="https://x")
    rec = VimRecord.new(namespace="ns", registration=reg, labels={})
    first = rec.set_health(VimHealth.REACHABLE, reason="ok", now="t0")
    assert rec.set_health(VimHealth.REACHABLE, reason="again", now="t1") is None
    second = rec.set_health(VimHealth.UNREACHABLE, reason="refused", now="t2")
    assert first is not None and second is not None
    assert (first["sequence"], second["sequence"]) == (1, 2)
    assert (second["old_status"], second["status"]) == ("REACHABLE", "UNREACHABLE")
    assert [e["sequence"] for e in rec.outbox] == [1, 2]
    rec.published(1)
    assert [e["sequence"] for e in rec.outbox] == [2]


def test_a_registered_vims_namespaces_are_only_its_grants() -> None:
    rules = NamespaceRules(
        record_namespace="tkw-records",
        prefix="",
        forbidden=("kube-*",),
        grants=(("t1", ("web", "blue-*")),),
        registered=True,
        default="web",
    )
    assert rules.derived("t1") == "web"
    rules.check("t1", "web")
    rules.check("t1", "blue-1")
    for refused in ("green", "tacker-t1", "kube-system", "tkw-records"):
        with pytest.raises(NamespaceRefused):
            rules.check("t1", refused)
    with pytest.raises(NamespaceRefused):
        NamespaceRules(record_namespace="r", registered=True).derived("t1")
