"""An ApiClient from a kubeconfig file, or from the pod's service account.

Credentials stay inside the client configuration; nothing here logs them.
"""

from __future__ import annotations

import importlib.metadata
import os

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
