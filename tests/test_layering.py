"""Imports flow one way: foundation <- data <- network <- inference <- em <- models <- io/cli."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "bnem"
RANK = {"errors": 0, "_validation": 0, "ragged": 0, "atomic": 0, "locks": 0, "data": 1, "network": 2, "inference": 3, "em": 4,
        "models": 5, "io": 6, "cli": 7}
# No upward import at all, not even inside a function: the network's conveniences
# (net.log_prob, net.to_pgmpy, ...) are wired by the package root (network/facades.py).
ALLOWED_LAZY: set = set()


def _layer_of(parts):
    return RANK.get(parts[0]) if parts else None


def _imports(path: pathlib.Path):
    tree = ast.parse(path.read_text())
    top_level = set(id(n) for n in tree.body)
    rel = path.relative_to(ROOT)
    pkg = list(rel.parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else pkg
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.startswith("bnem"):
                target = node.module.split(".")[1:]
            else:
                continue
            yield target, id(node) in top_level
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("bnem."):
                    yield alias.name.split(".")[1:], id(node) in top_level


MODULES = sorted(p for p in ROOT.rglob("*.py") if p.parent != ROOT or p.name != "__init__.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_only_flow_downward(path):
    rel = path.relative_to(ROOT)
    own = _layer_of(list(rel.parts[:-1]) or [rel.stem])
    assert own is not None, f"module {rel} belongs to no layer"
    for target, top_level in _imports(path):
        layer = _layer_of(target)
        if layer is None or layer <= own:
            continue
        allowed = (str(rel), target[0]) in ALLOWED_LAZY and not top_level
        assert allowed, f"{rel} (layer {own}) imports bnem.{'.'.join(target)} (layer {layer})"


def test_checker_catches_an_upward_import(tmp_path, monkeypatch):
    fake = tmp_path / "bnem"
    (fake / "data").mkdir(parents=True)
    bad = fake / "data" / "bad.py"
    bad.write_text("from ..em.loop import fit\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", fake)
    with pytest.raises(AssertionError, match="imports bnem.em.loop"):
        test_imports_only_flow_downward(bad)


def test_import_bnem_does_not_import_pgmpy():
    import subprocess
    import sys
    code = "import sys, bnem; print('pgmpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_import_bnem_does_not_import_dask():
    """(pyarrow is not checked: pandas 3 imports it itself when it is installed.)"""
    import subprocess
    import sys
    code = ("import sys, bnem; print(sorted(m for m in ('dask', 'distributed') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_network_conveniences_are_wired():
    """Every convenience the network calls through its facades is registered by
    ``import bnem``, and they give the upper layers' answers."""
    import re

    import bnem
    from bnem.inference import api
    from bnem.network import facades
    source = (ROOT / "network" / "bayesnet.py").read_text()
    called = set(re.findall(r'facades\.call\("(\w+)"', source))
    assert called == set(facades.registered()) == {
        "log_prob", "log_likelihood", "posterior", "impute", "to_pgmpy", "from_pgmpy"}
    net = bnem.read_bif(ROOT.parent / "networks" / "asia.bif")
    df = net.sample(50, seed=0, missing=0.2)
    assert net.log_likelihood(df) == api.log_likelihood(net, df)
    assert "GaussianMixture" in dir(bnem) and "LatentClassModel" in dir(bnem)
