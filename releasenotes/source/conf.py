"""Sphinx configuration of tacker-k8s-worker's release notes (``tox -e releasenotes``).

The notes are YAML files in ``releasenotes/notes/`` (``reno new <slug>``);
``reno.sphinxext`` collects them from the git history.
"""

from __future__ import annotations

import importlib.util

project = "tacker-k8s-worker Release Notes"
copyright = "OpenStack Foundation"
author = "OpenStack"

extensions = ["reno.sphinxext"]

templates_path: list[str] = []
master_doc = "index"
language = "en"
exclude_patterns: list[str] = []
pygments_style = "native"

# The release notes carry no version of their own.
version = ""
release = ""

# openstackdocstheme when it is installed (doc/requirements.txt), else alabaster.
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
