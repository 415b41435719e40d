"""The VNF record: a VNF's desired state and operation journal, persisted as a
``vnfs.tacker.openstack.org`` custom resource, the only state the worker keeps."""

from k8s_worker.record.crd import CRD_NAME, crd_manifest, install_crd
from k8s_worker.record.model import (
    OP_ACTIVE_STATES,
    Operation,
    OperationKind,
    OpState,
    VnfRecord,
    VnfStatus,
)
from k8s_worker.record.store import RecordStore

__all__ = [
    "CRD_NAME",
    "OP_ACTIVE_STATES",
    "OpState",
    "Operation",
    "OperationKind",
    "RecordStore",
    "VnfRecord",
    "VnfStatus",
    "crd_manifest",
    "install_crd",
]
