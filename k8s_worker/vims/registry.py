"""The VIM registry's rules: who may register, update, see and use a VIM, and
what a registration must pass (``validate``) before anything is stored.

Callers (the RPC endpoint) pass who is asking; every refusal is a contract
exception (VimNotFound, VimRefused, VimInUse, Forbidden) and leaves nothing
behind.  Credentials enter here and leave only into the VIM's Secret.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from oslo_config import cfg

from k8s_worker.kube import KubeConflict
from k8s_worker.kube.client import EndpointCredentials
from k8s_worker.tenancy import tenant_label_value
from k8s_worker.vims.model import DEFAULT_VIM_ID, VimRecord, VimRegistration
from k8s_worker.vims.store import CERT_KEY, KEY_KEY, TOKEN_KEY, VimStore
from k8s_worker.vims.validate import (
    EndpointRules,
    VimFacts,
    normalized_endpoint,
    validate_vim,
)
from rpc.exceptions import Forbidden, InvalidArguments, VimInUse, VimNotFound, VimRefused

LOG = structlog.get_logger(__name__)
TENANT_LABEL = "tacker.openstack.org/tenant-id"
MANAGED = {"app.kubernetes.io/managed-by": "tacker-k8s-worker"}
#: Tacker v2's vimType values this worker serves.
VIM_TYPES = ("kubernetes", "ETSINFV.KUBERNETES.V_1", "ETSINFV.HELM.V_3")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class VimSettings:
    """The ``[vim]`` options as the registry uses them."""

    endpoints: EndpointRules = field(default_factory=EndpointRules)
    tenant_registration: bool = False
    allow_insecure: bool = False
    validation_timeout: float = 10.0
    probe_interval: float = 5.0

    def admit(self, record: VimRecord) -> None:
        """VimRefused when a stored registration may not be connected to under
        these settings (its endpoint no longer allowed, or it is insecure and
        insecure VIMs are no longer accepted)."""
        reg = record.registration
        self.endpoints.check(reg.auth_url)
        if reg.insecure and not self.allow_insecure:
            raise VimRefused(
                f"VIM {reg.vim_id} is insecure and [vim] allow_insecure is off",
                reason="CertificateRequired",
                vim_id=reg.vim_id,
            )

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> VimSettings:
        v = conf.vim
        return cls(
            endpoints=EndpointRules(tuple(v.allowed_endpoints)),
            tenant_registration=v.tenant_registration,
            allow_insecure=v.allow_insecure,
            validation_timeout=v.validation_timeout,
            probe_interval=v.probe_interval,
        )


@dataclass(frozen=True)
class Caller:
    """Who asks: an admin, or a project (``tenant_id``)."""

    tenant_id: str | None
    admin: bool = False


Validator = Callable[..., Awaitable[VimFacts]]


def _credentials_of(args: dict[str, Any], *, vim_id: str) -> dict[str, str]:
    """The credentials of a registration, checked for shape (one kind, whole)."""
    if args.get("username") or args.get("password"):
        raise VimRefused(
            f"VIM {vim_id}: username/password credentials are not supported; give a "
            "bearer_token or a client certificate and key",
            reason="InvalidCredentials",
            vim_id=vim_id,
        )
    token = args.get("bearer_token")
    cert, key = args.get("client_cert"), args.get("client_key")
    if token and (cert or key):
        raise VimRefused(
            f"VIM {vim_id}: give either a bearer_token or a client certificate, not both",
            reason="InvalidCredentials",
            vim_id=vim_id,
        )
    if token:
        return {TOKEN_KEY: str(token)}
    if cert and key:
        return {CERT_KEY: str(cert), KEY_KEY: str(key)}
    raise VimRefused(
        f"VIM {vim_id}: no credentials (bearer_token, or client_cert with client_key)",
        reason="InvalidCredentials",
        vim_id=vim_id,
    )


def _grants(value: Any, *, tenant_id: str) -> dict[str, tuple[str, ...]]:
    """``namespaces``: a list (granted to the registering tenant) or a map
    tenant -> list."""
    if value is None:
        return {}
    raw = {tenant_id: value} if isinstance(value, list) else value
    if not isinstance(raw, dict):
        raise InvalidArguments("namespaces: must be a list or an object", field="namespaces")
    out: dict[str, tuple[str, ...]] = {}
    for tenant, names in raw.items():
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise InvalidArguments(
                f"namespaces.{tenant}: must be a list of namespace names", field="namespaces"
            )
        out[str(tenant)] = tuple(names)
    return out


class VimRegistry:
    """Register, update, deregister and read VIMs for callers, by the registry's
    rules (see the module docstring)."""

    def __init__(
        self,
        *,
        store: VimStore,
        settings: VimSettings,
        host: str | None = None,
        validate: Validator = validate_vim,
        in_use: Callable[[str], Awaitable[int]] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.host = host
        self._validate = validate
        self.in_use = in_use  # how many VNFs (not terminated) are on the VIM

    # -- who may ----------------------------------------------------------------
    def _may_register(self, caller: Caller, tenant_id: str, *, shared: bool) -> None:
        if caller.admin:
            return
        if not self.settings.tenant_registration:
            raise Forbidden("only an admin may register VIMs ([vim] tenant_registration is off)")
        if shared:
            raise Forbidden("only an admin may register a shared VIM", field="shared")
        if caller.tenant_id != tenant_id:
            raise Forbidden(
                f"project {caller.tenant_id!r} may register VIMs only for itself",
                field="tenant_id",
            )

    async def usable(self, vim_id: str, caller: Caller) -> VimRecord:
        """The VIM, if ``caller`` may see and use it; VimNotFound otherwise."""
        record = await self.store.get(vim_id)
        if record is None or not record.registration.usable_by(
            caller.tenant_id or "", admin=caller.admin
        ):
            raise VimNotFound(f"no VIM {vim_id!r}", vim_id=vim_id)
        return record

    async def owned(self, vim_id: str, caller: Caller) -> VimRecord:
        """The VIM, if ``caller`` may change it (its tenant, or an admin)."""
        record = await self.store.get(vim_id)
        if record is None or not (caller.admin or caller.tenant_id == record.tenant_id):
            raise VimNotFound(f"no VIM {vim_id!r}", vim_id=vim_id)
        return record

    # -- checks -----------------------------------------------------------------
    async def _checked(
        self, registration: VimRegistration, credentials: dict[str, str]
    ) -> VimFacts:
        vim_id = registration.vim_id
        if vim_id == DEFAULT_VIM_ID:
            raise InvalidArguments(
                f"vim_id: {DEFAULT_VIM_ID!r} names the worker's own cluster", field="vim_id"
            )
        self.settings.endpoints.check(registration.auth_url)
        if not registration.ssl_ca_cert and not registration.insecure:
            raise VimRefused(
                f"VIM {vim_id}: no ssl_ca_cert: the API server's certificate could not be "
                "verified (TLS is always verified unless [vim] allow_insecure is on and the "
                "registration asks for insecure)",
                reason="CertificateRequired",
                vim_id=vim_id,
            )
        if registration.insecure and not self.settings.allow_insecure:
            raise VimRefused(
                f"VIM {vim_id}: insecure VIMs are not allowed ([vim] allow_insecure)",
                reason="CertificateRequired",
                vim_id=vim_id,
            )
        for namespace in [registration.default_namespace or ""]:
            if namespace and not _DNS_LABEL.match(namespace):
                raise InvalidArguments(
                    "default_namespace: must be a DNS-1123 label", field="default_namespace"
                )
        creds = EndpointCredentials(
            url=registration.auth_url,
            ca_pem=registration.ssl_ca_cert,
            bearer_token=credentials.get(TOKEN_KEY),
            client_cert_pem=credentials.get(CERT_KEY),
            client_key_pem=credentials.get(KEY_KEY),
            insecure=registration.insecure,
        )
        return await self._validate(
            creds,
            namespace=registration.default_namespace,
            within=self.settings.validation_timeout,
            host=self.host,
            vim_id=vim_id,
        )

    # -- the calls --------------------------------------------------------------
    async def register(self, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
        """A new VIM, validated with its credentials, then stored; VimRefused
        (VimExists) when the id is taken."""
        vim_id = str(args["vim_id"])
        tenant_id = str(args.get("tenant_id") or caller.tenant_id or "")
        shared = bool(args.get("shared"))
        self._may_register(caller, tenant_id, shared=shared)
        grants = _grants(args.get("namespaces"), tenant_id=tenant_id)
        if not caller.admin and set(grants) - {tenant_id}:
            raise Forbidden("a tenant may grant namespaces only to itself", field="namespaces")
        self.settings.endpoints.check(str(args["auth_url"]))
        registration = VimRegistration(
            vim_id=vim_id,
            name=str(args.get("name") or vim_id),
            tenant_id=tenant_id,
            auth_url=normalized_endpoint(str(args["auth_url"])),
            ssl_ca_cert=args.get("ssl_ca_cert") or None,
            shared=shared,
            insecure=bool(args.get("insecure")),
            default_namespace=args.get("default_namespace") or None,
            grants=grants,
            auth="token" if args.get("bearer_token") else "client-cert",
            by_tenant=not caller.admin,
        )
        credentials = _credentials_of(args, vim_id=vim_id)
        if await self.store.get(vim_id) is not None:
            raise VimRefused(
                f"VIM {vim_id} is registered already", reason="VimExists", vim_id=vim_id
            )
        facts = await self._checked(registration, credentials)
        labels = {**MANAGED, TENANT_LABEL: tenant_label_value(tenant_id)}
        try:
            record = await self.store.create(registration, credentials=credentials, labels=labels)
        except KubeConflict:
            raise VimRefused(
                f"VIM {vim_id} is registered already", reason="VimExists", vim_id=vim_id
            ) from None
        LOG.info(
            "vim.registered", vim_id=vim_id, tenant_id=tenant_id, endpoint=registration.auth_url
        )
        return self.describe(record, warning=facts.warning, version=facts.version)

    async def update(self, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
        """New credentials (validated before they replace the old ones), grants,
        default namespace or name."""
        vim_id = str(args["vim_id"])
        record = await self.owned(vim_id, caller)
        current = record.registration
        if not caller.admin and not (self.settings.tenant_registration and current.by_tenant):
            # An admin's registration (its credentials, its grants) is the admin's to change.
            raise Forbidden(
                "only an admin may change a VIM an admin registered"
                + (
                    ""
                    if self.settings.tenant_registration
                    else " ([vim] tenant_registration is off)"
                )
            )
        changes: dict[str, Any] = {}
        if args.get("name"):
            changes["name"] = str(args["name"])
        if args.get("ssl_ca_cert"):
            changes["ssl_ca_cert"] = str(args["ssl_ca_cert"])
        if args.get("default_namespace"):
            changes["default_namespace"] = str(args["default_namespace"])
        if args.get("namespaces") is not None:
            grants = _grants(args["namespaces"], tenant_id=current.tenant_id)
            if not caller.admin and set(grants) - {current.tenant_id}:
                raise Forbidden("a tenant may grant namespaces only to itself", field="namespaces")
            changes["grants"] = grants
        new_creds = None
        if any(
            args.get(k)
            for k in ("bearer_token", "client_cert", "client_key", "username", "password")
        ):
            new_creds = _credentials_of(args, vim_id=vim_id)
            changes["auth"] = "token" if TOKEN_KEY in new_creds else "client-cert"
        registration = replace(current, **changes)
        if new_creds is None:
            old = await self.store.credentials(record)
            probe_creds = {
                TOKEN_KEY: old.bearer_token or "",
                CERT_KEY: old.client_cert_pem or "",
                KEY_KEY: old.client_key_pem or "",
            }
        else:
            probe_creds = new_creds
        facts = await self._checked(registration, probe_creds)
        if new_creds is not None:
            await self.store.replace_credentials(vim_id, new_creds)

        def change(rec: VimRecord) -> bool:
            # The changes asked for, onto the registration as it is now (another
            # update may have landed during the validation).
            spec = replace(rec.registration, **changes).spec()
            rotation = int(rec.obj["spec"].get("credentialsGeneration") or 0)
            spec["credentialsGeneration"] = rotation + (1 if new_creds is not None else 0)
            rec.obj["spec"] = spec
            return True

        updated = await self.store.mutate(vim_id, change, status=False)
        if updated is None:
            raise VimNotFound(f"no VIM {vim_id!r}", vim_id=vim_id)
        LOG.info("vim.updated", vim_id=vim_id, credentials=new_creds is not None)
        return self.describe(updated, warning=facts.warning, version=facts.version)

    async def deregister(self, caller: Caller, vim_id: str) -> None:
        record = await self.owned(vim_id, caller)
        users = await self.in_use(vim_id) if self.in_use is not None else 0
        if users:
            raise VimInUse(
                f"VIM {vim_id} is used by {users} VNF(s); terminate them first",
                vim_id=vim_id,
                vnfs=users,
            )
        for _ in range(10):
            try:
                await self.store.delete(record)
                break
            except KubeConflict:  # a health write came in between: read again
                record = await self.owned(vim_id, caller)
        else:
            raise VimRefused(
                f"VIM {vim_id}: still changing; try again", reason="Busy", vim_id=vim_id
            )
        LOG.info("vim.deregistered", vim_id=vim_id)

    async def get(self, caller: Caller, vim_id: str) -> dict[str, Any]:
        return self.describe(await self.usable(vim_id, caller), caller=caller)

    async def list(self, caller: Caller) -> list[dict[str, Any]]:
        return [
            self.describe(r, caller=caller)
            for r in await self.store.list()
            if r.registration.usable_by(caller.tenant_id or "", admin=caller.admin)
        ]

    @staticmethod
    def describe(
        record: VimRecord,
        *,
        warning: str | None = None,
        version: str | None = None,
        caller: Caller | None = None,
    ) -> dict[str, Any]:
        reg = record.registration
        mine = caller is None or caller.admin or caller.tenant_id == reg.tenant_id
        out = reg.public(for_tenant=None if mine else caller.tenant_id if caller else None)
        out["status"] = str(record.health)
        out["reason"] = record.reason
        out["version"] = version or (record.obj.get("status") or {}).get("version")
        if warning:
            out["warning"] = warning
        return out

    # -- Tacker v2's vim_connection_info ------------------------------------------
    async def from_connection_info(
        self, caller: Caller, info: Any, *, tenant_id: str, namespace: str | None
    ) -> str:
        """The VIM a ``vim_connection_info`` names (Tacker v2's map of name ->
        entry, or one entry): registered or refreshed first when the entry
        carries credentials.  Returns its vim_id."""
        entries = _connection_entries(info)
        if len(entries) != 1:
            raise InvalidArguments(
                f"vim_connection_info: has {len(entries)} entries; one Kubernetes VIM is "
                "supported per VNF",
                field="vim_connection_info",
            )
        key, entry = entries[0]
        path = f"vim_connection_info.{key}" if key else "vim_connection_info"
        vim_id = entry.get("vimId")
        if not isinstance(vim_id, str) or not vim_id:
            raise InvalidArguments(f"{path}.vimId: is required", field=f"{path}.vimId")
        vim_type = entry.get("vimType", "kubernetes")
        if vim_type not in VIM_TYPES:
            raise InvalidArguments(
                f"{path}.vimType: must be one of " + ", ".join(VIM_TYPES), field=f"{path}.vimType"
            )
        access = entry.get("accessInfo") or {}
        interface = entry.get("interfaceInfo") or {}
        if not isinstance(access, dict) or not isinstance(interface, dict):
            raise InvalidArguments(
                f"{path}: accessInfo and interfaceInfo must be objects", field=path
            )
        if not access and not interface:
            await self.usable(vim_id, caller)
            return vim_id
        endpoint = interface.get("endpoint")
        if not isinstance(endpoint, str) or not endpoint:
            raise InvalidArguments(
                f"{path}.interfaceInfo.endpoint: is required with accessInfo",
                field=f"{path}.interfaceInfo.endpoint",
            )
        args: dict[str, Any] = {
            "vim_id": vim_id,
            "name": key or vim_id,
            "tenant_id": tenant_id,
            "auth_url": endpoint,
            "ssl_ca_cert": interface.get("ssl_ca_cert") or access.get("ssl_ca_cert"),
            "bearer_token": access.get("bearer_token"),
            "client_cert": access.get("client_cert"),
            "client_key": access.get("client_key"),
            "username": access.get("username"),
            "password": access.get("password"),
            "default_namespace": (
                (entry.get("extra") or {}).get("namespace")
                if isinstance(entry.get("extra"), dict)
                else None
            )
            or namespace
            or "default",
        }
        existing = await self.store.get(vim_id)
        if existing is None:
            await self.register(caller, args)
            return vim_id
        record = await self.usable(vim_id, caller)
        current = await self.store.credentials(record)
        same_endpoint = record.registration.auth_url == normalized_endpoint(endpoint)
        if (
            same_endpoint
            and (access.get("bearer_token") or None) == current.bearer_token
            and (access.get("client_cert") or None) == current.client_cert_pem
        ):
            return vim_id  # the same credentials: nothing to refresh
        record = await self.owned(vim_id, caller)  # a refresh is its tenant's or an admin's
        if not same_endpoint:
            raise VimRefused(
                f"VIM {vim_id} is registered with another endpoint; use update_vim",
                reason="VimExists",
                vim_id=vim_id,
            )
        update = {
            k: v
            for k, v in args.items()
            if k not in ("tenant_id", "auth_url", "default_namespace", "name")
        }
        await self.update(caller, update)
        return vim_id


def _connection_entries(info: Any) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(info, dict) or not info:
        raise InvalidArguments(
            "vim_connection_info: must be an object (name -> entry, or one entry)",
            field="vim_connection_info",
        )
    if "vimId" in info or "vimType" in info:
        return [("", info)]
    entries = []
    for key, entry in info.items():
        if not isinstance(entry, dict):
            raise InvalidArguments(
                f"vim_connection_info.{key}: must be an object", field=f"vim_connection_info.{key}"
            )
        entries.append((str(key), entry))
    return entries
