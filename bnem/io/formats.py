"""Read a network file in any supported format, chosen by its extension (io layer).

BIF and JSON go through bnem's own parsers; XMLBIF, UAI and Hugin NET through
pgmpy's readers (imported only when needed) and
:func:`~bnem.io.pgmpy_interop.from_pgmpy`.
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import TYPE_CHECKING

import numpy as np

from ..errors import BnemTypeError, BnemValueError

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
