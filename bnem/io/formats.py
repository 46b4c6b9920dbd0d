"""Read a network file in any supported format, chosen by its extension (io layer).

BIF and JSON go through bnem's own parsers; XMLBIF, UAI and Hugin NET through
pgmpy's readers (imported only when needed) and
:func:`~bnem.io.pgmpy_interop.from_pgmpy`.
"""

from __future__ import annotations

import math
import os
import pathlib
import re
from typing import TYPE_CHECKING

import numpy as np

from ..errors import BnemTypeError, BnemValueError
from ..network.bayesnet import table_size_problem

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork

#: Extension (after an optional trailing ``.gz``) -> format name.
EXTENSIONS = {".bif": "bif", ".json": "json", ".xml": "xmlbif", ".xmlbif": "xmlbif",
              ".uai": "uai", ".net": "net"}


def read_network(path: str | os.PathLike[str]) -> BayesianNetwork:
    """Read a Bayesian network, choosing the reader by file extension.

    ============================  ==========================================
    extension                     reader
    ============================  ==========================================
    ``.bif``                      :func:`~bnem.io.bif_read.read_bif`
    ``.json``                     :func:`~bnem.io.json_format.read_json`: bnem's
                                  format (discrete or hybrid), or a bnlearn /
                                  pgmpy Gaussian network (told apart by content)
    ``.xml``, ``.xmlbif``         pgmpy ``XMLBIFReader``
    ``.uai``                      pgmpy ``UAIReader`` (states named 0, 1, ...)
    ``.net``                      pgmpy ``NETReader`` (Hugin)
    ============================  ==========================================

    Any of them may be gzip-compressed with a further ``.gz`` suffix. Extensions are
    matched case-insensitively.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    BayesianNetwork

    Raises
    ------
    BnemValueError
        The extension is not one of the above (the message lists them), or a UAI
        file describes a Markov network.
    BnemTypeError
        ``path`` is not a path.
    BIFParseError
        A malformed BIF file.
    JSONFormatError
        A malformed JSON file.
    FileNotFoundError
        The file does not exist.
    ImportError
        pgmpy is needed (XMLBIF, UAI, NET) but not installed.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise BnemTypeError(f"read_network expects a path, got {type(path).__name__}")
    fmt = network_format(path)
    if fmt == "json":
        from .json_format import read_json
        return read_json(path)
    from .bif_read import load_text, parse_bif

    # a Path, so that a file name containing '{' is never taken for BIF text
    text, name = load_text(pathlib.Path(path))
    if fmt == "bif":
        return parse_bif(text, name)
    return _read_with_pgmpy(fmt, text, name)


def network_format(path: str | os.PathLike[str]) -> str:
    """The format name (``"bif"``, ``"json"``, ``"xmlbif"``, ``"uai"``, ``"net"``) for ``path``.

    Raises
    ------
    BnemValueError
        The extension is not recognised.

    Examples
    --------
    >>> network_format("networks/alarm.bif.gz"), network_format("Model.XMLBIF")
    ('bif', 'xmlbif')
    >>> network_format("model.yaml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bnem.errors.BnemValueError: cannot tell the format of 'model.yaml' from its extension ...
    """
    name = os.path.basename(os.fspath(path)).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    ext = os.path.splitext(name)[1]
    if ext not in EXTENSIONS:
        known = ", ".join(sorted(EXTENSIONS))
        raise BnemValueError(f"cannot tell the format of {os.fspath(path)!r} from its extension "
                             f"{ext or '(none)'!r}; expected one of {known} "
                             "(optionally followed by .gz)")
    return EXTENSIONS[ext]


def _read_with_pgmpy(fmt: str, text: str, name: str):
    from pgmpy.models import DiscreteBayesianNetwork
    from pgmpy.readwrite import NETReader, UAIReader, XMLBIFReader

    from .pgmpy_interop import from_pgmpy

    reader = {"xmlbif": XMLBIFReader, "uai": UAIReader, "net": NETReader}[fmt]
    problem = _uai_problem(text) if fmt == "uai" else None
    if problem:  # checked before pgmpy's reader allocates anything of a declared size
        raise BnemValueError(f"cannot read {name} as UAI: {problem}")
    try:
        model = reader(string=text).get_model()
    except Exception as exc:  # pgmpy's readers raise parser-specific exceptions
        problem = _net_potential_problem(text) if fmt == "net" else None
        if problem:
            raise BnemValueError(f"cannot read {name} as NET: {problem}") from None
        raise BnemValueError(f"cannot read {name} as {fmt.upper()}: "
                             f"{type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(model, DiscreteBayesianNetwork):
        raise BnemValueError(f"{name} describes a {type(model).__name__}, "
                             "but bnem reads Bayesian networks only")
    return from_pgmpy(model)


def _uai_problem(text: str) -> str | None:
    """A UAI file's first declared table that is too large to hold, or that declares
    another number of values than its variables' states multiply to, or a Markov
    network, described for the user; None if none (or if the header cannot be read, which
    pgmpy's reader then reports). Reads the header's numbers only: nothing of a declared
    size is allocated. XMLBIF and NET files list every state and value, so their tables
    are bounded by the file's size."""
    tokens = re.sub(r"#[^\n]*", " ", text).split()
    if not tokens:
        return None
    if tokens[0].upper() == "MARKOV":
        return "it describes a Markov network (MARKOV); bnem reads Bayesian networks (BAYES)"
    numbers = iter(tokens[1:])
    cards: list[int] = []
    scopes: list[list[int]] = []
    declared: list[int] = []
    try:
        cards = [int(next(numbers)) for _ in range(int(next(numbers)))]
        n_functions = int(next(numbers))
        for _ in range(n_functions):
            scopes.append([int(next(numbers)) for _ in range(int(next(numbers)))])
        for _ in range(n_functions):  # each table: its number of values, then the values
            declared.append(int(next(numbers)))
            for _ in range(min(declared[-1], len(tokens))):
                next(numbers)
    except (ValueError, StopIteration):
        pass  # a malformed file: pgmpy's reader reports it
    for k, scope in enumerate(scopes):
        if not scope or any(not 0 <= v < len(cards) for v in scope):
            return None
        shape = [cards[v] for v in scope]
        problem = table_size_problem(f"var_{scope[-1]}", shape)
        if problem:
            return problem
        if k < len(declared) and declared[k] != math.prod(shape):
            return (f"table {k} (of var_{scope[-1]}) declares {declared[k]} value(s); its "
                    f"variables' states multiply to {math.prod(shape)} "
                    f"({' x '.join(map(str, shape))})")
    return None


_NET_NODE = re.compile(r"node\s+(\w+)\s*\{[^}]*?states\s*=\s*\(([^)]*)\)", re.S)
_NET_POTENTIAL = re.compile(r"potential\s*\(\s*(\w+)\s*(?:\|\s*([^)]*))?\)\s*\{[^}]*?"
                            r"data\s*=\s*(.*?);", re.S)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _net_potential_problem(text: str) -> str | None:
    """The first Hugin NET potential whose number of values is not the product of its
    node's and parents' state counts, described for the user (None if all agree)."""
    cards = {m.group(1): len(re.findall(r'"[^"]*"', m.group(2))) for m in _NET_NODE.finditer(text)}
    for m in _NET_POTENTIAL.finditer(text):
        node, parents = m.group(1), (m.group(2) or "").split()
        if node not in cards or any(p not in cards for p in parents):
            continue
        expected = cards[node] * int(np.prod([cards[p] for p in parents] or [1]))
        found = len(_NUMBER.findall(m.group(3)))
        if found != expected:
            given = f" given {', '.join(parents)}" if parents else ""
            return (f"the potential of node {node!r}{given} has {found} value(s); expected "
                    f"{expected} ({cards[node]} state(s)"
                    + "".join(f" x {cards[p]} of {p!r}" for p in parents) + ")")
    return None
