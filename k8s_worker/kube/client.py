"""An ApiClient from a kubeconfig file, the pod's service account, or (for a
registered VIM) an API server URL with the credentials its registration gave.

Credentials stay inside the client configuration; nothing here logs them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.metadata
import os
import ssl
import tempfile

import aiohttp
from kubernetes_asyncio import client, config


def _version() -> str:
    try:
        return importlib.metadata.version("tacker-k8s-worker")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


#: Read at import (it reads package metadata files), not on the event loop.
VERSION = _version()


def user_agent(host: str) -> str:
    """``tacker-k8s-worker/<version> (<host>)``: the API server's audit log and
    metrics then tell the replicas apart (and from other clients)."""
    return f"tacker-k8s-worker/{VERSION} ({host})"


async def make_api_client(
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    pool_size: int = 64,
    host: str | None = None,
) -> client.ApiClient:
    """An ApiClient for ``kubeconfig`` (or in-cluster config when it is empty);
    with ``host``, its requests name this replica in their User-Agent."""
    configuration = client.Configuration()
    if kubeconfig:
        await config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)
    else:
        await config.load_kube_config(context=context, client_configuration=configuration)
    configuration.connection_pool_maxsize = pool_size
    api = client.ApiClient(configuration=configuration)
    if host:
        api.user_agent = user_agent(host)
    _skip_proxy_lookup(api)
    return api


_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _skip_proxy_lookup(api: client.ApiClient) -> None:
    """kubernetes_asyncio opens its aiohttp session with ``trust_env=True``: every
    request then looks up proxy variables and reads ~/.netrc in a thread (4-6% of
    the worker's CPU under churn, measured by tools/bench scale).  Without proxy
    variables there is nothing to find, so the lookup is switched off."""
    if any(os.environ.get(name) for name in _PROXY_VARS):
        return
    session = getattr(api.rest_client, "pool_manager", None)
    if session is not None and hasattr(session, "_trust_env"):
        session._trust_env = False


@dataclasses.dataclass(frozen=True, repr=False)
class EndpointCredentials:
    """How to reach one API server given by URL (a registered VIM): its CA (PEM,
    required unless ``insecure``), and a bearer token or a client certificate and
    key (PEM).  ``repr`` names which kind it is, never a value."""

    url: str
    ca_pem: str | None = None
    bearer_token: str | None = None
    client_cert_pem: str | None = None
    client_key_pem: str | None = None
    insecure: bool = False

    def __repr__(self) -> str:
        kind = "token" if self.bearer_token else "client-cert" if self.client_cert_pem else "none"
        return f"EndpointCredentials(url={self.url!r}, auth={kind}, insecure={self.insecure})"


def _ssl_context(creds: EndpointCredentials) -> ssl.SSLContext:
    """Blocking (a client key is loaded from a private temporary file, removed at
    once: the ssl module reads keys from files only)."""
    if creds.insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cadata=creds.ca_pem or None)
    if creds.client_cert_pem and creds.client_key_pem:
        with tempfile.TemporaryDirectory(prefix="tkw-vim-") as folder:
            cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
            for path, text in ((cert, creds.client_cert_pem), (key, creds.client_key_pem)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(text)
            context.load_cert_chain(cert, keyfile=key)
    return context


async def make_endpoint_client(
    creds: EndpointCredentials, *, pool_size: int = 16, host: str | None = None
) -> client.ApiClient:
    """An ApiClient for one API server URL with the given credentials (no
    kubeconfig, no environment).  Raises ValueError when a CA or key cannot be
    used, ssl.SSLError when they do not parse."""
    configuration = client.Configuration()
    configuration.host = creds.url.rstrip("/")
    configuration.connection_pool_maxsize = pool_size
    if creds.bearer_token:
        configuration.api_key = {"BearerToken": creds.bearer_token}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
    context = await asyncio.to_thread(_ssl_context, creds)
    api = client.ApiClient(configuration=configuration)
    # The client's own session trusts files only; this one trusts the PEM given.
    await api.rest_client.pool_manager.close()
    api.rest_client.pool_manager = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=pool_size, ssl=context),
        trust_env=False,
        read_bufsize=2**21,
    )
    if host:
        api.user_agent = user_agent(host)
    return api
