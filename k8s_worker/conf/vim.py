"""Options of the ``[vim]`` group: registering Kubernetes clusters as VIMs and
watching their health."""

from __future__ import annotations

from oslo_config import cfg

GROUP = "vim"

OPTS: list[cfg.Opt] = [
    cfg.ListOpt(
        "allowed_endpoints",
        default=[],
        help="API server endpoints a registered VIM may have: host names (globs such as "
        "'*.k8s.example.net'), IP networks ('10.0.0.0/8'), each optionally with ':port'. "
        "Empty: no VIM can be registered (only the worker's own cluster is used). The "
        "worker connects only where this allows, so a tenant cannot point it anywhere.",
    ),
    cfg.BoolOpt(
        "tenant_registration",
        default=False,
        help="Let a tenant (not only an admin) register VIMs for itself, by register_vim "
        "or by the credentials in an instantiate's vim_connection_info.",
    ),
    cfg.BoolOpt(
        "allow_insecure",
        default=False,
        help="Accept a VIM registered without ssl_ca_cert, its TLS then unverified. Off: "
        "such a registration is refused (CertificateRequired), never silently insecure.",
    ),
    cfg.FloatOpt(
        "validation_timeout",
        default=10.0,
        min=1.0,
        help="Seconds a registration may take to reach the VIM's API server and review "
        "the permissions of its credentials (keep it below the RPC timeout).",
    ),
    cfg.FloatOpt(
        "probe_interval",
        default=5.0,
        min=0.5,
        help="Seconds between two probes of a VIM in use by its owner replica; two "
        "failed probes in a row make it UNREACHABLE.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [(GROUP, OPTS)]
