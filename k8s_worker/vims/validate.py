"""What a VIM registration must pass before anything is stored.

The API server URL must match ``[vim] allowed_endpoints`` (so a tenant cannot
make the worker connect anywhere); TLS is verified with the CA given (no
silent insecure fallback); and, with the credentials given, the API server
must answer, accept them and grant every permission the worker uses there,
all within ``[vim] validation_timeout``.  A refusal names what is wrong.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import fnmatch
import ipaddress
import json
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import structlog

from k8s_worker.kube import KINDS, Kube, KubeError, KubeRejected
from k8s_worker.kube.client import EndpointCredentials, make_endpoint_client
from k8s_worker.preflight import Permission
from rpc.exceptions import VimRefused

LOG = structlog.get_logger(__name__)
#: A token expiring sooner than this is warned about at registration.
EXPIRY_WARNING_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class EndpointRules:
    """``[vim] allowed_endpoints``: patterns ``host``, ``host:port``, ``*.domain``
    or a CIDR (``10.0.0.0/8``, ``127.0.0.1/32:16444``).  Empty: no registered VIM
    is allowed at all.  ``check`` raises VimRefused (EndpointNotAllowed)."""

    allowed: tuple[str, ...] = ()

    def check(self, url: str) -> tuple[str, int]:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise VimRefused(
                "the VIM endpoint is not an https:// URL of an API server",
                reason="EndpointNotAllowed",
            )
        if "@" in parts.netloc or parts.query or parts.fragment:
            # Credentials go in their own fields, never in a URL that is shown.
            raise VimRefused(
                "the VIM endpoint must not carry a user, password, query or fragment",
                reason="EndpointNotAllowed",
            )
        host = parts.hostname.lower()
        try:
            port = parts.port or 443
        except ValueError:
            raise VimRefused(
                f"the VIM endpoint {url!r} has a bad port", reason="EndpointNotAllowed"
            ) from None
        for pattern in self.allowed:
            if _matches(pattern.strip().lower(), host, port):
                return host, port
        raise VimRefused(
            f"the VIM endpoint {host}:{port} is not allowed ([vim] allowed_endpoints)",
            reason="EndpointNotAllowed",
        )


def normalized_endpoint(url: str) -> str:
    """``https://host:port[/path]`` (lower-case host, explicit port, no trailing
    slash): the form a checked endpoint is stored and compared in."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}:{parts.port or 443}{parts.path.rstrip('/')}"


def _matches(pattern: str, host: str, port: int) -> bool:
    want_port: int | None = None
    if pattern.count(":") == 1 or (pattern.startswith("[") and "]:" in pattern):
        pattern, _, port_text = pattern.rpartition(":")
        try:
            want_port = int(port_text)
        except ValueError:
            return False
    pattern = pattern.strip("[]")
    if want_port is not None and want_port != port:
        return False
    if "/" in pattern:
        try:
            network = ipaddress.ip_network(pattern, strict=False)
            return ipaddress.ip_address(host) in network
        except ValueError:
            return False
    return fnmatch.fnmatchcase(host, pattern)


def vim_permissions(namespace: str | None) -> list[Permission]:
    """What the worker does on a registered VIM (its VNFs' objects, watched in
    every namespace; written in ``namespace``, the VIM's default one)."""
    perms = [Permission(v, "pods", "", None) for v in ("list", "watch")]
    perms += [Permission(v, "deployments", "apps", None) for v in ("list", "watch")]
    perms.append(Permission("get", "namespaces"))
    perms.append(Permission("delete", "pods", "", namespace))
    perms += [
        Permission(v, "deployments", "apps", namespace)
        for v in ("get", "create", "patch", "delete")
    ]
    perms.append(Permission("patch", "deployments", "apps", namespace, subresource="scale"))
    perms.append(Permission("list", "replicasets", "apps", namespace))
    for resource in ("services", "configmaps", "secrets"):
        perms += [
            Permission(v, resource, "", namespace)
            for v in ("get", "list", "create", "patch", "delete")
        ]
    return perms


def token_expiry(token: str) -> float | None:
    """The ``exp`` of a JWT bearer token (unverified: only to warn), if it has one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


@dataclass(frozen=True)
class VimFacts:
    """What validation learnt: the API server's version, and a warning (a token
    about to expire) when there is one."""

    version: str
    warning: str | None = None


async def validate_vim(
    creds: EndpointCredentials,
    *,
    namespace: str | None,
    within: float,
    host: str | None = None,
    vim_id: str = "",
) -> VimFacts:
    """Reach the API server with ``creds`` and check it grants what the worker
    needs; VimRefused naming the failure (reason Unauthorized for a 401,
    PermissionMissing with the permissions missing, Unreachable, ...)."""
    try:
        api = await make_endpoint_client(creds, host=host, pool_size=8)
    except (ssl.SSLError, ValueError) as exc:
        raise VimRefused(
            f"VIM {vim_id}: the CA certificate or client key cannot be used ({type(exc).__name__})",
            reason="InvalidCredentials",
            vim_id=vim_id,
        ) from None
    kube = Kube(api, retry_seconds=0.0, request_timeout=within)
    try:
        async with asyncio.timeout(within):
            return await _check(kube, creds=creds, namespace=namespace, vim_id=vim_id)
    except TimeoutError:
        raise VimRefused(
            f"VIM {vim_id}: the API server at {creds.url} did not answer within {within:g} s "
            "([vim] validation_timeout)",
            reason="Unreachable",
            vim_id=vim_id,
        ) from None
    finally:
        await api.close()


async def _check(
    kube: Kube, *, creds: EndpointCredentials, namespace: str | None, vim_id: str
) -> VimFacts:
    try:
        info = await kube.request("GET", "/version", retry=False)
    except KubeRejected as exc:
        raise _rejected(exc, creds=creds, vim_id=vim_id) from None
    except KubeError as exc:
        raise VimRefused(
            f"VIM {vim_id}: cannot reach the API server at {creds.url}: {_cause(exc)}",
            reason="Unreachable",
            vim_id=vim_id,
        ) from None
    perms = vim_permissions(namespace)
    try:
        answers = await asyncio.gather(*(_allowed(kube, p) for p in perms))
    except KubeRejected as exc:
        raise _rejected(exc, creds=creds, vim_id=vim_id) from None
    except KubeError as exc:
        raise VimRefused(
            f"VIM {vim_id}: the API server at {creds.url} failed the access review: {_cause(exc)}",
            reason="Unreachable",
            vim_id=vim_id,
        ) from None
    missing = [str(p) for p, ok in zip(perms, answers, strict=True) if not ok]
    if missing:
        raise VimRefused(
            f"VIM {vim_id}: the credentials lack permissions the worker needs: "
            + "; ".join(missing),
            reason="PermissionMissing",
            vim_id=vim_id,
            missing=missing,
        )
    warning = None
    if creds.bearer_token and (exp := token_expiry(creds.bearer_token)) is not None:
        left = exp - time.time()
        if left < EXPIRY_WARNING_SECONDS:
            warning = f"the VIM's token expires in {max(left, 0) / 3600:.1f} h"
            LOG.warning("vim.token_expiring", vim_id=vim_id, hours=round(max(left, 0) / 3600, 1))
    return VimFacts(version=str((info or {}).get("gitVersion") or ""), warning=warning)


async def _allowed(kube: Kube, p: Permission) -> bool:
    attributes: dict[str, Any] = {"verb": p.verb, "group": p.group, "resource": p.resource}
    if p.subresource:
        attributes["subresource"] = p.subresource
    if p.namespace:
        attributes["namespace"] = p.namespace
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }
    answer = await kube.request(
        "POST", KINDS["SelfSubjectAccessReview"].path(), body=review, retry=False
    )
    return bool(((answer or {}).get("status") or {}).get("allowed"))


def _rejected(exc: KubeRejected, *, creds: EndpointCredentials, vim_id: str) -> VimRefused:
    if exc.status == 401:
        return VimRefused(
            f"VIM {vim_id}: the API server at {creds.url} does not accept the credentials (401)",
            reason="Unauthorized",
            vim_id=vim_id,
        )
    return VimRefused(
        f"VIM {vim_id}: the API server at {creds.url} refused the credentials ({exc.status})",
        reason="CredentialsRefused",
        vim_id=vim_id,
    )


def _cause(exc: BaseException) -> str:
    """The failure without its request path (no query strings, nothing secret)."""
    text = str(exc)
    cause = exc.__cause__
    if (cause is not None and "SSL" in type(cause).__name__) or "CERTIFICATE_VERIFY" in text:
        return "TLS verification failed (is ssl_ca_cert the API server's CA?)"
    return text.split(": ", 1)[-1][:300]
