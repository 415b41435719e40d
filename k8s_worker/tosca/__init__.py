"""TOSCA VNFD -> Kubernetes translation (pure: no cluster, no asyncio).

Public API: :func:`translate` returns a :class:`Translation` (manifests in apply
order, VDUs with their object names and replica bounds, normalized policies) or
raises :class:`VnfdError`. The ownership label keys are exported for selectors
and watches.
"""

from k8s_worker.tosca.errors import Problem, VnfdError
from k8s_worker.tosca.labels import (
    LABEL_MANAGED_BY,
    LABEL_VDU,
    LABEL_VNF_ID,
    MANAGED_BY_VALUE,
    WATCH_SELECTOR,
    ownership_labels,
    selector_labels,
    vnf_selector,
)
from k8s_worker.tosca.policies import (
    AlarmAction,
    AlarmTrigger,
    HealPolicy,
    Policies,
    ScalingPolicy,
    autoscaling_problems,
    with_autoscaling,
)
from k8s_worker.tosca.translate import Translation, Vdu, translate

__all__ = [
    "LABEL_MANAGED_BY",
    "LABEL_VDU",
    "LABEL_VNF_ID",
    "MANAGED_BY_VALUE",
    "WATCH_SELECTOR",
    "AlarmAction",
    "AlarmTrigger",
    "HealPolicy",
    "Policies",
    "Problem",
    "ScalingPolicy",
    "Translation",
    "Vdu",
    "VnfdError",
    "autoscaling_problems",
    "ownership_labels",
    "selector_labels",
    "translate",
    "vnf_selector",
    "with_autoscaling",
]
