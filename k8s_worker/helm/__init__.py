"""Helm 3 charts of CNF packages (Tacker v2's ``ETSINFV.HELM.V_3``): the CLI
run off the event loop (:mod:`.runner`), one release per VNF (:mod:`.releases`),
and the post-renderer that labels and checks what a chart renders
(:mod:`.post_render`)."""

from k8s_worker.helm.post_render import RenderSpec
from k8s_worker.helm.releases import Chart, ChartRefused, HelmReleases, Release, release_name
from k8s_worker.helm.runner import HelmError, HelmRunner, HelmUnavailable

__all__ = [
    "Chart",
    "ChartRefused",
    "HelmError",
    "HelmReleases",
    "HelmRunner",
    "HelmUnavailable",
    "Release",
    "RenderSpec",
    "release_name",
]
