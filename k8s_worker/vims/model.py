"""A registered VIM as stored: the ``Vim`` custom resource's typed owner.

The resource holds what is public about a VIM (who registered it, its API
server's URL and CA, the namespaces it grants to each tenant) and its health;
the credentials are in a Secret it names, and never in the resource.
"""

from __future__ import annotations

import copy
import enum
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from k8s_worker.kube.kinds import VNF_GROUP, VNF_VERSION

#: The worker's own cluster (its kubeconfig): the VIM of every VNF that names none.
DEFAULT_VIM_ID = "default"
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class VimHealth(enum.StrEnum):
    """A VIM's health as its owner replica last judged it."""

    UNKNOWN = "UNKNOWN"
    REACHABLE = "REACHABLE"
    UNREACHABLE = "UNREACHABLE"


def vim_resource_name(vim_id: str) -> str:
    """``vim-<id>`` when that is a DNS label (Tacker's UUIDs give one), else
    ``vim.<sha256[:32]>`` (a label has no dot, so no id squats another's name)."""
    name = f"vim-{vim_id}"
    if len(name) <= 63 and _DNS1123_LABEL.fullmatch(name):
        return name
    return "vim." + hashlib.sha256(vim_id.encode()).hexdigest()[:32]


def credentials_secret_name(vim_id: str) -> str:
    return vim_resource_name(vim_id) + "-credentials"


@dataclass(frozen=True)
class VimRegistration:
    """What a VIM's registration says, minus its credentials.

    ``grants`` maps a tenant to the namespace patterns it may use there (the
    registering tenant always has ``default_namespace``); ``shared``: every
    tenant may place VNFs on it (granted namespaces still apply).
    """

    vim_id: str
    name: str
    tenant_id: str
    auth_url: str
    ssl_ca_cert: str | None = None
    shared: bool = False
    insecure: bool = False
    default_namespace: str | None = None
    grants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    auth: str = "token"  # or "client-cert": which kind of credential the Secret holds
    by_tenant: bool = False  # registered by its tenant (not an admin), with its own credentials

    def namespaces_of(self, tenant_id: str) -> tuple[str, ...]:
        """The namespace patterns ``tenant_id`` may use on this VIM."""
        own = (self.default_namespace,) if self.default_namespace else ()
        granted = self.grants.get(tenant_id, ()) + self.grants.get("*", ())
        if tenant_id == self.tenant_id:
            return own + granted
        return granted

    def usable_by(self, tenant_id: str, *, admin: bool = False) -> bool:
        return admin or self.shared or tenant_id == self.tenant_id

    def spec(self) -> dict[str, Any]:
        return {
            "vimId": self.vim_id,
            "name": self.name,
            "tenantId": self.tenant_id,
            "authUrl": self.auth_url,
            "sslCaCert": self.ssl_ca_cert,
            "shared": self.shared,
            "insecure": self.insecure,
            "defaultNamespace": self.default_namespace,
            "grants": {t: list(ns) for t, ns in sorted(self.grants.items())},
            "auth": self.auth,
            "byTenant": self.by_tenant,
            "credentialsSecret": credentials_secret_name(self.vim_id),
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> VimRegistration:
        return cls(
            vim_id=spec["vimId"],
            name=spec.get("name") or "",
            tenant_id=spec["tenantId"],
            auth_url=spec["authUrl"],
            ssl_ca_cert=spec.get("sslCaCert"),
            shared=bool(spec.get("shared")),
            insecure=bool(spec.get("insecure")),
            default_namespace=spec.get("defaultNamespace"),
            grants={t: tuple(ns) for t, ns in (spec.get("grants") or {}).items()},
            auth=spec.get("auth") or "token",
            by_tenant=bool(spec.get("byTenant")),
        )

    def public(self, *, for_tenant: str | None = None) -> dict[str, Any]:
        """What ``get_vim`` answers (no credential; the CA is public); with
        ``for_tenant``, only the grants of that tenant (a shared VIM's others'
        are not its business)."""
        grants = self.grants
        if for_tenant is not None:
            grants = {t: ns for t, ns in grants.items() if t in (for_tenant, "*")}
        return {
            "vim_id": self.vim_id,
            "name": self.name,
            "tenant_id": self.tenant_id,
            "shared": self.shared,
            "auth_url": self.auth_url,
            "vim_type": "kubernetes",
            "auth": self.auth,
            "insecure": self.insecure,
            "default_namespace": self.default_namespace,
            "namespaces": {t: list(ns) for t, ns in sorted(grants.items())},
        }


#: Health events a Vim resource keeps while the broker is away (beyond them the
#: oldest go: a gap the sequence shows).
OUTBOX_MAX = 1000


class VimRecord:
    """One ``Vim`` custom resource: its registration (spec) and its health, the
    per-VIM notification sequence and the events not yet published (status)."""

    API_VERSION = f"{VNF_GROUP}/{VNF_VERSION}"

    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = obj

    @classmethod
    def new(
        cls, *, namespace: str, registration: VimRegistration, labels: dict[str, str]
    ) -> VimRecord:
        return cls(
            {
                "apiVersion": cls.API_VERSION,
                "kind": "Vim",
                "metadata": {
                    "name": vim_resource_name(registration.vim_id),
                    "namespace": namespace,
                    "labels": dict(labels),
                },
                "spec": registration.spec(),
                "status": {"health": str(VimHealth.UNKNOWN), "sequence": 0, "outbox": []},
            }
        )

    def copy(self) -> VimRecord:
        return VimRecord(copy.deepcopy(self.obj))

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def registration(self) -> VimRegistration:
        return VimRegistration.from_spec(self.obj["spec"])

    @property
    def vim_id(self) -> str:
        return str(self.obj["spec"]["vimId"])

    @property
    def tenant_id(self) -> str:
        return str(self.obj["spec"]["tenantId"])

    @property
    def _st(self) -> dict[str, Any]:
        return self.obj.setdefault("status", {})

    @property
    def health(self) -> VimHealth:
        try:
            return VimHealth(self._st.get("health") or "UNKNOWN")
        except ValueError:
            return VimHealth.UNKNOWN

    @property
    def reason(self) -> str | None:
        return self._st.get("reason")

    @property
    def sequence(self) -> int:
        return int(self._st.get("sequence") or 0)

    @property
    def outbox(self) -> list[dict[str, Any]]:
        return list(self._st.get("outbox") or [])

    def set_health(
        self, health: VimHealth, *, reason: str | None, now: str
    ) -> dict[str, Any] | None:
        """Record a transition and queue its ``vim.status.update`` (returned);
        None when the health is unchanged."""
        old = self.health
        if health == old:
            return None
        seq = self.sequence + 1
        event = {
            "vim_id": self.vim_id,
            "tenant_id": self.tenant_id,
            "old_status": str(old),
            "status": str(health),
            "reason": reason,
            "sequence": seq,
            "timestamp": now,
        }
        st = self._st
        st.update(health=str(health), reason=reason, sequence=seq, changedAt=now)
        st["outbox"] = [*self.outbox, event][-OUTBOX_MAX:]
        return event

    def published(self, sequence: int) -> None:
        """The events up to ``sequence`` reached the broker."""
        self._st["outbox"] = [e for e in self.outbox if int(e.get("sequence", 0)) > sequence]

    def note_version(self, version: str | None) -> None:
        if version:
            self._st["version"] = version
