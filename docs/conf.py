"""Sphinx configuration of the skpolar documentation.

Build with ``sphinx-build -W --keep-going -b html docs docs/_build/html``
from the repository root. Add ``-D plot_gallery=0`` to skip running the
examples (the gallery pages are then built from the scripts' text alone).
"""

import os
import re
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
# The examples plot off-screen.
os.environ.setdefault("MPLBACKEND", "Agg")

import skpolar  # noqa: E402

# ---- project ---------------------------------------------------------------------
project = "skpolar"
author = "the skpolar developers"
copyright = "2025, the skpolar developers"
release = skpolar.__version__
version = ".".join(release.split(".")[:2])

# ---- extensions ------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # MathJax from a PyPI package, copied into _static: the pages render their
    # maths offline instead of fetching MathJax from a CDN
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.md5",
                    "auto_examples/*.json"]
default_role = "literal"
# No network access is assumed: no intersphinx.

autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# numpydoc's own docstring validation is left to the linters.
numpydoc_validation_checks = set()
numpydoc_xref_param_type = False

# ---- sphinx-gallery ----------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("skpolar",),
    "reference_url": {"skpolar": None},
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "show_memory": False,
    "min_reported_time": 1,
    "write_computation_times": False,
}

# The examples may warn about deprecated or beta torch features; those are not
# documentation errors.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")

# ---- HTML --------------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"skpolar {release}"
html_theme_options = {
    "description": "Polarization and stances from speech, scikit-learn style",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "230px",
}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}
# custom.css (alabaster loads it by that name): code lines wrap instead of being cut off
html_static_path = ["_static"]


# ---- docstring fix-ups -------------------------------------------------------------
_SHAPE = re.compile(r"shape \(([^)]*)\)")
_TRAILING_UNDERSCORE = re.compile(r"(?<![`\w])([A-Za-z]\w*_)(?![`\w])")


def _quote_fitted_attributes_in_shapes(app, what, name, obj, options, lines):
    """Quote ``n_features_in_`` and the like inside ``of shape (...)``.

    reST reads a bare word with a trailing underscore as a hyperlink reference,
    so ``ndarray of shape (n_features_in_,)`` fails with "Unknown target name".
    scikit-learn writes such names in backquotes; this does the same for
    docstrings that do not.
    """
    for i, line in enumerate(lines):
        lines[i] = _SHAPE.sub(
            lambda m: "shape (" + _TRAILING_UNDERSCORE.sub(r"`\1`", m.group(1)) + ")", line
        )


def setup(app):
    # before numpydoc (priority 500) turns the sections into reST
    app.connect("autodoc-process-docstring", _quote_fitted_attributes_in_shapes, priority=400)
