"""Reading and writing registered VIMs: the ``Vim`` resources of the record
namespace and their credential Secrets, with compare-and-swap writes.

The Secret is written before the resource that names it and deleted after it;
credentials are read from it only to open a connection, and never returned.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

from k8s_worker.kube import KINDS, Kube, KubeConflict, KubeNotFound
from k8s_worker.kube.client import EndpointCredentials
from k8s_worker.vims.model import (
    VimRecord,
    VimRegistration,
    credentials_secret_name,
    vim_resource_name,
)

VIM = KINDS["Vim"]
SECRET = KINDS["Secret"]
#: The keys of a credentials Secret.
TOKEN_KEY, CERT_KEY, KEY_KEY = "bearer_token", "client_cert", "client_key"
LABEL_VIM = "tacker.openstack.org/vim"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class VimStore:
    """The VIMs registered in one namespace (the record namespace of the home
    cluster).  ``create`` raises KubeConflict when the VIM exists; ``mutate``
    re-reads and re-decides on a lost compare-and-swap."""

    def __init__(self, kube: Kube, *, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace

    async def get(self, vim_id: str) -> VimRecord | None:
        obj = await self.kube.get_or_none(
            VIM, name=vim_resource_name(vim_id), namespace=self.namespace
        )
        if obj is None or (obj.get("spec") or {}).get("vimId") != vim_id:
            return None
        return VimRecord(obj)

    async def list(self) -> list[VimRecord]:
        items, _ = await self.kube.list(VIM, namespace=self.namespace)
        return [VimRecord(o) for o in items]

    def _secret(
        self, vim_id: str, credentials: dict[str, str], labels: dict[str, str]
    ) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": credentials_secret_name(vim_id),
                "namespace": self.namespace,
                "labels": {**labels, LABEL_VIM: "credentials"},
            },
            "type": "Opaque",
            "data": {k: _b64(v) for k, v in sorted(credentials.items()) if v},
        }

    async def create(
        self, registration: VimRegistration, *, credentials: dict[str, str], labels: dict[str, str]
    ) -> VimRecord:
        """The resource first (KubeConflict when a VIM of that id is registered:
        nothing else is touched), then its credentials Secret, owned by it (the
        garbage collector removes it with the resource); a failed Secret write
        withdraws the resource."""
        record = VimRecord.new(namespace=self.namespace, registration=registration, labels=labels)
        status = record.obj.pop("status")
        created = VimRecord(await self.kube.create(record.obj))
        secret = self._secret(registration.vim_id, credentials, labels)
        meta = created.obj["metadata"]
        secret["metadata"]["ownerReferences"] = [
            {
                "apiVersion": created.obj["apiVersion"],
                "kind": "Vim",
                "name": meta["name"],
                "uid": meta.get("uid", ""),
            }
        ]
        try:
            try:
                await self.kube.create(secret)
            except KubeConflict:  # left by a VIM of this id deleted before: ours now
                await self.replace_credentials(registration.vim_id, credentials)
            created.obj["status"] = status
            return await self.write_status(created)
        except BaseException:
            await self.delete(created)
            raise

    async def write_status(self, record: VimRecord) -> VimRecord:
        return VimRecord(await self.kube.replace(record.obj, subresource="status"))

    async def write_spec(self, record: VimRecord) -> VimRecord:
        return VimRecord(await self.kube.replace(record.obj))

    async def replace_credentials(self, vim_id: str, credentials: dict[str, str]) -> None:
        data: dict[str, str | None] = {
            key: _b64(credentials[key]) if credentials.get(key) else None
            for key in (TOKEN_KEY, CERT_KEY, KEY_KEY)
        }
        await self.kube.patch(
            SECRET,
            name=credentials_secret_name(vim_id),
            namespace=self.namespace,
            patch={"data": data},
        )

    async def credentials(self, record: VimRecord) -> EndpointCredentials:
        """The endpoint, CA and credentials to connect with (KubeNotFound when
        the Secret is gone)."""
        reg = record.registration
        obj = await self.kube.get(
            SECRET, name=credentials_secret_name(reg.vim_id), namespace=self.namespace
        )
        data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
        return EndpointCredentials(
            url=reg.auth_url,
            ca_pem=reg.ssl_ca_cert,
            bearer_token=data.get(TOKEN_KEY),
            client_cert_pem=data.get(CERT_KEY),
            client_key_pem=data.get(KEY_KEY),
            insecure=reg.insecure,
        )

    async def mutate(
        self, vim_id: str, change: Callable[[VimRecord], bool | Awaitable[bool]], *, status: bool
    ) -> VimRecord | None:
        """Apply ``change`` to the freshest record and write it (spec or status)
        until no other writer came in between; None when the VIM is gone."""
        for _ in range(20):
            record = await self.get(vim_id)
            if record is None:
                return None
            result = change(record)
            if not isinstance(result, bool):
                result = await result
            if not result:
                return record
            try:
                return await (self.write_status(record) if status else self.write_spec(record))
            except KubeConflict:
                continue
            except KubeNotFound:
                return None
        raise KubeConflict(f"VIM {vim_id}: still racing after 20 writes", status=409)

    async def delete(self, record: VimRecord) -> None:
        body = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "preconditions": {"resourceVersion": record.obj["metadata"]["resourceVersion"]},
        }
        try:
            await self.kube.request(
                "DELETE", VIM.path(namespace=self.namespace, name=record.name), body=body
            )
        except KubeNotFound:
            pass
        try:
            await self.kube.delete(
                SECRET, name=credentials_secret_name(record.vim_id), namespace=self.namespace
            )
        except KubeNotFound:
            pass
