"""A VIM's credentials as the kubeconfig text helm reads (written 0600 for one
call by :class:`~k8s_worker.helm.runner.HelmRunner`, never logged)."""

from __future__ import annotations

import base64
from typing import Any

import yaml

from k8s_worker.kube.client import EndpointCredentials


def _b64(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return base64.b64encode(data).decode()


def _document(server: str, cluster: dict[str, Any], user: dict[str, Any]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "vim", "cluster": {"server": server, **cluster}}],
            "users": [{"name": "worker", "user": user}],
            "contexts": [{"name": "vim", "context": {"cluster": "vim", "user": "worker"}}],
            "current-context": "vim",
        }
    )


def from_credentials(creds: EndpointCredentials) -> str:
    """A registered VIM's kubeconfig."""
    cluster: dict[str, Any] = (
        {"insecure-skip-tls-verify": True}
        if creds.insecure
        else {"certificate-authority-data": _b64(creds.ca_pem or "")}
    )
    user: dict[str, Any] = {}
    if creds.bearer_token:
        user["token"] = creds.bearer_token
    if creds.client_cert_pem and creds.client_key_pem:
        user["client-certificate-data"] = _b64(creds.client_cert_pem)
        user["client-key-data"] = _b64(creds.client_key_pem)
    return _document(creds.url, cluster, user)


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    with open(path, "rb") as handle:
        return handle.read()


def from_configuration(configuration: Any) -> str:
    """The worker's own cluster (a kubernetes_asyncio Configuration, loaded
    from its kubeconfig or in-cluster) as a kubeconfig; blocking (reads the
    CA and key files the client was configured with)."""
    cluster: dict[str, Any] = {}
    ca = _read(getattr(configuration, "ssl_ca_cert", None))
    if ca:
        cluster["certificate-authority-data"] = _b64(ca)
    if not getattr(configuration, "verify_ssl", True):
        cluster = {"insecure-skip-tls-verify": True}
    user: dict[str, Any] = {}
    cert, key = (
        _read(getattr(configuration, "cert_file", None)),
        _read(getattr(configuration, "key_file", None)),
    )
    if cert and key:
        user["client-certificate-data"] = _b64(cert)
        user["client-key-data"] = _b64(key)
    token = (getattr(configuration, "api_key", None) or {}).get("authorization") or (
        getattr(configuration, "api_key", None) or {}
    ).get("BearerToken")
    if token:
        user["token"] = str(token).removeprefix("Bearer ").strip()
    return _document(str(configuration.host), cluster, user)
