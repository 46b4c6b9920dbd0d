"""Networks that come with bnem, by name (io layer).

Two folders are searched, in this order:

- bnem's own ``networks`` (package data: eight discrete networks of the bnlearn
  repository, with their references and licence in ``networks/README.md``);
- pgmpy's copy of the whole bnlearn repository (``pgmpy/utils/example_models``:
  ``*.bif.gz`` discrete networks, and ``*.json`` Gaussian ones), pgmpy being a
  dependency of bnem.

A name is a file name without its extension (``"alarm"``, ``"munin"``,
``"ecoli70"``), matched without regard to case.

>>> "alarm" in network_names() and "asia" in network_names()
True
>>> load_network("asia").nodes[:3]
('asia', 'tub', 'smoke')
"""

from __future__ import annotations

import difflib
import importlib.util
import pathlib

from ..errors import BnemTypeError, BnemValueError
from ..network.bayesnet import BayesianNetwork

_SUFFIXES = (".bif", ".bif.gz", ".json")


def _folders() -> list[pathlib.Path]:
    folders = [pathlib.Path(__file__).resolve().parents[1] / "networks"]
    spec = importlib.util.find_spec("pgmpy")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            folders.append(pathlib.Path(location) / "utils" / "example_models")
    return [f for f in folders if f.is_dir()]


def _catalogue() -> dict[str, pathlib.Path]:
    """Name → file; bnem's own folder first, so its copy wins over pgmpy's."""
    found: dict[str, pathlib.Path] = {}
    for folder in _folders():
        for path in sorted(folder.iterdir()):
            for suffix in _SUFFIXES:
                if path.name.lower().endswith(suffix):
                    found.setdefault(path.name[: -len(suffix)].lower(), path)
                    break
    return found


def network_names() -> list[str]:
    """The names :func:`load_network` accepts, sorted.

    Returns
    -------
    list of str
        bnem's bundled networks and the bnlearn repository's networks that pgmpy
        installs (discrete ``.bif.gz`` and Gaussian ``.json``).
    """
    return sorted(_catalogue())


def network_path(name: str) -> pathlib.Path:
    """The file :func:`load_network` reads for ``name`` (see there)."""
    if not isinstance(name, str):
        raise BnemTypeError(f"load_network: expected a network name (a str such as "
                            f"'alarm'), got {type(name).__name__}; to read a file, use "
                            "bnem.read_network(path)")
    catalogue = _catalogue()
    key = name.strip().lower()
    for suffix in _SUFFIXES:                      # "alarm.bif" works as well as "alarm"
        if key.endswith(suffix):
            key = key[: -len(suffix)]
    if key in catalogue:
        return catalogue[key]
    close = difflib.get_close_matches(key, catalogue, n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else "."
    raise BnemValueError(f"load_network: no bundled network is named {name!r}{hint} "
                         f"Available: {', '.join(sorted(catalogue))}. To read a file of your "
                         "own, use bnem.read_network(path)")


def load_network(name: str) -> BayesianNetwork:
    """A bundled network, by name: ``bnem.load_network("alarm")``.

    Parameters
    ----------
    name : str
        A name from :func:`network_names` (case does not matter; ``"alarm.bif"`` is
        ``"alarm"``). bnem's own networks are ``asia``, ``cancer``, ``earthquake``,
        ``survey``, ``sachs``, ``child``, ``insurance`` and ``alarm``; pgmpy adds the rest
        of the bnlearn repository (``hailfinder``, ``win95pts``, ``andes``, ``pathfinder``,
        ``munin``, ``diabetes``, ``link``, ``pigs``, the Gaussian ``ecoli70`` and
        ``magic-niab``, ...).

    Returns
    -------
    BayesianNetwork
        The network with its CPDs, as :func:`bnem.read_network` reads the file.

    Raises
    ------
    BnemValueError
        No network has that name; the message lists the names and the closest ones.
    """
    from .formats import read_network
    return read_network(network_path(name))
