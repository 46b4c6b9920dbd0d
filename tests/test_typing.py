"""Every public function and method of bnem is fully annotated (checked with ``ast``).

Public means: a top-level function whose name does not start with ``_``, or a method
of a public top-level class whose name does not start with ``_`` (dunder methods are
left out, except ``__init__``). All parameters but ``self``/``cls`` need an
annotation, and so does the return value (optional for ``__init__``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "bnem").rglob("*.py"))

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def _is_public(name: str) -> bool:
    return not name.startswith("_")


def _missing(func: FunctionNode, method: bool) -> list[str]:
    """What ``func`` lacks: the names of unannotated parameters, and ``return``."""
    args = func.args
    params = [*args.posonlyargs, *args.args]
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod"
                 for d in func.decorator_list)
    if method and not static and params and params[0].arg in ("self", "cls"):
        params = params[1:]
    params += args.kwonlyargs
    params += [a for a in (args.vararg, args.kwarg) if a is not None]
    missing = [p.arg for p in params if p.annotation is None]
    if func.returns is None and func.name != "__init__":
        missing.append("return")
    return missing


def unannotated(path: Path) -> list[str]:
    """``"module.py:line qualname: missing ..."`` for each incompletely annotated function."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    checked: list[tuple[str, FunctionNode, bool]] = []
    for node in tree.body:
        if isinstance(node, FunctionNode) and _is_public(node.name):
            checked.append((node.name, node, False))
        elif isinstance(node, ast.ClassDef) and _is_public(node.name):
            for item in node.body:
                if isinstance(item, FunctionNode) and (_is_public(item.name)
                                                       or item.name == "__init__"):
                    checked.append((f"{node.name}.{item.name}", item, True))
    rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    out = []
    for qualname, func, method in checked:
        missing = _missing(func, method)
        if missing:
            out.append(f"{rel}:{func.lineno} {qualname}: missing {', '.join(missing)}")
    return out


def test_sources_found():
    names = {p.relative_to(ROOT).as_posix() for p in SOURCES}
    assert {"bnem/__init__.py", "bnem/io/bif.py", "bnem/network/cpd.py"} <= names


def test_the_check_sees_what_is_missing(tmp_path):
    src = tmp_path / "mod.py"
    src.write_text(
        "def ok(a: int, *args: int, b: str = '', **kw: float) -> None: ...\n"
        "def no_return(a: int): ...\n"
        "def no_param(a, b: int) -> int: ...\n"
        "def _private(a): ...\n"
        "class Public:\n"
        "    def __init__(self, x: int): ...\n"
        "    def __repr__(self): ...\n"
        "    @staticmethod\n"
        "    def make(self) -> 'Public': ...\n"
        "    @classmethod\n"
        "    def build(cls, y) -> 'Public': ...\n"
        "    def _helper(self, z): ...\n"
        "class _Private:\n"
        "    def method(self, z): ...\n")
    found = [line.split(" ", 1)[1] for line in unannotated(src)]
    assert found == ["no_return: missing return", "no_param: missing a",
                     "Public.make: missing self", "Public.build: missing y"]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_public_functions_are_annotated(path):
    problems = unannotated(path)
    for line in problems:
        print(line)
    assert not problems, "unannotated public functions:\n" + "\n".join(problems)
