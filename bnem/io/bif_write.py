"""Write a ``BayesianNetwork`` as BIF text that reads back exactly (io layer)."""

from __future__ import annotations

import gzip
import os
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from ..atomic import write_bytes
from .._validation import preview
from ..errors import BnemTypeError, NetworkError
from .bif import UNQUOTED
from .lost import warn_constraints_lost

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork


def format_bif(network: BayesianNetwork) -> str:
    """Return ``network`` as BIF text.

    Names that are not plain words (white space, ``{}()[],;|"``, ``//`` or ``/*``,
    or empty) are double-quoted with ``\\"`` and ``\\\\`` escapes. Parentless nodes
    get a ``table`` entry, the others one ``(s1, s2) p1, p2;`` entry per parent
    configuration (last parent varying fastest). Probabilities are written with
    ``repr``, the shortest text that reads back to the same float, so
    ``read_bif(format_bif(net)) == net``, except for shared tables and held
    entries, which BIF cannot express: their values are written and a
    :class:`~bnem.errors.FormatWarning` names what is lost (JSON keeps them).

    Parameters
    ----------
    network : BayesianNetwork

    Returns
    -------
    str

    Raises
    ------
    BnemTypeError
        ``network`` is not a :class:`~bnem.network.bayesnet.BayesianNetwork`.
    NetworkError
        ``network`` has Gaussian nodes.

    Examples
    --------
    >>> from bnem import BayesianNetwork, read_bif
    >>> net = BayesianNetwork({"rain": ["yes", "no"], "wet": ["yes", "no"]}, {"wet": ["rain"]},
    ...                       {"rain": [0.2, 0.8], "wet": [[0.9, 0.1], [0.1, 0.9]]},
    ...                       name="garden")
    >>> print(format_bif(net), end="")
    network garden {
    }
    variable rain {
      type discrete [ 2 ] { yes, no };
    }
    variable wet {
      type discrete [ 2 ] { yes, no };
    }
    probability ( rain ) {
      table 0.2, 0.8;
    }
    probability ( wet | rain ) {
      (yes) 0.9, 0.1;
      (no) 0.1, 0.9;
    }
    >>> read_bif(format_bif(net)) == net
    True
    """
    from ..network.bayesnet import BayesianNetwork

    if not isinstance(network, BayesianNetwork):
        raise BnemTypeError(f"format_bif expects a BayesianNetwork, got {type(network).__name__}")
    if network.is_hybrid:
        raise NetworkError(
            f"BIF cannot hold Gaussian nodes ({preview(network.continuous_nodes)}); save a "
            "hybrid network with bnem.write_json instead")
    warn_constraints_lost(network, "BIF")
    out = [f"network {quote(network.name or 'unknown')} {{\n}}\n"]
    for node in network.nodes:
        states = network.states(node)
        out.append(f"variable {quote(node)} {{\n  type discrete [ {len(states)} ] "
                   f"{{ {', '.join(quote(s) for s in states)} }};\n}}\n")
    for node in network.nodes:
        out.append(_probability(network, node))
    return "".join(out)


def write_bif(network: BayesianNetwork, target: str | os.PathLike[str] | IO[Any]) -> None:
    """Write ``network`` in BIF format to ``target``.

    Parameters
    ----------
    network : BayesianNetwork
    target : str, os.PathLike or file object
        A path (gzip-compressed if it ends with ``.gz``) or an open file, text or
        binary (UTF-8 is written).

    Raises
    ------
    BnemTypeError
        ``network`` is not a network, or ``target`` is neither a path nor writable.
    OSError
        The file cannot be written.

    See Also
    --------
    format_bif : the text written; ``read_bif`` reads it back to an equal network.
    """
    text = format_bif(network)
    if isinstance(target, (str, os.PathLike)):
        path = os.fspath(target)
        data = text.encode("utf-8")
        write_bytes(path, gzip.compress(data, mtime=0) if str(path).endswith(".gz") else data)
    elif hasattr(target, "write"):
        try:
            target.write(text)
        except TypeError:
            target.write(text.encode("utf-8"))
    else:
        raise BnemTypeError(f"write_bif expects a path or a writable file object, "
                            f"got {type(target).__name__}")


def quote(name: str) -> str:
    """``name`` as written in BIF: bare if it is a plain word, else double-quoted.

    >>> quote("rain"), quote("<5"), quote("a b")
    ('rain', '<5', '"a b"')
    """
    if UNQUOTED.match(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _probability(network, node: str) -> str:
    cpd = network.cpd(node)
    parents = cpd.parents
    head = f"probability ( {quote(node)}"
    if not parents:
        values = ", ".join(map(repr, cpd.values.tolist()))
        return f"{head} ) {{\n  table {values};\n}}\n"
    lines = [f"{head} | {', '.join(quote(p) for p in parents)} ) {{\n"]
    labels = [[quote(s) for s in network.states(p)] for p in parents]
    rows = cpd.values.reshape(-1, cpd.card).tolist()
    for config, row in zip(np.ndindex(*cpd.values.shape[:-1]), rows):
        names = ", ".join(lab[i] for lab, i in zip(labels, config))
        lines.append(f"  ({names}) {', '.join(map(repr, row))};\n")
    lines.append("}\n")
    return "".join(lines)
