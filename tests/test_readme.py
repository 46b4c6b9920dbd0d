"""The README's and the documentation's Python snippets run as written."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").rglob("*.md"))


def _blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


def _run(path, tmp_path, monkeypatch):
    (tmp_path / "networks").symlink_to(ROOT / "networks")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in _blocks(path):
        exec(compile(block, str(path.relative_to(ROOT)), "exec"), namespace)  # noqa: S102
    return namespace


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path, monkeypatch):
    assert len(_blocks(ROOT / "README.md")) >= 2
    namespace = _run(ROOT / "README.md", tmp_path, monkeypatch)
    assert namespace["res"].converged
    assert (tmp_path / "learned.bif").exists()
    assert namespace["net"].nodes == ("rain", "wet")  # the last block builds a network


@pytest.mark.parametrize("page", [p for p in PAGES if _blocks(p)],
                         ids=lambda p: str(p.relative_to(ROOT / "docs")))
def test_documentation_pages_python_blocks_run(page, tmp_path, monkeypatch):
    """Each page's blocks run in order, in one namespace per page (a page stands alone)."""
    import matplotlib
    matplotlib.use("Agg")
    _run(page, tmp_path, monkeypatch)
