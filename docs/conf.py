"""Sphinx configuration of the backprop documentation (built by ``make docs``; checked by tests/test_docs.py)."""
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "src"))   # the sources next to these pages, not an installed copy

import backprop  # noqa: E402

project = "backprop"
author = "the backprop authors"
copyright = "2026, the backprop authors"
release = backprop.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]

# the pages are Markdown (MyST); $...$ and $$...$$ are maths
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

# API reference: every name of backprop.__all__ and of the public subpackages, from the numpydoc docstrings
autosummary_generate = False          # tables only; the entries come from automodule on the same page
autodoc_typehints = "none"            # the numpydoc Parameters/Returns sections state the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()

nitpicky = True
nitpick_ignore = [
    # fitted attributes of the estimators, described in their Attributes sections
    ("py:obj", "coefs_"), ("py:obj", "intercepts_"),
]
nitpick_ignore_regex = [
    # numpydoc's type descriptions ("array of shape (B, d)", "int, optional") are prose, not references
    (r"py:.*", r"(numpy|np|scipy|sklearn|torch|onnx|dask|distributed|pandas|matplotlib)\..*"),
]

html_theme = "alabaster"
html_title = f"backprop {release}"
html_static_path = []
html_theme_options = {"description": "Backpropagation exactly as the derivation states it", "fixed_sidebar": True}


def _skip_inherited_library_members(app, what, name, obj, skip, options):
    """Leave out what the estimators inherit from scikit-learn (set_fit_request, ...): it is scikit-learn's."""
    module = getattr(obj, "__module__", None) or ""
    if module.split(".")[0] == "sklearn":
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_inherited_library_members)
