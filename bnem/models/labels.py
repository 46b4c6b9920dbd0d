"""Relabelling hidden states: EM finds latent classes only up to a permutation."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ..errors import BnemValueError
from ..network.bayesnet import BayesianNetwork
from ..network.gaussian import GaussianCPD

MAX_EXACT = 8  # states up to which every permutation is tried


def best_permutation(agreement: ArrayLike) -> tuple[int, ...]:
    """The permutation ``perm`` maximising ``sum_i agreement[i, perm[i]]``.

    Exhaustive up to 8 states; above that, the Hungarian algorithm (scipy's
    ``linear_sum_assignment``), also exact.

    >>> best_permutation([[1, 9, 0], [8, 2, 0], [0, 0, 5]])
    (1, 0, 2)
    """
    try:
        a = np.asarray(agreement, dtype=float)
    except (TypeError, ValueError):
        raise BnemValueError("agreement must be a square matrix of numbers") from None
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise BnemValueError(f"agreement must be a square matrix, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise BnemValueError("agreement must be finite")
    k = a.shape[0]
    if k <= MAX_EXACT:
        return max(itertools.permutations(range(k)),
                   key=lambda p: a[np.arange(k), list(p)].sum())
    from scipy.optimize import linear_sum_assignment
    _, cols = linear_sum_assignment(a, maximize=True)
    return tuple(int(c) for c in cols)


def match_states(reference: BayesianNetwork, learned: BayesianNetwork, data: pd.DataFrame,
                 node: str) -> tuple[int, ...]:
    """Which state of ``node`` in ``learned`` is each state of ``node`` in ``reference``.

    Both networks score ``data``; ``perm[i]`` is the learned state whose posterior
    agrees most with the reference's state ``i`` over the rows (found by
    :func:`best_permutation` on the matrix of summed posterior products).
    """
    p_ref = reference.posterior(data, node).to_numpy()
    p_new = learned.posterior(data, node).to_numpy()
    if p_ref.shape != p_new.shape:
        raise BnemValueError(f"{node!r} has {p_ref.shape[1]} states in the reference and "
                             f"{p_new.shape[1]} in the learned network")
    return best_permutation(p_ref.T @ p_new)


def relabel_states(network: BayesianNetwork, node: str, perm: Iterable[int]) -> BayesianNetwork:
    """The same network with ``node``'s states reordered: new state ``i`` is old ``perm[i]``.

    State names follow their positions (the names stay in place; the parameters move),
    and the CPD axes of ``node`` in its children are permuted to match.

    >>> net = BayesianNetwork({"z": ["0", "1"], "x": ["a", "b"]}, {"x": ["z"]},
    ...                       {"z": [0.3, 0.7], "x": [[0.9, 0.1], [0.2, 0.8]]})
    >>> swapped = relabel_states(net, "z", [1, 0])
    >>> swapped.states("z"), swapped.cpd("z").values.tolist()
    (('0', '1'), [0.7, 0.3])
    >>> swapped.cpd("x").values.tolist()
    [[0.2, 0.8], [0.9, 0.1]]
    """
    network.discrete_index(node)
    perm = list(perm)
    card = len(network.states(node))
    if sorted(perm) != list(range(card)):
        raise BnemValueError(f"perm must be a permutation of 0..{card - 1}, got {perm}")
    cpds: dict[str, GaussianCPD | dict[str, Any] | np.ndarray] = {}
    for n in network.nodes:
        cpd = network.cpd(n)
        if isinstance(cpd, GaussianCPD):
            if node in cpd.discrete_parents:
                ax = cpd.discrete_parents.index(node)
                cpds[n] = {a: np.take(getattr(cpd, a), perm, axis=ax)
                           for a in ("intercept", "weights", "variance")}
            else:
                cpds[n] = cpd
            continue
        values = cpd.values
        if n == node:
            values = np.take(values, perm, axis=-1)
        if node in cpd.parents:
            values = np.take(values, perm, axis=cpd.parents.index(node))
        cpds[n] = values
    return BayesianNetwork(list(network.variables.values()),
                           {n: network.parents(n) for n in network.nodes}, cpds, name=network.name)
