"""Ownership labels of every object the worker creates.

These keys are the contract between translation (which stamps them), the watch
(which selects by them) and the policy engine (which maps pods back to VDUs).
Selectors use only :data:`LABEL_VNF_ID` and :data:`LABEL_VDU`, which users cannot
set, so two VNFs can never select each other's pods.
"""

from __future__ import annotations

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "tacker-k8s-worker"
LABEL_VNF_ID = "tacker.openstack.org/vnf-id"
LABEL_VDU = "tacker.openstack.org/vdu"

OWNERSHIP_KEYS: frozenset[str] = frozenset({LABEL_MANAGED_BY, LABEL_VNF_ID, LABEL_VDU})


def selector_labels(*, vnf_id: str, vdu: str) -> dict[str, str]:
    """The labels that select exactly one VDU's pods of one VNF."""
    return {LABEL_VNF_ID: vnf_id, LABEL_VDU: vdu}


def ownership_labels(*, vnf_id: str, vdu: str | None = None) -> dict[str, str]:
    """The labels stamped on every object of a VNF (and of a VDU, if given)."""
    labels = {LABEL_MANAGED_BY: MANAGED_BY_VALUE, LABEL_VNF_ID: vnf_id}
    if vdu is not None:
        labels[LABEL_VDU] = vdu
    return labels


#: The selector of the worker's watches: every object of some VNF.  (Not the
#: managed-by label: helm sets it to "Helm" on what a chart renders.)
WATCH_SELECTOR = LABEL_VNF_ID


def vnf_selector(vnf_id: str) -> str:
    """A label-selector string matching every object of one VNF (for list/watch;
    always within the VNF's namespace: anyone may set labels in their own)."""
    return f"{LABEL_VNF_ID}={vnf_id}"
