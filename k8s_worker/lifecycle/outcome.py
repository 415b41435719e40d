"""How one step of an operation ended: done, still waiting, or failed for good."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from k8s_worker.record.model import VnfStatus
from k8s_worker.wire.redact import shorten


@dataclass(frozen=True)
class Done:
    """The operation reached its goal; ``detail`` goes into the .end payload."""

    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Waiting:
    """Not there yet; a watch event (or the deadline, or ``retry_after``
    seconds, for what no event would announce) brings the VNF back."""

    reason: str
    retry_after: float | None = None


#: Failures that removing their cause fixes (an operator, a quota, a VIM back):
#: the operation parks in FAILED_TEMP for retry, rollback or fail.
TEMPORARY_ERRORS = frozenset(
    {
        "Timeout",
        "VimUnreachable",
        "PodsRejected",
        "NamespaceNotFound",
        "AdmissionRefused",
        "VolumeUnbound",
        "HelmError",
    }
)


class OperationFailed(Exception):
    """The operation failed as it is now.

    ``vnf_status`` is the VNF status afterwards: ERROR when the VNF is broken,
    or None when it is unharmed (a scale refused at a bound, a heal of an
    unknown VDU) and keeps the status the cluster shows.  ``temporary``: a
    retry could succeed once the cause is removed (default: by ``error_type``,
    see TEMPORARY_ERRORS); the operation then parks in FAILED_TEMP.
    """

    def __init__(
        self,
        error_type: str,
        message: str,
        *,
        vnf_status: str | None = VnfStatus.ERROR,
        temporary: bool | None = None,
    ) -> None:
        message = shorten(message)
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.vnf_status = vnf_status
        self.temporary = error_type in TEMPORARY_ERRORS if temporary is None else temporary
