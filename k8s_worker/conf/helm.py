"""Options of the ``[helm]`` group: the Helm 3 CLI that installs the charts of
Helm CNF packages (Tacker v2's ``ETSINFV.HELM.V_3``)."""

from __future__ import annotations

from oslo_config import cfg

GROUP = "helm"

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "binary",
        default="helm",
        help="The Helm 3 binary (a path, or a name looked up in PATH). Without it, "
        "a package with helm_chart_path fails HelmUnavailable; others are unaffected.",
    ),
    cfg.FloatOpt(
        "timeout",
        default=180.0,
        min=5.0,
        help="Seconds one helm call (install, upgrade, rollback, uninstall, status) "
        "may take; it is then killed and the operation waits or parks as for any "
        "temporary failure.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [(GROUP, OPTS)]
