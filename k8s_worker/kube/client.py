"""An ApiClient from a kubeconfig file, or from the pod's service account.

Credentials stay inside the client configuration; nothing here logs them.
"""

from __future__ import annotations

import os

from kubernetes_asyncio import client, config


async def make_api_client(
    *, kubeconfig: str | None = None, context: str | None = None, pool_size: int = 64
) -> client.ApiClient:
    """An ApiClient for ``kubeconfig`` (or in-cluster config when it is empty)."""
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
    return client.ApiClient(configuration=configuration)
