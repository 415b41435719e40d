"""The VIM registry: Kubernetes clusters registered as VIMs (a ``Vim`` custom
resource each, its credentials in a Secret beside it), the rules a registration
must pass, and each VIM's health as the fleet last judged it."""

from k8s_worker.vims.model import DEFAULT_VIM_ID, VimHealth, VimRecord, VimRegistration
from k8s_worker.vims.store import VimStore

__all__ = ["DEFAULT_VIM_ID", "VimHealth", "VimRecord", "VimRegistration", "VimStore"]
