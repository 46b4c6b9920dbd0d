"""Sequences as networks: hidden Markov models unrolled with shared CPDs (models layer).

A hidden Markov model is a dynamic network whose slices share their CPDs
(:func:`dynamic_network` unrolls any two-slice structure the same way). Unrolled to a
length ``T``, it is a network with a hidden chain ``state[0] -> state[1] -> ...`` and,
in each slice, observed children ``y[t]`` of ``state[t]``; every transition
``state[t] | state[t-1]`` (t >= 1) is one shared block, and so is every slice's
emission of each observed variable. :func:`bnem.fit` then learns it like any network
(restarts, SQUAREM, prior, weights per sequence, checkpoints, files, Dask): the shared
blocks pool their expected counts over the slices, which is Baum-Welch.

Sequences of different lengths share one network: a sequence shorter than ``T`` is
padded with missing cells, and missing slices at the end sum out exactly (their
probabilities sum to one), so its likelihood is that of its own length. Inference on
the unrolled chain is linear in ``T`` per sequence; the network has ``T`` slices, so
this suits sequences of up to a few hundred steps. Longer ones are learned from the
two slices alone when one hidden chain joins them (:class:`bnem.Sequences`,
:mod:`bnem.inference.chain`).

Data arrive in long format, one row per time step (:func:`sequence_rows` turns them
into one row per sequence), or as hmmlearn's ``X`` with ``lengths``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._validation import check_int
from ..data.sequences import Sequences, ordered_steps
from ..data.source import Kind, as_source
from ..errors import BnemTypeError, BnemValueError, DataError
from ..network.bayesnet import BayesianNetwork

TRANSITION = "transition"


def slice_name(variable: str, t: int) -> str:
    """The node of ``variable`` in slice ``t``: ``"y[3]"``."""
    return f"{variable}[{t}]"


def hidden_markov_network(n_states: int, observed: Mapping[str, Any], length: int,
                          hidden: str = "state") -> BayesianNetwork:
    """An HMM unrolled to ``length`` slices, transitions and emissions shared.

    Parameters
    ----------
    n_states : int
        States of the hidden chain (named ``"0"``, ``"1"``, ...).
    observed : dict
        Each observed variable of a slice and its states (a list) or ``"continuous"``
        (a Gaussian emission per hidden state).
    length : int
        Slices (the longest sequence).
    hidden : str
        Name of the hidden variable.

    Returns
    -------
    BayesianNetwork
        Nodes ``hidden[t]`` and ``y[t]``; shared blocks ``"transition"`` (slices 1..)
        and ``"emission:y"`` per observed variable; ``hidden[0]``'s table is the
        initial distribution.

    Examples
    --------
    >>> net = hidden_markov_network(2, {"y": ["a", "b"]}, length=3)
    >>> net.nodes
    ('state[0]', 'y[0]', 'state[1]', 'y[1]', 'state[2]', 'y[2]')
    >>> sorted(net.shared_groups)
    ['emission:y', 'transition']
    """
    k = check_int(n_states, "n_states", minimum=1)
    length = check_int(length, "length", minimum=1)
    if not isinstance(observed, Mapping) or not observed:
        raise BnemTypeError("observed must be a dict of observed variables and their states "
                            "(or 'continuous'), e.g. {'y': ['a', 'b']}")
    if hidden in observed:
        raise BnemValueError(f"{hidden!r} names both the hidden variable and an observed one")
    variables: dict[str, Any] = {}
    parents: dict[str, list[str]] = {}
    for t in range(length):
        h = slice_name(hidden, t)
        variables[h] = [str(i) for i in range(k)]
        if t:
            parents[h] = [slice_name(hidden, t - 1)]
        for name, states in observed.items():
            node = slice_name(str(name), t)
            variables[node] = states if isinstance(states, str) else [str(s) for s in states]
            parents[node] = [h]
    net = BayesianNetwork(variables, parents, name=f"hmm-{length}")
    if length > 2 and k > 1:  # (one transition node at length 2: nothing to share)
        net = net.share(TRANSITION, [slice_name(hidden, t) for t in range(1, length)])
    if length > 1:
        for name in observed:
            net = net.share(f"emission:{name}", [slice_name(str(name), t)
                                                 for t in range(length)])
    return net


def dynamic_network(variables: Mapping[str, Any], within: Sequence = (),
                    between: Sequence = (), length: int = 2,
                    name: str = "dynamic") -> BayesianNetwork:
    """A dynamic Bayesian network unrolled to ``length`` slices, its CPDs shared over time.

    Parameters
    ----------
    variables : dict
        The variables of one slice and their states (a list) or ``"continuous"``.
        Latent ones are simply absent from the data.
    within : list of (parent, child)
        Arcs inside every slice: ``parent[t] -> child[t]``.
    between : list of (parent, child)
        Arcs from one slice to the next: ``parent[t-1] -> child[t]``.
    length : int
        Slices (the longest sequence; shorter ones are padded with missing cells).

    Returns
    -------
    BayesianNetwork
        Nodes ``v[t]``. Every variable's nodes of slices 1.. share one CPD (the block
        ``"v"``); a variable without arcs from the previous slice shares it with slice
        0 as well (its parents have the same states there), while one with such arcs has
        its own initial CPD in slice 0 (its parents there are the slice's own only).

    Examples
    --------
    >>> net = dynamic_network({"z": ["a", "b"], "w": ["a", "b"], "y": ["0", "1"]},
    ...                       within=[("z", "w"), ("w", "y")], between=[("z", "z")],
    ...                       length=3)
    >>> net.parents("z[2]"), net.parents("w[2]"), net.parents("z[0]")
    (('z[1]',), ('z[2]',), ())
    >>> sorted(net.shared_groups)
    ['w', 'y', 'z']
    """
    length = check_int(length, "length", minimum=1)
    if not isinstance(variables, Mapping) or not variables:
        raise BnemTypeError("variables must be a dict of a slice's variables and their states "
                            "(or 'continuous'), e.g. {'z': ['a', 'b'], 'y': 'continuous'}")
    names = [str(v) for v in variables]
    for label, arcs in (("within", within), ("between", between)):
        for arc in arcs:
            if isinstance(arc, (str, bytes)) or len(arc) != 2:
                raise BnemValueError(f"{label}: every arc must be a (parent, child) pair, got "
                                     f"{arc!r}")
            unknown = [str(v) for v in arc if str(v) not in names]
            if unknown:
                raise BnemValueError(f"{label}: arc {tuple(arc)!r} names {unknown}, which are "
                                     f"not variables of the slice ({names})")
    inside = {v: [str(p) for p, c in within if str(c) == v] for v in names}
    carried = {v: [str(p) for p, c in between if str(c) == v] for v in names}
    nodes: dict[str, Any] = {}
    parents: dict[str, list[str]] = {}
    for t in range(length):
        for v in names:
            states = variables[v]
            node = slice_name(v, t)
            nodes[node] = states if isinstance(states, str) else [str(x) for x in states]
            parents[node] = [slice_name(p, t) for p in inside[v]] + \
                ([slice_name(p, t - 1) for p in carried[v]] if t else [])
    net = BayesianNetwork(nodes, parents, name=f"{name}-{length}")
    for v in names:
        first = 0 if not carried[v] else 1
        members = [slice_name(v, t) for t in range(first, length)]
        if len(members) > 1:
            net = net.share(v, members)
    return net


def sequence_rows(data: Any, columns: Sequence[str] | None = None, *, sequence: str | None = None,
                  time: str | None = None, lengths: Any = None,
                  length: int | None = None) -> pd.DataFrame:
    """Long-format sequences as one row per sequence, for an unrolled network.

    Parameters
    ----------
    data : DataFrame or 2-D array
        One row per time step. With ``sequence`` (and optionally ``time``): columns
        naming each row's sequence and time step; rows are put in time order within
        each sequence, and a gap or a repeat in the time steps is an error naming the
        sequence and time. With ``lengths`` (hmmlearn's convention): consecutive rows,
        ``lengths[i]`` of them for sequence ``i``.
    columns : list of str, optional
        The observed variables (default: every column but ``sequence`` and ``time``; for
        an array, ``x0``, ``x1``, ...).
    length : int, optional
        Slices (default: the longest sequence); shorter sequences are padded with
        missing cells.

    Returns
    -------
    DataFrame
        One row per sequence (indexed by the sequence id, or its number), columns
        ``y[t]`` for every observed variable ``y`` and slice ``t``.
    """
    frame, sequence, time, position = ordered_steps(data, sequence, time, lengths)
    drop = {sequence} | ({time} if time is not None else set())
    names = [c for c in frame.columns if c not in drop] if columns is None else \
        [str(c) for c in columns]
    unknown = [c for c in names if c not in frame.columns]
    if unknown:
        raise BnemValueError(f"columns {unknown} are not in the data; columns are "
                             f"{list(frame.columns)}")
    longest = int(position.max()) + 1 if len(frame) else 0
    length = longest if length is None else check_int(length, "length", minimum=1)
    if longest > length:
        raise BnemValueError(f"a sequence has {longest} steps, more than length={length}")
    codes, order = pd.factorize(frame[sequence], sort=False)
    rows = np.asarray(codes, dtype=np.int64)
    out = {}
    for name in names:
        values = frame[name]
        for t in range(length):
            column = np.full(order.size, np.nan, dtype=object)
            at = position == t
            column[rows[at]] = values.to_numpy(dtype=object)[at]
            out[slice_name(name, t)] = column
    wide = pd.DataFrame(out, index=pd.Index(order, name=None if lengths is not None
                                            else sequence))
    return wide.infer_objects()


def viterbi(network: BayesianNetwork, data: Any, hidden: str = "state",
            lengths: Any = None) -> tuple[pd.DataFrame, np.ndarray]:
    """The most probable hidden path of every sequence (max-product over the chain).

    With ``data`` a :class:`bnem.Sequences` and ``network`` a two-slice network whose
    slices one chain joins (see the sequences guide), the chain is decoded without
    unrolling: the path comes one row per step (columns ``sequence``, ``time`` and the
    chain's name, its states), and ``hidden`` and ``lengths`` are not used.

    Parameters
    ----------
    network : BayesianNetwork
        An HMM as :func:`hidden_markov_network` builds it (each ``y[t]`` a child of
        ``hidden[t]`` alone), with its CPDs (a fitted one).
    data : DataFrame
        One row per sequence, as :func:`sequence_rows` gives; missing cells are summed
        out of the emissions.
    lengths : sequence of int, optional
        Each sequence's own number of steps: its path ends there (the padding after it
        is not decoded). Without it every row is decoded over all the network's slices.

    Returns
    -------
    (DataFrame, ndarray)
        The path, one column per slice (``hidden[t]``) holding state names (None after
        a sequence's end), indexed like ``data``; and each path's log joint probability
        with the observed cells, ``max_path log P(path, observed)``.
    """
    if as_source(data).kind is Kind.SEQUENCES:
        from ..inference.chain import slices_of, viterbi_path

        name, _ = slices_of(network)
        codes, best = viterbi_path(network, data)
        labels = np.array(network.states(f"{name}[0]") + (None,), dtype=object)
        return pd.DataFrame({"sequence": np.repeat(np.asarray(data.ids, dtype=object),
                                                   data.lengths),
                             "time": data.times, name: labels[codes]}), best
    if not isinstance(data, pd.DataFrame):
        raise BnemTypeError(f"viterbi: expected a DataFrame of one row per sequence "
                            f"(bnem.sequence_rows gives one), got {type(data).__name__}")
    chain: list[str] = []
    while slice_name(hidden, len(chain)) in network.nodes:
        chain.append(slice_name(hidden, len(chain)))
    if not chain:
        raise BnemValueError(f"viterbi: the network has no node {slice_name(hidden, 0)!r}; "
                             "expected an HMM from bnem.hidden_markov_network")
    unknown = [c for c in data.columns if c not in network.nodes]
    if unknown:
        raise BnemValueError(f"viterbi: column(s) {unknown[:5]} name no node of the network "
                             f"(its observed nodes are like "
                             f"{[c for c in network.children(chain[0]) if c not in chain][:3]})")
    states = network.states(chain[0])
    k, n, length = len(states), len(data), len(chain)
    emit = np.zeros((n, length, k))
    for t, h in enumerate(chain):
        for child in network.children(h):
            if child in chain:
                continue
            if network.parents(child) != (h,):
                raise BnemValueError(f"viterbi: {child!r} has parents "
                                     f"{list(network.parents(child))}; expected {h!r} alone "
                                     "(an HMM from bnem.hidden_markov_network)")
            if child not in data.columns:
                continue
            emit[:, t] += _log_emission(network, child, data[child])
        if t and network.parents(h) != (chain[t - 1],):
            raise BnemValueError(f"viterbi: {h!r} must have {chain[t - 1]!r} as its only "
                                 "parent")
    ends = np.full(n, length, dtype=np.int64) if lengths is None else np.asarray(lengths)
    if ends.shape != (n,) or not np.issubdtype(ends.dtype, np.integer) or \
            (ends < 1).any() or (ends > length).any():
        raise BnemValueError(f"viterbi: lengths must hold one whole number in 1..{length} per "
                             f"row of data ({n}), got {list(np.ravel(ends))[:10]}")
    stay = np.broadcast_to(np.arange(k), (n, k))
    with np.errstate(divide="ignore"):
        score = np.log(np.asarray(network.cpd(chain[0]).values, dtype=float))[None, :] + \
            emit[:, 0]
        back = np.zeros((n, length, k), dtype=np.int64)
        for t in range(1, length):
            log_a = np.log(np.asarray(network.cpd(chain[t]).values, dtype=float))
            cand = score[:, :, None] + log_a[None, :, :]          # (n, from, to)
            on = (t < ends)[:, None]       # a sequence's path stops at its own end
            back[:, t] = np.where(on, cand.argmax(axis=1), stay)
            score = np.where(on, cand.max(axis=1) + emit[:, t], score)
    best = score.argmax(axis=1)
    logp = score[np.arange(n), best]
    path = np.empty((n, length), dtype=np.int64)
    path[:, -1] = best
    for t in range(length - 1, 0, -1):
        path[:, t - 1] = back[np.arange(n), t, path[:, t]]
    names = np.asarray(states, dtype=object)
    labels = names[path]
    labels[np.arange(length)[None, :] >= ends[:, None]] = None
    frame = pd.DataFrame(labels, index=data.index, columns=chain)
    return frame, logp


def _log_emission(network: BayesianNetwork, node: str, column: pd.Series) -> np.ndarray:
    """``(n, K)``: log P(cell | hidden state) per row; 0 for a missing cell."""
    from ..data.encode import encode

    cpd = network.cpd(node)
    n = len(column)
    out = np.zeros((n, cpd.intercept.size if node in network.continuous_nodes
                    else cpd.values.shape[0]))
    if node in network.continuous_nodes:
        x = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(x) & column.notna().to_numpy()
        if bad.any():
            raise DataError(f"column {node!r}: value {column[bad].iloc[0]!r} is not a number")
        seen = ~np.isnan(x)
        mean, var = np.ravel(cpd.intercept), np.ravel(cpd.variance)
        out[seen] = -0.5 * (np.log(2 * np.pi * var)[None, :] +
                            (x[seen, None] - mean[None, :]) ** 2 / var[None, :])
        return out
    codes = encode(column.to_frame(), [network.variable(node)], merge=False).codes[:, 0]
    seen = codes >= 0
    with np.errstate(divide="ignore"):
        out[seen] = np.log(np.asarray(cpd.values, dtype=float).T[codes[seen]])
    return out


def forward_backward(network: BayesianNetwork, data: Sequences,
                     filtered: bool = False) -> tuple[pd.DataFrame, pd.Series]:
    """Smoothed (or filtered) posteriors of the chain of a two-slice network, without
    unrolling.

    Parameters
    ----------
    network : BayesianNetwork
        Two slices joined by one discrete chain ``h[0] -> h[1]`` (a fitted
        :func:`hidden_markov_network` or :func:`dynamic_network` of ``length=2``).
    data : Sequences
    filtered : bool, default False
        ``P(h_t = k | its sequence's steps up to t)`` (the forward pass alone, what an
        online monitor knows at step ``t``) instead of the smoothed posteriors.

    Returns
    -------
    (DataFrame, Series)
        ``P(h_t = k | its sequence)``, one row per step (columns ``sequence``, ``time``,
        then one per state); and each sequence's log-likelihood, indexed by its id.
        An impossible sequence has log-likelihood -inf and posteriors 0 (filtering
        posteriors: 0 from its first impossible step on).

    Examples
    --------
    >>> import pandas as pd
    >>> net = hidden_markov_network(2, {"y": ["a", "b"]}, length=2)
    >>> post, ll = forward_backward(net, Sequences(pd.DataFrame({"y": ["a", "b", "a"]}),
    ...                                            lengths=[3]))
    >>> list(post.columns), post.shape
    (['sequence', 'time', '0', '1'], (3, 4))
    """
    from ..inference.chain import slices_of, smooth

    if as_source(data).kind is not Kind.SEQUENCES:
        raise BnemTypeError(f"forward_backward: expected bnem.Sequences, got "
                            f"{type(data).__name__}")
    name, _ = slices_of(network)
    smoothed = smooth(network, data, filtered=filtered)
    post = pd.DataFrame(smoothed.posterior, columns=list(network.states(f"{name}[0]")))
    post.insert(0, "time", data.times)
    post.insert(0, "sequence", np.repeat(np.asarray(data.ids, dtype=object), data.lengths))
    return post, pd.Series(smoothed.log_likelihood, index=data.ids, name="log_likelihood")
