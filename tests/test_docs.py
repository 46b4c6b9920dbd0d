"""The documentation site builds with warnings as errors, and documents every public name."""

import pathlib
import re
import shutil
import subprocess
import sys

import pytest

import bnem

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _public_names():
    return sorted(set(bnem.__all__) | {"GaussianMixture", "LatentClassModel",
                                       "HiddenMarkovModel"})


def test_every_public_name_is_listed_and_documented():
    """Every name the package exports is in ``__all__`` (so in ``dir(bnem)`` and tab
    completion) and in the API reference."""
    import types
    exported = {n for n, v in vars(bnem).items()
                if not n.startswith("_") and not isinstance(v, types.ModuleType)}
    assert exported <= set(bnem.__all__), sorted(exported - set(bnem.__all__))
    assert {"GaussianMixture", "LatentClassModel", "load_network"} <= set(dir(bnem))
    listed = set(re.findall(r"^   (\w+)$", (ROOT / "docs" / "api.md").read_text(), re.M))
    assert set(_public_names()) <= listed, sorted(set(_public_names()) - listed)
    assert listed <= set(_public_names()) | set(dir(bnem)), sorted(listed - set(dir(bnem)))


@pytest.mark.slow
def test_documentation_builds_without_warnings(tmp_path):
    """``sphinx -W``: a broken cross-reference, a malformed docstring or a page left out
    of the table of contents fails the build. The gallery's pages are built without
    running the examples (``plot_gallery=0``): the suite runs them (test_examples)."""
    pytest.importorskip("sphinx")
    shutil.copytree(ROOT / "docs", tmp_path / "docs",
                    ignore=shutil.ignore_patterns("_build", "generated", "auto_examples"))
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    out = tmp_path / "html"
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b",
                           "html", "-D", "plot_gallery=0", str(tmp_path / "docs"), str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    for name in _public_names():
        assert (out / "generated" / f"bnem.{name}.html").exists(), name
    for page in ("index", "guide/em", "coming-from/pgmpy", "api", "changelog",
                 "auto_examples/index", "auto_examples/raters"):
        assert (out / f"{page}.html").exists(), page
    fit_page = (out / "generated" / "bnem.fit.html").read_text()
    assert "max_iter" in fit_page and "n_init" in fit_page  # the docstring, rendered
