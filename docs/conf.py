"""Sphinx configuration for the Django Durable documentation.

Build with ``.venv/bin/sphinx-build -W -b html docs docs/_build/html``. The API reference is
written by hand, so building needs neither Django settings nor a database.
"""

import tomllib
from pathlib import Path

_PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
with _PYPROJECT.open("rb") as f:
    release = tomllib.load(f)["project"]["version"]
version = ".".join(release.split(".")[:2])

project = "Django Durable"
author = "Django Durable contributors"
copyright = "Django Durable contributors"

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Python signatures in the hand-written reference are shown as written.
python_display_short_literal_types = True
add_module_names = False

html_theme = "alabaster"
html_title = f"Django Durable {release}"
html_theme_options = {
    "description": "Durable workflows, natively inside Django",
    "fixed_sidebar": True,
    "show_relbars": True,
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
