"""Sphinx configuration of tacker-k8s-worker's documentation (``tox -e docs``).

Built with warnings as errors (``sphinx-build -W``), as HTML and as man pages.
The configuration reference is generated from the worker's own options by
``oslo_config.sphinxext`` (the ``oslo.config.opts`` entry points of setup.cfg,
so the project must be installed, as tox does).
"""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import re
import warnings
from typing import Any

# oslo.messaging imports eventlet (through oslo.service), which prints a
# deprecation banner that says nothing about this asyncio service (as
# k8s_worker.cmd silences it for the console scripts).
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

project = "tacker-k8s-worker"
copyright = "OpenStack Foundation"
author = "OpenStack"

extensions = [
    "oslo_config.sphinxext",
]

templates_path: list[str] = []
exclude_patterns: list[str] = []
# The notification samples are included by notifications.rst, not pages.
source_suffix = {".rst": "restructuredtext"}
master_doc = "index"
language = "en"
pygments_style = "native"
nitpicky = False

try:
    release = importlib.metadata.version(project)
except importlib.metadata.PackageNotFoundError:  # built from a checkout not installed
    release = "unknown"
version = ".".join(release.split(".")[:2])

# -- HTML --------------------------------------------------------------------
# openstackdocstheme when it is installed (doc/requirements.txt), else Sphinx's
# builtin alabaster, so a build without it still works (and still warns about
# nothing).
if importlib.util.find_spec("openstackdocstheme") is not None:
    extensions.append("openstackdocstheme")
    html_theme = "openstackdocs"
    openstackdocs_repo_name = "openstack/tacker-k8s-worker"
    openstackdocs_bug_project = "tacker"
    openstackdocs_bug_tag = "k8s-worker"
    openstackdocs_auto_name = False
    openstackdocs_auto_version = False
    openstackdocs_use_storyboard = False
else:
    html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"{project} {release}"

# -- man pages ---------------------------------------------------------------
# (source start file, name, description, authors, manual section)
man_pages = [
    ("cli/k8s-worker", "k8s-worker", "run one replica of tacker-k8s-worker", [author], 1),
    (
        "cli/k8s-worker-tail",
        "k8s-worker-tail",
        "print tacker-k8s-worker's notifications as they arrive",
        [author],
        1,
    ),
    (
        "cli/k8s-worker-status",
        "k8s-worker-status",
        "check that tacker-k8s-worker can start (upgrade check)",
        [author],
        1,
    ),
    (
        "cli/k8s-worker-vnfd",
        "k8s-worker-vnfd",
        "validate or render a VNFD or CNF package as tacker-k8s-worker would",
        [author],
        1,
    ),
]
man_show_urls = False


# -- the configuration reference ------------------------------------------------
# oslo_config.sphinxext parses each option's help as reStructuredText.  A few of
# the worker's help texts hold a bare '*' (a glob such as '*.k8s.example.net',
# "a *.error notification"), which docutils takes for the start of an emphasis
# and warns about: a build with -W fails.  The reference shows them as the
# literal asterisks they are (outside ``literals``, where they already are).
_LITERAL = re.compile(r"(``.*?``)", re.DOTALL)


def _asterisks_as_text(text: str) -> str:
    return "".join(
        part if part.startswith("``") else part.replace("*", r"\*") for part in _LITERAL.split(text)
    )


def _help_as_text() -> None:
    from oslo_config import sphinxext

    original = getattr(sphinxext, "_format_opt", None)
    if original is None or getattr(original, "_asterisks_as_text", False):
        return

    def _format_opt(opt: Any, group_name: str) -> Any:
        if opt.help and "*" in opt.help:
            opt = copy.copy(opt)
            opt.help = _asterisks_as_text(opt.help)
        return original(opt, group_name)

    _format_opt._asterisks_as_text = True  # type: ignore[attr-defined]
    sphinxext._format_opt = _format_opt


def setup(app: Any) -> dict[str, Any]:
    _help_as_text()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
