"""Sphinx configuration of bnem's documentation site.

Build it with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
(after ``pip install -e ".[docs]"``); ``-W`` makes every warning, a broken
cross-reference included, an error. The gallery runs ``examples/`` at small sizes;
``-D plot_gallery=0`` builds its pages without running them (what CI does: the test
suite runs every example already).
"""

from __future__ import annotations

import pathlib
import sys
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bnem  # noqa: E402

project = "bnem"
author = "the bnem developers"
copyright = "2026, the bnem developers"
release = bnem.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_templates", "sg_execution_times.rst", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5"]
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]
suppress_warnings = ["myst.header", "config.cache"]

autosummary_generate = True
autodoc_typehints = "none"
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_title = f"bnem {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path: list[str] = []


def _reset_argv(gallery_conf, script_vars):
    """Small sizes for the examples that the gallery runs (the suite's sizes)."""
    name = pathlib.Path(script_vars["src_file"]).name
    return {
        "aircraft_engines.py": ["--rows", "1500", "--n-init", "2", "--show"],
        "alarm_missing.py": ["--rows", "3000"],
        "latent_class.py": ["--rows", "4000", "--n-init", "3"],
        "raters.py": ["--rows", "3000"],
        "parquet_and_dask.py": ["--rows", "4000"],
        "latent_class_regression.py": ["--rows", "1500", "--show"],
        "hidden_markov.py": ["--logs", "150", "--show"],
    }.get(name, [])


sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r".*\.py",
    "reset_argv": _reset_argv,
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "show_signature": False,
    "write_computation_times": False,
}

warnings.filterwarnings("ignore", message="Matplotlib is currently using agg")

# scikit-learn adds metadata-routing methods to every estimator class; their
# docstrings point into scikit-learn's own documentation
autodoc_default_options = {
    "exclude-members": "set_fit_request, set_score_request, set_partial_fit_request, "
                       "get_metadata_routing, set_predict_request, set_predict_proba_request",
}
