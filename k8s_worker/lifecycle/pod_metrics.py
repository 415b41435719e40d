"""The pods' CPU usage, read from the VIM's metrics API (metrics.k8s.io, as
the HPA reads it), for the policies that scale from CPU.

A read that fails for any reason (no metrics API registered, metrics-server
away, the VIM unreachable, a 403) is a :class:`MetricsUnavailable` with a
reason a user can act on: the policies then decide nothing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from k8s_worker.kube import KubeError, KubeNotFound
from k8s_worker.kube.quantity import cpu_millis
from k8s_worker.kube.resources import Kube
from k8s_worker.tosca import vnf_selector

METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"
#: Seconds a metrics read may take (it runs in a reconcile pass).
READ_SECONDS = 5.0


class MetricsUnavailable(Exception):
    """The metrics API could not be read; ``str()`` says why."""


async def pod_cpu_usage(kube: Kube, *, namespace: str, vnf_id: str) -> dict[str, float]:
    """Pod name -> cpu usage (millicores, summed over its containers) of the
    VNF's pods in ``namespace``; MetricsUnavailable when it cannot be read."""
    query = [("labelSelector", vnf_selector(vnf_id))] if len(vnf_id) <= 63 else []
    try:
        body: Any = await kube.request(
            "GET",
            METRICS_PATH.format(namespace=quote(namespace, safe="")),
            query=query,
            request_seconds=READ_SECONDS,
            retry=False,
        )
    except KubeNotFound:
        raise MetricsUnavailable(
            "the VIM has no metrics API (metrics.k8s.io is not served: "
            "is metrics-server installed?)"
        ) from None
    except KubeError as exc:
        raise MetricsUnavailable(f"the metrics API cannot be read: {exc}") from None
    usage: dict[str, float] = {}
    for item in (body or {}).get("items") or []:
        if not isinstance(item, dict):
            continue
        name = (item.get("metadata") or {}).get("name")
        total = 0.0
        for container in item.get("containers") or []:
            millis = cpu_millis(((container or {}).get("usage") or {}).get("cpu", ""))
            total += millis or 0.0
        if isinstance(name, str):
            usage[name] = total
    return usage
