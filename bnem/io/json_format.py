"""Discrete and hybrid networks as JSON (io layer).

The format
----------
A network is one JSON object::

    {
      "format": "bnem-network",
      "version": 1,
      "name": "plant",
      "nodes": [
        {
          "name": "line",
          "type": "discrete",
          "states": ["A", "B"],
          "parents": [],
          "cpd": [0.3, 0.7]
        },
        {
          "name": "speed",
          "type": "gaussian",
          "parents": ["line"],
          "intercept": [10.0, 12.5],
          "weights": [[], []],
          "variance": [1.0, 2.25]
        },
        {
          "name": "heat",
          "type": "gaussian",
          "parents": ["speed", "line"],
          "intercept": [1.0, -3.0],
          "weights": [[0.5], [0.75]],
          "variance": [0.25, 0.5]
        }
      ]
    }

``format`` and ``version`` are required (a reader rejects versions it does not
know); ``name`` is optional (``"unknown"``).
``nodes`` lists every node once, in any order (the order is kept). A node has:

``name``
    A non-empty string.
``type``
    ``"discrete"`` or ``"gaussian"`` (conditional linear Gaussian).
``parents``
    Names of its parents, optional (none). The order is kept and fixes the axes
    below. A discrete node may only have discrete parents.
``states`` (discrete only)
    Its state names: a non-empty array of distinct strings.
``cpd`` (discrete only)
    Nested arrays of shape ``(*parent_cards, card)``: one axis per parent, in
    ``parents`` order, then the node's own states; every innermost array sums to 1.
    Without parents it is a flat array.
``intercept``, ``variance`` (gaussian only)
    Nested arrays with one axis per *discrete* parent (in ``parents`` order); a
    single number when the node has no discrete parent. Variances are > 0.
``weights`` (gaussian only)
    As ``intercept`` plus a last axis with one coefficient per *continuous* parent,
    in ``parents`` order (so ``[]`` or ``[[], []]`` when there is none).

Two optional top-level keys declare shared and held blocks (see
:mod:`bnem.io.json_constraints`): ``"shared": {"item": ["x1", "x2"]}`` and
``"held": {"z": true, "x3": [[false, true], [false, false]]}``.

For every configuration ``u`` of its discrete parents a Gaussian node is
``X = intercept[u] + weights[u] @ (continuous parents) + N(0, variance[u])``.
Parameters left out on reading default to a uniform table, or intercept 0,
weights 0 and variance 1 (a structure to be learned); :func:`write_json` always
writes them. Numbers are written with Python's ``repr``, so
``read_json(p) == net`` after ``write_json(net, p)``. Unknown keys are errors.

:func:`read_json` also reads the Gaussian networks of R's bnlearn in the JSON
layout pgmpy ships (``{"nodes", "arcs", "cpds"}``, see :mod:`bnem.io.json_bnlearn`);
the layout is recognised by content.
"""

from __future__ import annotations

import gzip
import json
import os
import pathlib
from typing import IO, TYPE_CHECKING, Any

from ..atomic import write_bytes
from ..data.variables import ContinuousVariable, Variable
from ..errors import BIFParseError, BnemTypeError
from .json_checks import (JSONFormatError, build, check_object, describe, numbers,
                          object_pairs, strings)
from .json_constraints import KEYS as CONSTRAINT_KEYS
from .json_constraints import apply_constraints, constraints_document

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork

__all__ = ["read_json", "write_json", "format_json", "parse_json", "JSONFormatError"]

FORMAT = "bnem-network"
VERSION = 1
_TOP_KEYS = ("format", "version", "name", "nodes") + CONSTRAINT_KEYS
_NODE_KEYS = {"discrete": ("name", "type", "parents", "states", "cpd"),
              "gaussian": ("name", "type", "parents", "intercept", "weights", "variance")}


# -- writing --------------------------------------------------------------------------

def format_json(network: BayesianNetwork) -> str:
    """Return ``network`` as JSON text in the format described in this module.

    Parameters
    ----------
    network : BayesianNetwork

    Returns
    -------
    str
        One key per line; the arrays of a node on one line each.

    Raises
    ------
    BnemTypeError
        ``network`` is not a :class:`~bnem.network.bayesnet.BayesianNetwork`.

    Examples
    --------
    >>> from bnem import BayesianNetwork
    >>> net = BayesianNetwork({"rain": ["yes", "no"]}, cpds={"rain": [0.2, 0.8]}, name="tiny")
    >>> print(format_json(net), end="")
    {
      "format": "bnem-network",
      "version": 1,
      "name": "tiny",
      "nodes": [
        {
          "name": "rain",
          "type": "discrete",
          "states": ["yes", "no"],
          "parents": [],
          "cpd": [0.2, 0.8]
        }
      ]
    }
    """
    from ..network.bayesnet import BayesianNetwork

    if not isinstance(network, BayesianNetwork):
        raise BnemTypeError(f"format_json expects a BayesianNetwork, got {type(network).__name__}")
    head = {"format": FORMAT, "version": VERSION, "name": network.name or "unknown"}
    lines = [f"  {_dump(k)}: {_dump(v)}," for k, v in head.items()]
    nodes = []
    for node in network.nodes:
        fields = _node_document(network, node)
        nodes.append("    {\n" + ",\n".join(f"      {_dump(k)}: {_dump(v)}"
                                            for k, v in fields.items()) + "\n    }")
    blocks = "".join(f',\n  {_dump(k)}: {_dump(v)}' for k, v in
                     constraints_document(network).items())
    return "{\n" + "\n".join(lines) + '\n  "nodes": [\n' + ",\n".join(nodes) + "\n  ]" + \
        blocks + "\n}\n"


def write_json(network: BayesianNetwork, target: str | os.PathLike[str] | IO[Any]) -> None:
    """Write ``network`` as JSON (see the module documentation for the format).

    Parameters
    ----------
    network : BayesianNetwork
        Discrete or hybrid.
    target : str, os.PathLike or file object
        A path (gzip-compressed if it ends with ``.gz``) or an open file, text or
        binary (UTF-8 is written).

    Raises
    ------
    BnemTypeError
        ``network`` is not a network, or ``target`` is neither a path nor a file.

    Examples
    --------
    >>> import bnem, tempfile, os
    >>> net = bnem.BayesianNetwork({"z": ["a", "b"], "x": "continuous"}, {"x": ["z"]},
    ...                            {"x": {"intercept": [0.0, 5.0], "variance": [1.0, 2.0]}})
    >>> path = os.path.join(tempfile.mkdtemp(), "mix.json")
    >>> write_json(net, path)
    >>> read_json(path) == net
    True
    """
    text = format_json(network)
    if isinstance(target, (str, os.PathLike)):
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # e.g. a lone surrogate in a name: JSON escapes it
            data = _ascii(text).encode("ascii")
        if os.fspath(target).lower().endswith(".gz"):
            data = gzip.compress(data, mtime=0)
        write_bytes(target, data)
    elif hasattr(target, "write"):
        try:
            target.write(text)
        except TypeError:
            try:
                target.write(text.encode("utf-8"))
            except UnicodeEncodeError:
                target.write(_ascii(text).encode("ascii"))
        except UnicodeEncodeError:  # a text handle whose encoding cannot hold a name
            target.write(_ascii(text))
    else:
        raise BnemTypeError(f"write_json expects a path or a file object, got {type(target).__name__}")


def _node_document(network, node) -> dict:
    cpd = network.cpd(node)
    parents = list(network.parents(node))
    if node in network.continuous_nodes:
        return {"name": node, "type": "gaussian", "parents": parents,
                "intercept": cpd.intercept.tolist(), "weights": cpd.weights.tolist(),
                "variance": cpd.variance.tolist()}
    return {"name": node, "type": "discrete", "states": list(network.states(node)),
            "parents": parents, "cpd": cpd.values.tolist()}


def _dump(value) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _ascii(text: str) -> str:
    """The same JSON with every non-ASCII character escaped (reads back identically)."""
    return json.dumps(json.loads(text), ensure_ascii=True, allow_nan=False, indent=2)


# -- reading --------------------------------------------------------------------------

def read_json(source: str | os.PathLike[str] | IO[str] | IO[bytes]) -> BayesianNetwork:
    """Read a network from JSON: bnem's format, or a bnlearn/pgmpy Gaussian network.

    Parameters
    ----------
    source : str, os.PathLike or file object
        A path (gzip-compressed files such as ``*.json.gz`` are recognised by their
        magic bytes), an open file, or the JSON text itself (a ``str`` starting with
        ``{`` that names no existing file, as :func:`~bnem.io.bif_read.read_bif` takes
        BIF text).

    Returns
    -------
    BayesianNetwork

    Raises
    ------
    JSONFormatError
        Not JSON, an unknown layout or version, or a malformed node; the message says
        which file, node and field, what was expected and what was found.
    CycleError
        The parents form a directed cycle.
    FileNotFoundError
        The file does not exist.
    BnemTypeError
        ``source`` is neither a path nor a file object.
    """
    if isinstance(source, str) and source.lstrip().startswith("{") \
            and not os.path.isfile(source):
        return parse_json(source)
    if isinstance(source, (str, os.PathLike)):
        source = pathlib.Path(source)
    elif not hasattr(source, "read"):
        raise BnemTypeError(f"read_json expects a path or a file object, got {type(source).__name__}")
    from .bif_read import load_text

    try:
        text, name = load_text(source)
    except BIFParseError as exc:  # a corrupt gzip stream
        raise JSONFormatError(str(exc)) from None
    return parse_json(text, name)


def parse_json(text: str, source: str = "<string>") -> BayesianNetwork:
    """Parse JSON ``text`` into a network; ``source`` names it in error messages.

    The layout is recognised by content: an object with ``"format"`` is bnem's
    format; one with ``"nodes"``, ``"arcs"`` and ``"cpds"`` is bnlearn's Gaussian
    layout. See :func:`read_json`.

    Examples
    --------
    >>> net = parse_json('{"format": "bnem-network", "version": 1, "nodes": ['
    ...                  '{"name": "rain", "type": "discrete", "states": ["yes", "no"]}]}')
    >>> net.cpd("rain").values.tolist()
    [0.5, 0.5]
    >>> parse_json('{"format": "bnem-network", "version": 2, "nodes": []}', "net.json")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bnem.io.json_checks.JSONFormatError: net.json: ... version number 2 is not supported; ...
    """
    try:
        doc = json.loads(text, object_pairs_hook=object_pairs)
    except json.JSONDecodeError as exc:
        raise JSONFormatError(f"{source}:{exc.lineno}:{exc.colno}: not valid JSON: "
                              f"{exc.msg}") from None
    except RecursionError:
        raise JSONFormatError(f"{source}: JSON nested too deeply") from None
    if isinstance(doc, dict) and "format" in doc:
        if doc["format"] != FORMAT:
            raise JSONFormatError(f"{source}: unknown format {describe(doc['format'])}; "
                                  f"expected \"format\": \"{FORMAT}\"")
        return _from_document(doc, source)
    if isinstance(doc, dict) and {"nodes", "arcs", "cpds"} <= set(doc):
        from .json_bnlearn import from_bnlearn
        return from_bnlearn(doc, source, _stem(source))
    got = (f"an object with keys {sorted(doc)}" if isinstance(doc, dict) else describe(doc))
    raise JSONFormatError(
        f"{source}: unknown JSON network layout: expected an object with \"format\": "
        f"\"{FORMAT}\", or a bnlearn/pgmpy Gaussian network with keys 'nodes', 'arcs' and "
        f"'cpds'; got {got}")


def _from_document(doc, source: str):
    where = f"{source}: top level"
    check_object(doc, where, ("format", "version", "nodes"), _TOP_KEYS)
    version = doc["version"]
    if version != VERSION or isinstance(version, bool):
        raise JSONFormatError(f"{where}: version {describe(version)} is not supported; this "
                              f"bnem reads version {VERSION} (was the file written by a newer bnem?)")
    name = doc.get("name", "unknown")
    if not isinstance(name, str):
        raise JSONFormatError(f"{where}: 'name' must be a string, got {describe(name)}")
    heads = _node_heads(doc["nodes"], source)
    kinds = {h["name"]: h["type"] for h in heads}
    cards = {h["name"]: len(h["states"]) for h in heads if h["type"] == "discrete"}
    variables: list[Variable | ContinuousVariable] = []
    parents, cpds = {}, {}
    for h in heads:
        where = f"{source}: node {h['name']!r}"
        parents[h["name"]] = h["parents"]
        if h["type"] == "discrete":
            variables.append(build(where, Variable, h["name"], h["states"]))
            cpd = _discrete_values(h, kinds, cards, where)
        else:
            variables.append(ContinuousVariable(h["name"]))
            cpd = _gaussian_values(h, kinds, cards, where)
        if cpd is not None:
            cpds[h["name"]] = cpd
    from ..network.bayesnet import BayesianNetwork
    network = build(source, BayesianNetwork, variables, parents, cpds, name=name)
    return apply_constraints(network, doc, source) if set(CONSTRAINT_KEYS) & set(doc) \
        else network


def _node_heads(entries, source: str) -> list:
    """Names, types, states and parents of every node, checked against each other."""
    if not isinstance(entries, list) or not entries:
        raise JSONFormatError(f"{source}: 'nodes' must be a non-empty array of node objects, "
                              f"got {describe(entries)}")
    heads, seen = [], set()
    for i, entry in enumerate(entries):
        where = f"{source}: nodes[{i}]"
        if not isinstance(entry, dict):
            raise JSONFormatError(f"{where}: expected a node object, got {describe(entry)}")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise JSONFormatError(f"{where}: 'name' must be a non-empty string, got {describe(name)}")
        where = f"{source}: node {name!r}"
        if name in seen:
            raise JSONFormatError(f"{where}: the name appears more than once in 'nodes'")
        seen.add(name)
        kind = entry.get("type")
        if kind not in _NODE_KEYS:
            raise JSONFormatError(f"{where}: 'type' must be \"discrete\" or \"gaussian\", "
                                  f"got {describe(kind)}")
        required = ("name", "type", "states") if kind == "discrete" else ("name", "type")
        check_object(entry, f"{where} ({kind})", required, _NODE_KEYS[kind])
        head = {"name": name, "type": kind, "entry": entry,
                "parents": strings(entry.get("parents", []), where, "parents")}
        if kind == "discrete":
            head["states"] = strings(entry["states"], where, "states")
        heads.append(head)
    for h in heads:
        if h["name"] in h["parents"]:
            raise JSONFormatError(f"{source}: node {h['name']!r} lists itself as a parent")
        unknown = [p for p in h["parents"] if p not in seen]
        if unknown:
            raise JSONFormatError(f"{source}: node {h['name']!r}: parent {unknown[0]!r} is not "
                                  f"a node; nodes are {[x['name'] for x in heads]}")
        if len(set(h["parents"])) != len(h["parents"]):
            raise JSONFormatError(f"{source}: node {h['name']!r}: 'parents' lists a node twice: "
                                  f"{h['parents']}")
    return heads


def _discrete_values(head, kinds, cards, where):
    continuous = [p for p in head["parents"] if kinds[p] == "gaussian"]
    if continuous:
        raise JSONFormatError(f"{where}: a discrete node may only have discrete parents; "
                              f"got gaussian parent(s) {continuous}")
    if "cpd" not in head["entry"]:
        return None
    shape = tuple(cards[p] for p in head["parents"]) + (len(head["states"]),)
    axes = [f"{p} ({cards[p]} states)" for p in head["parents"]]
    axes.append(f"the {shape[-1]} states of {head['name']!r}")
    return numbers(head["entry"]["cpd"], shape, where, "cpd", "axes: " + ", then ".join(axes))


def _gaussian_values(head, kinds, cards, where):
    disc = [p for p in head["parents"] if kinds[p] == "discrete"]
    cont = [p for p in head["parents"] if kinds[p] == "gaussian"]
    shape = tuple(cards[p] for p in disc)
    axes = ("axes: " + ", ".join(f"{p} ({cards[p]} states)" for p in disc)) if disc \
        else "a single number: no discrete parents"
    entry, out = head["entry"], {}
    for key in ("intercept", "variance"):
        if key in entry:
            out[key] = numbers(entry[key], shape, where, key, axes)
    if "weights" in entry:
        last = f"one coefficient per continuous parent {cont}"
        waxes = (axes + ", then " + last) if disc else "axes: " + last
        out["weights"] = numbers(entry["weights"], shape + (len(cont),), where, "weights", waxes)
    return out


def _stem(source: str) -> str:
    name = os.path.basename(source)
    for suffix in (".gz", ".json"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name or "unknown"
