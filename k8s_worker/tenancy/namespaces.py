"""Where a tenant's VNF may run.

A tenant always has its derived namespace (``<prefix><tenant>``, collision-free
between tenants); any other namespace only through an explicit grant; the
cluster's own namespaces (``kube-*`` by default) and the worker's record
namespace never, for anyone.  A namespace labelled for another tenant is refused
even when granted: the label is checked by the lifecycle against the live object.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: The shape of a hashed derived namespace's tail; a lossless one never ends so.
_HASHED_TAIL = re.compile(r"-h[0-9a-f]{12}$")
_HASH_LEN = 12
NAME_MAX = 63


class NamespaceRefused(Exception):
    """The tenant may not use this namespace; the message says why (and names
    no other tenant)."""


def derived_namespace(prefix: str, tenant_id: str) -> str:
    """The tenant's own namespace.

    ``<prefix><tenant>`` when that is a DNS label (Keystone's project ids are)
    and does not end like a hashed name; otherwise the tenant's id sanitized,
    shortened, and suffixed with ``-h`` and 12 hex digits of its sha256.  A
    lossless name never ends in that suffix, and two hashed names differ in
    their hash, so no two tenants derive the same namespace.
    """
    lossless = f"{prefix}{tenant_id}"
    if (
        len(lossless) <= NAME_MAX
        and _DNS_LABEL.match(lossless)
        and not _HASHED_TAIL.search(lossless)
    ):
        return lossless
    digest = hashlib.sha256(tenant_id.encode("utf-8")).hexdigest()[:_HASH_LEN]
    readable = re.sub(r"[^a-z0-9]+", "-", f"{prefix}{tenant_id}".lower()).strip("-")
    room = NAME_MAX - len(digest) - 2
    readable = readable[:room].rstrip("-") or "t"
    return f"{readable}-h{digest}"


def parse_grants(entries: Iterable[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``["t1:default,ns-*", "t2:blue"]`` -> ``(("t1", ("default", "ns-*")), ...)``.

    Raises ValueError naming the entry when it is not ``<tenant>:<namespace>[,...]``.
    """
    grants: list[tuple[str, tuple[str, ...]]] = []
    for entry in entries:
        tenant, sep, rest = entry.partition(":")
        namespaces = tuple(n.strip() for n in rest.split(",") if n.strip())
        if not sep or not tenant.strip() or not namespaces:
            raise ValueError(
                f"tenant_namespaces entry {entry!r} is not <tenant>:<namespace>[,<namespace>...]"
            )
        grants.append((tenant.strip(), namespaces))
    return tuple(grants)


@dataclass(frozen=True)
class NamespaceRules:
    """The namespace rules of one VIM.

    On the worker's own cluster a tenant has its derived namespace and the
    grants of ``[kubernetes] tenant_namespaces``; on a registered VIM
    (``registered``) only what the registration grants, its own namespace
    being the VIM's ``default`` (None: the VNF must name a granted one).

    ``check`` raises :class:`NamespaceRefused` or returns; it is pure (it never
    reads the cluster), so it can run before anything is written and again at
    every later step.
    """

    record_namespace: str
    prefix: str = "tacker-"
    forbidden: tuple[str, ...] = ("kube-*",)
    grants: tuple[tuple[str, tuple[str, ...]], ...] = ()
    registered: bool = False
    default: str | None = None

    def derived(self, tenant_id: str) -> str:
        """The tenant's own namespace here (NamespaceRefused on a registered VIM
        with no default namespace for it)."""
        if self.registered:
            if not self.default:
                raise NamespaceRefused(
                    "the VIM has no default namespace for this tenant; name one it grants"
                )
            return self.default
        return derived_namespace(self.prefix, tenant_id)

    def legacy_derived(self, tenant_id: str) -> str:
        """The tenant's namespace as versions before these rules derived it
        (lossy: kept only so that VNFs placed there can stay)."""
        tenant = "".join(c if c.isalnum() else "-" for c in tenant_id.lower())
        return (self.prefix + tenant)[:63].strip("-")

    def granted(self, tenant_id: str, namespace: str) -> bool:
        return any(
            fnmatch.fnmatchcase(tenant_id, tenant)
            and any(fnmatch.fnmatchcase(namespace, g) for g in globs)
            for tenant, globs in self.grants
        )

    def check(self, tenant_id: str, namespace: str, *, legacy: bool = False) -> None:
        """``legacy``: the VNF is already placed, so the tenant's namespace as
        earlier versions derived it is its own too (never a forbidden one)."""
        if namespace == self.record_namespace:
            raise NamespaceRefused(
                f"namespace {namespace!r} holds the worker's records; no VNF may use it"
            )
        for pattern in self.forbidden:
            if fnmatch.fnmatchcase(namespace, pattern):
                raise NamespaceRefused(
                    f"namespace {namespace!r} is forbidden to every VNF "
                    f"([kubernetes] forbidden_namespaces: {pattern})"
                )
        if self.registered:
            if namespace == self.default or self.granted(tenant_id, namespace):
                return
            raise NamespaceRefused(
                f"namespace {namespace!r} is not granted to this tenant on this VIM "
                "(its registration's namespaces; update_vim grants others)"
            )
        if namespace == self.derived(tenant_id):
            return
        if legacy and namespace == self.legacy_derived(tenant_id):
            return
        if self.prefix and namespace.startswith(self.prefix):
            raise NamespaceRefused(
                f"namespace {namespace!r} is reserved for another tenant "
                f"(this tenant's own is {self.derived(tenant_id)!r})"
            )
        if not self.granted(tenant_id, namespace):
            raise NamespaceRefused(
                f"namespace {namespace!r} is not granted to this tenant "
                f"(its own is {self.derived(tenant_id)!r}; an operator grants others "
                "with [kubernetes] tenant_namespaces)"
            )


_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def tenant_label_value(tenant_id: str) -> str:
    """The value of the tenant label for ``tenant_id``: the id itself when it is
    a valid label value, else ``h.<40 hex of its sha256>`` (a dot-free id of 63
    characters or fewer is never changed, and no valid id starts ``h.`` and is
    42 characters of that shape, so two tenants never share a value)."""
    if (
        len(tenant_id) <= NAME_MAX
        and _LABEL_VALUE.match(tenant_id)
        and not re.fullmatch(r"h\.[0-9a-f]{40}", tenant_id)
    ):
        return tenant_id
    return "h." + hashlib.sha256(tenant_id.encode("utf-8")).hexdigest()[:40]
