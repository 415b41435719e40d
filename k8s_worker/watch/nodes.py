"""Node readiness, for heal policies that act on pods of NotReady nodes.

Optional by design: watching nodes needs a cluster-wide read permission that a
tightly scoped deployment may not grant; without it the worker runs as before
and only the ``node_not_ready`` heal trigger sees nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import structlog

from k8s_worker.kube import KINDS, Kube, KubeRejected
from k8s_worker.tosca import LABEL_VNF_ID
from k8s_worker.watch.informer import Informer, WatchEvent

LOG = structlog.get_logger(__name__)


def _ready_condition(node: dict) -> tuple[bool, float | None]:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            stamp = c.get("lastTransitionTime")
            since = (
                dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                if stamp
                else None
            )
            return c.get("status") == "True", since
    return False, None


class NodeWatch:
    """A node informer and the readiness lookup the policy engine uses."""

    def __init__(self, kube: Kube, *, inactivity_seconds: float) -> None:
        self.informer = Informer(kube, KINDS["Node"], inactivity_seconds=inactivity_seconds)
        self._kube = kube

    async def allowed(self) -> bool:
        """Whether this replica may list nodes (checked once at start-up)."""
        try:
            await self._kube.request("GET", KINDS["Node"].path(), query=[("limit", 1)])
        except KubeRejected as exc:
            LOG.warning(
                "nodes.not_watched", reason=str(exc), effect="heal trigger node_not_ready disabled"
            )
            return False
        return True

    def status(self, name: str) -> tuple[bool, float | None]:
        node = self.informer.cache.get(("", name))
        if node is None:
            return True, None  # unknown node: assume nothing
        return _ready_condition(node)

    def route_to_vnfs(
        self, pods: Sequence[Informer], enqueue: Callable[[str], None]
    ) -> Callable[[WatchEvent], None]:
        """A handler waking the VNFs with pods on a node whose readiness changed."""

        def handler(event: WatchEvent) -> None:
            if (
                event.old is not None
                and _ready_condition(event.old)[0] == _ready_condition(event.obj)[0]
            ):
                return
            name = event.obj["metadata"]["name"]
            for informer in pods:
                for pod in informer.items():
                    if (pod.get("spec") or {}).get("nodeName") == name:
                        vnf_id = (pod["metadata"].get("labels") or {}).get(LABEL_VNF_ID)
                        if vnf_id:
                            enqueue(vnf_id)

        return handler
