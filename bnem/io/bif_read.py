"""Read BIF (Bayesian Interchange Format) files into a ``BayesianNetwork`` (io layer).

The tokens and probability-block bodies are handled by :mod:`bnem.io.bif`; this module
reads the source, parses the network / variable / probability blocks, and assembles
and checks the network.
"""

from __future__ import annotations

import gzip
import os
import zlib
import warnings
from typing import IO, Any

import numpy as np

from ..data.variables import Variable
from .._validation import preview
from ..errors import BIFParseError, BnemTypeError
from ..network.bayesnet import BayesianNetwork
from ..network.cpd import SUM_TOLERANCE
from .bif import Scanner, parse_body, show

#: Distributions whose sum is off by more than this are an error, not rounding.
RENORMALIZE_LIMIT = 1e-2


class BIFNormalizationWarning(UserWarning):
    """Some distributions in a file were renormalised (they summed to 1 only roughly)."""


def read_bif(source: str | os.PathLike[str] | bytes | bytearray | IO[str] | IO[bytes]
             ) -> BayesianNetwork:
    """Read a discrete Bayesian network in BIF format.

    Parameters
    ----------
    source : str, os.PathLike, bytes or file object
        A path (gzip-compressed files, e.g. ``*.bif.gz``, are recognised by their
        magic bytes and decompressed), an open file (text or binary), the BIF text
        itself (a ``str`` with a newline, or with ``{`` that names no existing file),
        or its bytes. A ``pathlib.Path`` is always a path.

    Returns
    -------
    BayesianNetwork
        Nodes in declaration order; each node's parents in the order of its
        ``probability ( child | p1, p2 )`` header; tables of shape
        ``(*parent_cards, card)``.

    Raises
    ------
    BIFParseError
        Malformed text; the message starts with ``source:line:column:`` and says
        what was expected and what was found. Also raised for a variable without a
        probability block (or with two), an unknown variable or state, a parent
        configuration listed twice or missing (with no ``default`` entry), the wrong
        number of values, a negative or non-finite value, a state count that does
        not match ``[ n ]``, and a distribution whose sum is off by more than 1e-2.
    CycleError
        The parent relation has a directed cycle.
    FileNotFoundError
        ``source`` names a file that does not exist.
    BnemTypeError
        ``source`` is of an unsupported type.

    Notes
    -----
    Accepted syntax: ``//`` and ``/* */`` comments; ``property ...;`` statements in
    network, variable and probability blocks (ignored); names and states made of
    any characters except white space and ``{}()[],;|"`` (so ``<5``, ``12+``,
    ``Asy/Patch``, ``Transp.`` are fine) or double-quoted (``"a b"``, with ``\\"``
    and ``\\\\`` escapes); commas between states and between numbers are optional;
    Windows line endings; blocks in any order.

    Probability blocks hold either one ``table`` (with parents, the values are
    listed with the child's state varying slowest and the last parent fastest --
    the convention of pgmpy's and pyAgrum's readers), or per-configuration entries
    ``(s1, s2) p1, p2;`` giving the child's distribution, plus at most one
    ``default p1, p2;`` entry used for every configuration not listed.

    Distributions that sum to 1 within 1e-6 are accepted silently (and, like every
    :class:`~bnem.network.cpd.TabularCPD`, divided by their sum unless they are
    within 1e-12 already, so tables are normalised to round-off). Those
    off by more than 1e-6 but at most 1e-2 (rounded values such as ``0.3333,
    0.3333, 0.3333``) are renormalised and one :class:`BIFNormalizationWarning`
    names the nodes concerned; larger deviations raise :class:`BIFParseError`.

    Examples
    --------
    >>> net = read_bif("network test { }"
    ...                "variable rain { type discrete [ 2 ] { yes, no }; }"
    ...                "probability ( rain ) { table 0.2, 0.8; }")
    >>> net.cpd("rain").values.tolist()
    [0.2, 0.8]
    """
    text, name = load_text(source)
    return parse_bif(text, name)


def load_text(source: str | os.PathLike[str] | bytes | bytearray | IO[str] | IO[bytes]
              ) -> tuple[str, str]:
    """Return ``(text, source_name)`` for a path, file object, text or bytes.

    Newlines are normalised to ``"\\n"`` and a byte-order mark is dropped.

    >>> load_text("network x {\\r\\n}")
    ('network x {\\n}', '<string>')
    >>> load_text(b"\\xef\\xbb\\xbfnetwork x { }")
    ('network x { }', '<bytes>')
    """
    if isinstance(source, str) and ("\n" in source or
                                    ("{" in source and not os.path.isfile(source))):
        return _normalize_newlines(source), "<string>"  # text (an existing file is a path)
    data: str | bytes
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        with open(path, "rb") as fh:
            data = fh.read()
        name = str(path)
    elif isinstance(source, (bytes, bytearray)):
        data, name = bytes(source), "<bytes>"
    elif hasattr(source, "read"):
        data = source.read()
        given = getattr(source, "name", None)
        name = given if isinstance(given, str) else "<stream>"
    else:
        raise BnemTypeError(
            "read_bif expects a path, a file object, BIF text or bytes; "
            f"got {type(source).__name__}"
        )
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data)
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except (EOFError, OSError, zlib.error) as exc:
                raise BIFParseError(f"cannot decompress gzip data: {exc}", source=name) from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    elif isinstance(data, str):
        text = data
    else:
        raise BnemTypeError(f"the file object's read() returned {type(data).__name__}, "
                            "expected str or bytes")
    return _normalize_newlines(text.lstrip("\ufeff")), name


def _normalize_newlines(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def parse_bif(text: str, source: str = "<string>") -> BayesianNetwork:
    """Parse BIF ``text``; ``source`` names it in error messages. See :func:`read_bif`."""
    sc = Scanner(text, source)
    variables: dict[str, tuple[tuple[str, ...], int]] = {}
    blocks: dict[str, tuple[list[str], np.ndarray, int, np.ndarray]] = {}
    deferred: list[dict[str, Any]] = []
    net_name, net_pos = "unknown", None
    while True:
        tok, start = sc.next()
        if tok is None:
            break
        if tok == "network":
            if net_pos is not None:
                line = sc.where(net_pos)[0]
                raise sc.error(f"second 'network' block (the first is at line {line})", start)
            net_name, net_pos = _network(sc), start
        elif tok == "variable":
            _variable(sc, variables)
        elif tok == "probability":
            header = _header(sc, start)
            if all(n in variables for n, _ in header["names"]):
                _store(sc, header, variables, blocks)
            else:  # refers to a variable declared further down: parse it at the end
                header["body"] = sc.pos
                _skip_braces(sc)
                deferred.append(header)
        else:
            raise sc.error(f"expected 'network', 'variable' or 'probability', found {show(tok)}",
                           start)
    for header in deferred:
        for n, pos in header["names"]:
            if n not in variables:
                same = [v for v in variables if v.lower() == n.lower()]
                hint = f" (names are case-sensitive: did you mean {same[0]!r}?)" if same else ""
                raise sc.error(f"unknown variable {n!r} in a probability block{hint}; declared "
                               f"variables: {preview(variables, 8)}", pos)
        sc.pos = header["body"]
        _store(sc, header, variables, blocks)
    return _assemble(sc, net_name, variables, blocks)


def _network(sc: Scanner) -> str:
    tok, start = sc.peek()
    name = "unknown"
    if tok != "{":
        name, _ = sc.name("a network name or '{'")
    sc.expect("{", "to open the network block")
    while True:
        tok, start = sc.next()
        if tok == "}":
            return name
        if tok == "property":
            sc.skip_property(start)
        else:
            raise sc.error(f"expected 'property' or '}}' in the network block, found {show(tok)}",
                           start)


def _variable(sc: Scanner, variables: dict) -> None:
    name, name_pos = sc.name("a variable name")
    if name in variables:
        line = sc.where(variables[name][1])[0]
        raise sc.error(f"variable {name!r} is declared twice (first at line {line})", name_pos)
    sc.expect("{", f"to open the block of variable {name!r}")
    states = None
    while True:
        tok, start = sc.next()
        if tok == "}":
            break
        if tok == "property":
            sc.skip_property(start)
        elif tok == "type":
            if states is not None:
                raise sc.error(f"variable {name!r} has a second 'type' declaration", start)
            states = _type_declaration(sc, name)
        else:
            raise sc.error(f"expected 'type', 'property' or '}}' in the block of variable "
                           f"{name!r}, found {show(tok)}", start)
    if states is None:
        raise sc.error(f"variable {name!r} has no 'type discrete [ n ] {{ ... }};' declaration",
                       name_pos)
    variables[name] = (states, name_pos)


def _type_declaration(sc: Scanner, name: str) -> tuple:
    kind, kind_pos = sc.name("a variable type")
    if kind != "discrete":
        raise sc.error(f"expected 'discrete', found {kind!r} (bnem reads discrete "
                       f"variables only)", kind_pos)
    sc.expect("[", "before the number of states")
    tok, count_pos = sc.next()
    if tok is None or not (tok.isascii() and tok.isdigit()):  # not '²' or '٣'
        raise sc.error(f"expected the number of states of {name!r}, found {show(tok)}", count_pos)
    count = int(tok)
    sc.expect("]", "after the number of states")
    sc.expect("{", "to open the list of states")
    states, positions = sc.name_list("}", f"a state of {name!r}")
    sc.expect(";", "after the list of states")
    if len(states) != count:
        raise sc.error(f"variable {name!r} declares {count} states but lists {len(states)}: "
                       f"{states}", count_pos)
    seen = set()
    for state, pos in zip(states, positions):
        if state in seen:
            raise sc.error(f"variable {name!r} lists state {state!r} twice", pos)
        seen.add(state)
    return tuple(states)


def _header(sc: Scanner, start: int) -> dict:
    """``( child | p1, p2 )`` (or the old ``( child p1 p2 )``) and the opening brace."""
    sc.expect("(", "after 'probability'")
    child, child_pos = sc.name("the name of a variable")
    parents = []
    tok, pos = sc.peek()
    if tok == "|":
        sc.next()
        parents = list(zip(*sc.name_list(")", "a parent name")))
        if not parents:
            raise sc.error("expected a parent name after '|', found ')'", sc.last)
    else:
        parents = list(zip(*sc.name_list(")", "a parent name")))
    sc.expect("{", "to open the probability block")
    seen = {child}
    for p, pos in parents:
        if p in seen:
            what = "as its own parent" if p == child else "twice"
            raise sc.error(f"the probability block of {child!r} lists {p!r} {what}", pos)
        seen.add(p)
    return {"start": start, "names": [(child, child_pos)] + parents}


def _skip_braces(sc: Scanner) -> None:
    """Move past the body of a block whose opening brace has been read."""
    depth = 1
    while depth:
        tok, start = sc.next()
        if tok is None:
            raise sc.error("expected '}' closing the probability block, found end of file", start)
        if tok == "property":
            sc.skip_property(start)
        depth += (tok == "{") - (tok == "}")


def _store(sc: Scanner, header: dict, variables: dict, blocks: dict) -> None:
    (child, child_pos), parents = header["names"][0], [n for n, _ in header["names"][1:]]
    if child in blocks:
        line = sc.where(blocks[child][2])[0]
        raise sc.error(f"second probability block for {child!r} (the first is at line {line})",
                       child_pos)
    states = {n: variables[n][0] for n in [child] + parents}
    table, sources = parse_body(sc, child, parents, states)
    blocks[child] = (parents, table, header["start"], sources)


def _assemble(sc: Scanner, net_name: str, variables: dict, blocks: dict) -> BayesianNetwork:
    cpds, off_nodes = {}, []
    for name, (states, pos) in variables.items():
        if name not in blocks:
            raise sc.error(f"variable {name!r} has no probability block", pos)
        parents, table, _, sources = blocks[name]
        table, renormalized = _check_sums(sc, name, parents, variables, table, sources)
        if renormalized:
            off_nodes.append(name)
        cpds[name] = table.reshape(tuple(len(variables[p][0]) for p in parents) + (len(states),))
    if off_nodes:
        warnings.warn(
            f"{sc.source}: renormalised distributions that summed to 1 only within "
            f"{RENORMALIZE_LIMIT:g} in {len(off_nodes)} node(s): {off_nodes}",
            BIFNormalizationWarning, stacklevel=4)
    parents = {name: blocks[name][0] for name in variables}
    net_vars = [Variable(n, s) for n, (s, _) in variables.items()]
    return BayesianNetwork(net_vars, parents, cpds, name=net_name)


def _check_sums(sc, name, parents, variables, table, sources):
    """Renormalise rows off by (1e-6, 1e-2]; raise at the entry of a row off by more."""
    dev = np.abs(table.sum(axis=1) - 1.0)
    off = dev > SUM_TOLERANCE
    if not off.any():
        return table, False
    bad = np.flatnonzero(dev > RENORMALIZE_LIMIT)
    if bad.size:
        row = int(bad[0])
        cards = [len(variables[p][0]) for p in parents]
        config = np.unravel_index(row, cards) if cards else ()
        where = ", ".join(f"{p}={variables[p][0][i]}" for p, i in zip(parents, config))
        raise sc.error(
            f"the distribution of {name!r}" + (f" given ({where})" if where else "")
            + f" sums to {table[row].sum():.10g}, expected 1 (deviations up to "
            f"{RENORMALIZE_LIMIT:g} are renormalised with a warning)", int(sources[row]))
    table = table.copy()
    table[off] /= table[off].sum(axis=1, keepdims=True)
    return table, True

