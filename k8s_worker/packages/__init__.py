"""CNF packages (ETSI SOL004 CSARs) as Tacker v2 users ship them: read safely
(:mod:`.csar`), their manifests checked (:mod:`.manifests`), and translated
into the same :class:`~k8s_worker.tosca.Translation` a TOSCA VNFD gives
(:mod:`.cnf`).  Pure: no cluster, no asyncio."""

from k8s_worker.packages.cnf import translate_package
from k8s_worker.packages.csar import (
    Package,
    PackageError,
    PackageLimits,
    is_stored_package,
    open_package,
)
from k8s_worker.packages.manifests import CLUSTER_KINDS, SCALABLE_KINDS, WORKLOAD_KINDS

__all__ = [
    "CLUSTER_KINDS",
    "SCALABLE_KINDS",
    "WORKLOAD_KINDS",
    "Package",
    "PackageError",
    "PackageLimits",
    "is_stored_package",
    "open_package",
    "translate_package",
]
