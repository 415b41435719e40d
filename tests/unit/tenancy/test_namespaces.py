"""The namespace rules: who may use which namespace (pure)."""

from __future__ import annotations

import pytest

from k8s_worker.tenancy import NamespaceRefused, NamespaceRules, derived_namespace, parse_grants
from k8s_worker.tenancy.namespaces import tenant_label_value

RULES = NamespaceRules(
    record_namespace="tacker-k8s-worker",
    grants=parse_grants(["t1:default,shared-*", "*:sandbox"]),
)


@pytest.mark.parametrize(
    ("tenant", "namespace"),
    [
        ("t1", "tacker-t1"),  # its own
        ("t1", "default"),  # granted
        ("t1", "shared-blue"),  # granted by a glob
        ("t2", "sandbox"),  # granted to every tenant
        ("a_b", derived_namespace("tacker-", "a_b")),
    ],
)
def test_allowed(tenant: str, namespace: str) -> None:
    RULES.check(tenant, namespace)


@pytest.mark.parametrize(
    ("tenant", "namespace", "why"),
    [
        ("t1", "kube-system", "forbidden to every VNF"),
        ("t1", "kube-public", "forbidden to every VNF"),
        ("t1", "tacker-k8s-worker", "holds the worker's records"),
        ("t1", "tacker-t2", "reserved for another tenant"),
        ("t1", "tacker-anything", "reserved for another tenant"),
        ("t2", "default", "not granted"),
        ("t1", "elsewhere", "not granted"),
    ],
)
def test_refused(tenant: str, namespace: str, why: str) -> None:
    with pytest.raises(NamespaceRefused, match=why):
        RULES.check(tenant, namespace)


def test_forbidden_wins_over_a_grant_and_the_record_namespace_over_everything() -> None:
    rules = NamespaceRules(
        record_namespace="records", grants=parse_grants(["t1:kube-system,records"])
    )
    for ns in ("kube-system", "records"):
        with pytest.raises(NamespaceRefused):
            rules.check("t1", ns)
    # even the record namespace spelled as a tenant's derived one
    rules = NamespaceRules(record_namespace="tacker-t1")
    with pytest.raises(NamespaceRefused, match="records"):
        rules.check("t1", "tacker-t1")


def test_a_refusal_names_no_other_tenant() -> None:
    with pytest.raises(NamespaceRefused) as refused:
        RULES.check("t1", "tacker-t2")
    assert "t2" not in str(refused.value).replace("tacker-t2", "")


def test_derived_namespaces_never_collide() -> None:
    tenants = [
        "t1",
        "T1",
        "a_b",
        "a-b",
        "a.b",
        "x" * 80,
        "x" * 81,
        # a DNS tenant spelled like another tenant's hashed name
        derived_namespace("tacker-", "a_b").removeprefix("tacker-"),
        "6f1c1b0f6d9a4a7c9d6b2b2c3f1f0e9a",  # a Keystone project id
    ]
    names = [derived_namespace("tacker-", t) for t in tenants]
    assert len(set(names)) == len(tenants)
    for name in names:
        assert len(name) <= 63 and name == name.lower() and name[0].isalnum()
    assert derived_namespace("tacker-", tenants[-1]) == f"tacker-{tenants[-1]}"


def test_grants_must_name_a_tenant_and_namespaces() -> None:
    for bad in ("default", ":default", "t1:", "t1: , "):
        with pytest.raises(ValueError, match="tenant_namespaces entry"):
            parse_grants([bad])


def test_tenant_label_values_are_valid_and_distinct() -> None:
    ids = ["t1", "x" * 64, "x" * 65, "a b", "a/b"]
    values = [tenant_label_value(t) for t in ids]
    assert values[0] == "t1"
    assert len(set(values)) == len(ids)
    assert all(len(v) <= 63 and " " not in v and "/" not in v for v in values)
    assert tenant_label_value(values[1]) != values[1]  # a hashed value is not an id's own


def test_a_vnf_placed_by_an_earlier_version_may_stay_in_its_legacy_namespace() -> None:
    rules = NamespaceRules(record_namespace="tacker-k8s-worker")
    legacy = rules.legacy_derived("Tenant_A")
    assert legacy == "tacker-tenant-a" != rules.derived("Tenant_A")
    with pytest.raises(NamespaceRefused):
        rules.check("Tenant_A", legacy)  # not for a new VNF
    rules.check("Tenant_A", legacy, legacy=True)
    with pytest.raises(NamespaceRefused):  # never the record namespace, even so
        rules.check("k8s-worker", "tacker-k8s-worker", legacy=True)
