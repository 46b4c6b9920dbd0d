"""Forward-backward over a hidden chain: two-slice networks without unrolling
(inference layer).

A dynamic network given by its two slices (nodes ``v[0]`` and ``v[1]``) whose slices
are joined only through one discrete *chain* node (``h[0] -> h[1]``, the chain's only
parent in either slice, and no other arc between slices) factorises, for a sequence
``y_0 .. y_{T-1}``, as ``P(h_0) P(y_0 | h_0) prod_t P(h_t | h_{t-1}) P(y_t | h_t)``,
where ``P(y_t | h_t)`` is the rest of the slice (any structure, discrete and
Gaussian nodes, missing cells) given the chain. So:

* the *slice networks*: each slice alone, its chain node a root; every distinct
  step is evaluated once per chain state ``k`` with the chain observed as ``k``,
  which gives ``log P(y_t | h_t = k)`` by the network's own exact inference
  (:class:`~bnem.inference.compiled.CompiledNetwork`, one plan, whatever the length);
* forward-backward over the chain gives each sequence's log-likelihood, each step's
  ``P(h_t | sequence)`` and the expected transitions, in scaled linear space (a numba
  kernel, or numpy over segments of about ``sqrt(T)`` steps, batched over sequences;
  memory and time linear in the number of steps), and in log space for the sequences
  scaled arithmetic cannot be trusted with (see :data:`RISKY`);
* the slice networks' E-step with each (step, ``k``) row weighted by its posterior
  gives the expected statistics of the slice's other families, which are those of the
  two-slice network's nodes of the same names (slice 0: the first step of every
  sequence; slice 1: all later steps).

:class:`ChainData` is that E-step behind the interface the EM driver reads
(:class:`~bnem.inference.dataset.FitData`), so :func:`bnem.fit` learns the two-slice
network (shared emissions pool slices 0 and 1 as Baum-Welch does) with all of its
options but hard EM. The statistics, log-likelihood and so every EM iterate equal
those of the network unrolled to each sequence's length (a test checks it to 1e-12).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..data.encode import encode, row_label
from ..data.sequences import Sequences
from ..errors import BnemValueError, DataError, ImpossibleRowError, NetworkError
from ..network.parameters import GAUSSIAN, TABLE, Parameters
from ..ragged import add_at
from .budget import MemoryBudget
from .compiled import CompiledNetwork, ImpossibleRows, compile
from .evidence import ChunkEvidence, observed_families
from .jit import disabled, jitted
from .stats import Moments, Stats

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork

SLICED = re.compile(r"^(.*)\[([01])\]$")


def slices_of(network: "BayesianNetwork") -> tuple[str, dict[str, tuple[str, int]]]:
    """The chain variable of a two-slice ``network`` and each node's ``(variable,
    slice)``; raises :class:`NetworkError` saying what is not a chained two-slice
    network."""
    where: dict[str, tuple[str, int]] = {}
    for n in network.nodes:
        m = SLICED.match(n)
        if m is None:
            raise NetworkError(f"node {n!r} is not named for a slice: a two-slice network has "
                               "nodes 'v[0]' and 'v[1]' (bnem.dynamic_network(..., length=2))")
        where[n] = (m.group(1), int(m.group(2)))
    across = [(p, c) for c in network.nodes for p in network.parents(c)
              if where[p][1] != where[c][1]]
    if len(across) != 1:
        raise NetworkError(
            f"sequences are learned without unrolling when one discrete chain joins the two "
            f"slices (h[0] -> h[1] the only arc between them); this network has "
            f"{len(across)} arcs between slices: {across[:6]}. Unroll it instead "
            "(bnem.dynamic_network(..., length=T) and bnem.sequence_rows)")
    parent, child = across[0]
    chain = where[parent][0]
    if where[child][0] != chain or where[parent][1] != 0:
        raise NetworkError(f"the arc between slices, {parent!r} -> {child!r}, must join one "
                           "variable to itself (h[0] -> h[1]) for the chained path")
    for node in (f"{chain}[0]", f"{chain}[1]"):
        if node not in network.discrete_nodes:
            raise NetworkError(f"the chain {node!r} must be a discrete node")
    if network.states(f"{chain}[0]") != network.states(f"{chain}[1]"):
        raise NetworkError(f"the chain's two nodes must have the same states in the same "
                           f"order: {chain}[0] has {list(network.states(f'{chain}[0]'))}, "
                           f"{chain}[1] has {list(network.states(f'{chain}[1]'))}")
    if network.parents(f"{chain}[0]") or network.parents(f"{chain}[1]") != (f"{chain}[0]",):
        raise NetworkError(f"the chain {chain!r} may have no parent but its previous slice "
                           f"(parents of {chain}[0]: {list(network.parents(f'{chain}[0]'))}, "
                           f"of {chain}[1]: {list(network.parents(f'{chain}[1]'))})")
    variables: dict[str, set] = {}
    for n, (v, s) in where.items():
        variables.setdefault(v, set()).add(s)
    lone = sorted(v for v, s in variables.items() if s != {0, 1})
    if lone:
        raise NetworkError(f"variable(s) {lone} have a node in one slice only; every "
                           "variable needs v[0] and v[1]")
    return chain, where


@dataclass(frozen=True)
class SliceNet:
    """One slice as its own network (the chain a root), and where its parameters and
    statistics sit in the two-slice network's."""

    compiled: CompiledNetwork
    chain: int                 # the chain's discrete id in this network
    chain_size: int
    own: np.ndarray            # flat table positions here (the chain's excluded) ...
    template: np.ndarray       # ... and the same entries in the two-slice network
    components: tuple          # per component here: the two-slice network's component
    gaussian_nodes: tuple


def _slice_net(network: "BayesianNetwork", template_compiled: CompiledNetwork, chain: str,
               where: dict, s: int) -> SliceNet:
    from ..network.bayesnet import BayesianNetwork

    nodes = [n for n in network.nodes if where[n][1] == s]
    head = f"{chain}[{s}]"
    parents = {n: [] if n == head else list(network.parents(n)) for n in nodes}
    variables = {n: ("continuous" if n in network.continuous_nodes else list(network.states(n)))
                 for n in nodes}
    net = BayesianNetwork(variables, parents, name=f"{network.name}-slice{s}")
    compiled = compile(net)
    own, at = [], []
    for i, n in enumerate(net.discrete_nodes):
        if n == head:
            continue
        j = network.discrete_index(n)
        size = int(net.offsets[i + 1] - net.offsets[i])
        assert size == int(network.offsets[j + 1] - network.offsets[j])
        own.append(np.arange(net.offsets[i], net.offsets[i + 1]))
        at.append(np.arange(network.offsets[j], network.offsets[j + 1]))
    by_nodes = {tuple(c.nodes): k for k, c in enumerate(template_compiled.structure.components)}
    comps = []
    for c in compiled.structure.components:
        k = by_nodes.get(tuple(c.nodes))
        tc = None if k is None else template_compiled.structure.components[k]
        scope = [net.discrete_nodes[v] for v in c.scope]
        if tc is None or [network.discrete_nodes[v] for v in tc.scope] != scope:
            raise NetworkError(
                f"the Gaussian node(s) {list(c.nodes)} of slice {s} depend on no discrete node "
                "of their slice, so the two slices' copies are one Gaussian block of the "
                "two-slice network, which the chained path cannot split. Make them "
                "children of the chain (or of another discrete node), or unroll the "
                "network (bnem.dynamic_network(..., length=T))")
        comps.append(k)
    empty = np.zeros(0, dtype=np.int64)
    return SliceNet(compiled, net.discrete_index(head), int(net.cards[net.discrete_index(head)]),
                    np.concatenate(own) if own else empty, np.concatenate(at) if at else empty,
                    tuple(comps), tuple(net.continuous_nodes))


@dataclass
class _Chunk:
    ev: ChunkEvidence
    rows: slice                               # its rows among the slice's expanded rows
    observed: list                            # observed_families of its rows


class _SliceRows:
    """One slice's distinct steps, each once per chain state (state-major), analysed."""

    def __init__(self, net: SliceNet, frame: pd.DataFrame, weights: np.ndarray,
                 budget: MemoryBudget) -> None:
        compiled = net.compiled
        self.room = budget.cache_bytes / 8  # for Gaussian tables kept from the likelihoods
        self.tables: list = []              # to the statistics of one E-step (the two
        # slices together: a quarter of the memory budget)
        enc = encode(frame, list(compiled.network.variables.values()), sample_weight=weights)
        self.inverse = enc.inverse
        self.n_distinct = int(enc.codes.shape[0])
        k = net.chain_size
        codes = np.tile(enc.codes, (k, 1))
        given = enc.codes[:, net.chain]
        self.ruled_out = np.concatenate([(given >= 0) & (given != s) for s in range(k)])
        codes[:, net.chain] = np.repeat(np.arange(k), self.n_distinct)
        values = np.tile(enc.values, (k, 1)) if compiled.network.continuous_nodes else None
        self.codes, self.values = codes, values
        self.chunks = []
        for rows in compiled.chunk_bounds(codes, budget, keep_assign=False):
            ev = compiled.analyse(codes[rows], None, None if values is None else values[rows],
                                  keep_assign=False)
            self.chunks.append(_Chunk(ev, rows, list(observed_families(ev.structure,
                                                                         ev.codes))))

    def log_likelihoods(self, net: SliceNet, prepared, keep: bool = False) -> np.ndarray:
        """``(chain states, distinct steps)``: log P(step | chain state), -inf where
        impossible. With ``keep``, a hybrid slice's Gaussian tables are kept (within
        ``room`` bytes) for :meth:`stats` at the same parameters: they are most of an
        E-step's work and do not depend on the row weights."""
        out = np.empty(self.codes.shape[0])
        self.tables = []
        room = self.room
        for c in self.chunks:
            tables = net.compiled.component_tables(c.ev, prepared) if keep else None
            try:
                out[c.rows] = net.compiled.log_prob(c.ev, prepared, tables)
            except ImpossibleRows:
                out[c.rows] = net.compiled.log_prob_or_minus_inf(c.ev, prepared)
                tables = None
            size = _nbytes(tables)
            if tables is not None and size <= room:
                room -= size
            else:
                tables = None
            self.tables.append(tables)
        out[self.ruled_out] = -np.inf
        return out.reshape(net.chain_size, self.n_distinct)

    def stats(self, net: SliceNet, prepared, weights: np.ndarray, possible: np.ndarray) -> Stats:
        """The slice network's E-step with expanded row ``r`` weighted ``weights[r]``;
        rows not ``possible`` (weight 0) are left out."""
        structure = net.compiled.structure
        total = None
        kept = self.tables or [None] * len(self.chunks)
        for c, tables in zip(self.chunks, kept):
            w = weights[c.rows]
            ok = possible[c.rows]
            if ok.all():
                obs = add_at(structure.n_params, ((idx, w[full]) for _, full, idx in c.observed))
                ev = dataclasses.replace(c.ev, weights=w, obs_counts=obs)
            elif not ok.any():
                continue
            else:  # rows ruled out by their steps: analysed again without them
                keep = np.flatnonzero(ok)
                ev = net.compiled.analyse(c.ev.codes[keep], w[keep],
                                          None if c.ev.values is None else c.ev.values[keep],
                                          keep_assign=False)
                tables = None
            part = net.compiled.estep(ev, prepared, tables=tables)
            total = part if total is None else total + part
        if total is None:
            raise DataError("bnem bug: a slice with no possible step")
        return total


def _nbytes(value: object) -> int:
    """Bytes of the arrays in a nest of tuples, lists and dataclasses (arrays shared
    with the chunk, such as a pattern's values, are counted too: an upper bound)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(_nbytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    return 0


# -- forward-backward -------------------------------------------------------------------

def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore", under="ignore"):
        return np.log(np.sum(np.exp(a - top), axis=axis)) + np.squeeze(top, axis=axis)


@dataclass(frozen=True)
class Smoothed:
    """Forward-backward's results for a set of sequences."""

    log_likelihood: np.ndarray   # (sequences,)
    posterior: np.ndarray        # (steps, K): P(h_t | its sequence)
    transitions: np.ndarray      # (K, K): sum over sequences and t >= 1 of w P(h_{t-1}, h_t | seq)
    initial: np.ndarray          # (K,): sum over sequences of w P(h_0 | seq)


KERNEL_STEPS = 20_000  # from this many steps in all on, the compiled kernels: numba's
                      # import and the load of the cached kernel cost ~0.5 s in a new
                      # process; the kernel saves ~0.4 us per step and E-step over the
                      # numpy path (and Viterbi's numpy path is a pass per position)


def forward_backward(log_start: np.ndarray, log_trans: np.ndarray, emission: np.ndarray,
                     lengths: np.ndarray, weights: np.ndarray, filtered: bool = False) -> Smoothed:
    """Forward-backward over sequences (steps of sequence ``i`` are consecutive rows
    of ``emission``, ``(steps, K)`` log P(step | state), in order), in scaled linear
    space: the compiled kernel when numba is installed and there are at least
    :data:`KERNEL_STEPS` steps, else :func:`_scaled_linear` (numpy, segments of about
    ``sqrt(T)`` steps); :func:`log_forward_backward` for the sequences those cannot
    be trusted with. An impossible sequence has log-likelihood -inf and zero
    posteriors. ``filtered``: the filtering posteriors ``P(h_t | steps 0..t)`` instead
    (numpy's forward passes; no expected transitions; 0 from a sequence's first
    impossible step on)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    weights = np.asarray(weights, dtype=float)
    if filtered:
        return _scaled(functools.partial(_scaled_linear, forward_only=True), log_start,
                       log_trans, emission, lengths, weights, filtered=True)
    kernel = _scaled_linear
    if int(lengths.sum()) >= KERNEL_STEPS and not disabled():
        kernel = jitted(_scaled_kernel) or _scaled_linear
    return _scaled(kernel, log_start, log_trans, emission, lengths, weights)


def _scaled(kernel, log_start: np.ndarray, log_trans: np.ndarray, emission: np.ndarray,
            lengths: np.ndarray, weights: np.ndarray, filtered: bool = False) -> Smoothed:
    """Scaled forward-backward by ``kernel`` (compiled, or its numpy twin); sequences
    the scaled arithmetic cannot be trusted with (see :data:`RISKY`) and those the
    kernel flags (a scale of 0, or a value beyond floats) are done by
    :func:`log_forward_backward`."""
    n_steps, k = emission.shape
    top = emission.max(axis=1)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(under="ignore"):
        scaled = np.exp(emission - top[:, None])
    starts = np.cumsum(lengths) - lengths
    seq_of = np.repeat(np.arange(lengths.size), lengths)
    fast = np.ones(lengths.size, dtype=bool)
    if min(_smallest(log_start), _smallest(log_trans)) < -RISKY:
        lost = ((scaled == 0.0) & np.isfinite(emission)).any(axis=1)
        fast &= np.bincount(seq_of, weights=lost, minlength=lengths.size) == 0
    post = np.zeros((n_steps, k))
    trans = np.zeros((k, k))
    initial = np.zeros(k)
    ll = np.zeros(lengths.size)
    ok = np.zeros(lengths.size, dtype=np.bool_)
    if fast.any():
        rows = fast[seq_of] if not fast.all() else slice(None)
        sub_post = np.zeros((int(lengths[fast].sum()), k))
        sub_ll = np.zeros(int(fast.sum()))
        sub_ok = np.zeros(sub_ll.size, dtype=np.bool_)
        sub_len = lengths[fast]
        kernel(np.exp(log_start), np.exp(log_trans), scaled[rows], top[rows],
               np.cumsum(sub_len) - sub_len, sub_len, weights[fast], sub_post, trans,
               initial, sub_ll, sub_ok)
        post[rows] = sub_post
        ll[fast] = sub_ll
        ok[fast] = sub_ok
    redo = np.flatnonzero(~ok)
    if redo.size:
        rows = np.concatenate([np.arange(starts[i], starts[i] + lengths[i]) for i in redo])
        again = log_forward_backward(log_start, log_trans, emission[rows], lengths[redo],
                                     weights[redo], filtered)
        ll[redo] = again.log_likelihood
        post[rows] = again.posterior
        trans += again.transitions
        initial += again.initial
    return Smoothed(ll, post, trans, initial)


RISKY = 350.0  # nats. Scaled arithmetic divides each step's emissions by the largest, so
               # one more than ~745 nats below it underflows to 0. That cannot matter when
               # every start and transition probability is above exp(-RISKY): a path through
               # such a state loses to leaving for the best state and coming back, which
               # costs at most 2 * RISKY = 700 nats. With smaller ones (or zeros), the
               # sequences with such an underflow are done in log space.


def _smallest(log_p: np.ndarray) -> float:
    """The smallest log probability (-inf for a zero)."""
    return float(np.min(log_p)) if log_p.size else 0.0


def _scaled_kernel(start, trans, scaled, top, starts, lengths, weights, post, trans_acc,
                   initial, ll, ok):  # pragma: no cover  (compiled by numba; tested through it)
    """Scaled forward-backward, one sequence at a time: ``alpha`` normalised at each
    step (its sum is the step's scale), ``beta`` divided by the next step's scale, so
    ``alpha * beta`` is the posterior. ``post`` holds alpha until the backward pass
    overwrites it. A sequence with a zero scale or a value beyond floats is flagged
    (``ok`` False) and contributes nothing."""
    k = start.size
    scale = np.empty(scaled.shape[0])
    beta = np.empty(k)
    b = np.empty(k)
    acc = np.empty((k, k))
    for i in range(lengths.size):
        s0 = starts[i]
        n = lengths[i]
        c = 0.0
        for j in range(k):
            a = start[j] * scaled[s0, j]
            post[s0, j] = a
            c += a
        good = c > 0.0
        if good:
            scale[s0] = c
            for j in range(k):
                post[s0, j] /= c
        t = 1
        while good and t < n:
            r = s0 + t
            c = 0.0
            for j in range(k):
                a = 0.0
                for h in range(k):
                    a += post[r - 1, h] * trans[h, j]
                a *= scaled[r, j]
                post[r, j] = a
                c += a
            if c > 0.0:
                scale[r] = c
                for j in range(k):
                    post[r, j] /= c
            else:
                good = False
            t += 1
        if not good:
            for r in range(s0, s0 + n):
                for j in range(k):
                    post[r, j] = 0.0
            continue
        total = 0.0
        for r in range(s0, s0 + n):
            total += np.log(scale[r]) + top[r]
        for j in range(k):
            beta[j] = 1.0
            for h in range(k):
                acc[j, h] = 0.0
        for t in range(n - 1, 0, -1):
            r = s0 + t
            for j in range(k):
                post[r, j] *= beta[j]          # alpha * beta: the posterior at r
                b[j] = scaled[r, j] * beta[j] / scale[r]
            for h in range(k):
                a = 0.0
                for j in range(k):
                    a += trans[h, j] * b[j]
                    acc[h, j] += post[r - 1, h] * trans[h, j] * b[j]
                beta[h] = a                    # beta at r - 1
            for h in range(k):
                if not np.isfinite(beta[h]):
                    good = False
        if good:
            for j in range(k):
                post[s0, j] *= beta[j]
            for j in range(k):
                for h in range(k):
                    if not np.isfinite(acc[j, h]):
                        good = False
        if not good:
            for r in range(s0, s0 + n):
                for j in range(k):
                    post[r, j] = 0.0
            continue
        ok[i] = True
        ll[i] = total
        w = weights[i]
        for j in range(k):
            initial[j] += w * post[s0, j]
            for h in range(k):
                trans_acc[j, h] += w * acc[j, h]


def _by_position(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pieces sorted longest first, and how many are longer than each position."""
    order = np.argsort(-lengths, kind="stable")
    longest = int(lengths[order[0]]) if lengths.size else 0
    return order, np.searchsorted(-lengths[order], -np.arange(longest), side="left")


def _normalised(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``a`` divided by their sums (sums of 0 left as they are, and flagged)."""
    c = a.sum(axis=1)
    zero = ~(c > 0)
    return a / np.where(zero, 1.0, c)[:, None], zero


def _scaled_linear(start, trans, scaled, top, starts, lengths, weights, post, trans_acc,
                   initial, ll, ok, forward_only: bool = False) -> None:
    """:func:`_scaled_kernel`'s results in numpy, in about ``5 sqrt(T)`` vectorised passes
    for a sequence of ``T`` steps (a pass per time position would cost ~20 us each).

    Each sequence is cut into segments of about ``sqrt(T)`` steps. (1) Each segment's
    transfer matrix ``prod_t A diag(e_t)`` (its steps after the first), normalised, all
    segments at once, position by position; (2) the forward vectors at the segments'
    ends, segment after segment, all sequences at once; (3) the scaled forward pass
    inside every segment from its entry vector, all segments at once (which gives each
    step's scale exactly as a pass over the whole sequence would); (4) and (5) the same
    backwards, the boundary vectors rescaled so that ``alpha . beta = 1``. Sequences
    with a zero scale or values beyond floats are flagged (``ok`` False).
    ``forward_only``: stop after (3); ``post`` then holds the filtering posteriors
    ``P(h_t | steps 0..t)`` and nothing is added to ``trans_acc`` and ``initial``."""
    n_steps, k = scaled.shape
    n_seq = lengths.size
    size = max(32, int(np.ceil(np.sqrt(lengths.max())))) if n_seq else 1
    per = (lengths + size - 1) // size                     # segments per sequence
    seg_seq = np.repeat(np.arange(n_seq), per)
    j_of = np.arange(seg_seq.size) - np.repeat(np.cumsum(per) - per, per)
    seg_start = starts[seg_seq] + j_of * size
    seg_len = np.minimum(size, starts[seg_seq] + lengths[seg_seq] - seg_start)
    first = j_of == 0
    bad = np.zeros(n_seq, dtype=bool)
    scale = np.ones(n_steps)
    with np.errstate(all="ignore"):
        # (1) transfer matrices of the steps after each segment's first
        q = np.broadcast_to(np.eye(k), (seg_seq.size, k, k)).copy()
        order, active = _by_position(seg_len)
        for p in range(1, active.size):
            g = order[:active[p]]
            m = (q[g] @ trans) * scaled[seg_start[g] + p][:, None, :]
            q[g] = m / m.sum(axis=(1, 2))[:, None, None]
        # (2) forward vectors at each segment's last step, segment after segment
        first_of = np.cumsum(per) - per                    # each sequence's first segment
        entry = np.zeros((seg_seq.size, k))                # alpha just before the segment
        exit_ = np.zeros((seg_seq.size, k))
        seq_order, seq_active = _by_position(per)
        for j in range(seq_active.size):
            g = first_of[seq_order[:seq_active[j]]] + j
            a = start * scaled[seg_start[g]] if j == 0 else \
                (exit_[g - 1] @ trans) * scaled[seg_start[g]]
            if j:
                entry[g] = exit_[g - 1]
            exit_[g], zero = _normalised(np.einsum("gj,gjk->gk", a, q[g]))
            bad[seg_seq[g[zero]]] = True
        # (3) the scaled forward pass inside every segment
        for p in range(active.size):
            g = order[:active[p]]
            idx = seg_start[g] + p
            if p == 0:
                a = np.where(first[g][:, None], start * scaled[idx], (entry[g] @ trans) * scaled[idx])
            else:
                a = (post[idx - 1] @ trans) * scaled[idx]
            c = a.sum(axis=1)
            zero = ~(c > 0)
            bad[seg_seq[g[zero]]] = True
            c = np.where(zero, 1.0, c)
            post[idx] = a / c[:, None]
            scale[idx] = c
        if forward_only:
            seq_of = np.repeat(np.arange(n_seq), lengths)
            total = np.bincount(seq_of, weights=np.log(scale) + top, minlength=n_seq)
            good = ~bad & np.isfinite(total)
            post[~good[seq_of]] = 0.0
            ok[:] = good
            ll[good] = total[good]
            return
        # (4) backward vectors at each segment's last step, rescaled to alpha . beta = 1
        beta = np.ones((n_steps, k))
        last = seg_start + seg_len - 1
        after = np.ones((seg_seq.size, k))                # beta at the segment's first step's
        for j in range(seq_active.size - 1, -1, -1):      # predecessor, up to scale
            g = first_of[seq_order[:seq_active[j]]] + j
            more = j < per[seg_seq[g]] - 1                # not its sequence's last segment
            h = g[more]
            if h.size:
                back = after[h + 1]
                norm = np.einsum("gk,gk->g", post[last[h]], back)
                bad[seg_seq[h[~(norm > 0)]]] = True
                beta[last[h]] = back / np.where(norm > 0, norm, 1.0)[:, None]
            inside = np.einsum("gjk,gk->gj", q[g], beta[last[g]])
            step = (inside * scaled[seg_start[g]]) @ trans.T
            after[g] = step / np.where(step.sum(axis=1) > 0, step.sum(axis=1), 1.0)[:, None]
        # (5) the backward pass inside every segment, with the expected transitions
        w = np.where(bad, 0.0, weights)[seg_seq]
        acc = np.zeros((k, k))
        for p in range(active.size - 1, -1, -1):
            g = order[:active[p]]
            idx = seg_start[g] + p
            inner = p < seg_len[g] - 1
            if inner.any():
                r = idx[inner]
                b = scaled[r + 1] * beta[r + 1] / scale[r + 1][:, None]
                beta[r] = b @ trans.T
            if p == 0:
                g, idx = g[~first[g]], idx[~first[g]]      # a sequence's first step: no link
            if idx.size:
                b = scaled[idx] * beta[idx] / scale[idx][:, None]
                acc += (post[idx - 1] * w[g][:, None]).T @ b
        post *= beta
        acc *= trans
        seq_of = np.repeat(np.arange(n_seq), lengths)
        total = np.bincount(seq_of, weights=np.log(scale) + top, minlength=n_seq)
    finite = np.bincount(seq_of, weights=~np.isfinite(post).all(axis=1),
                         minlength=n_seq) == 0
    good = ~bad & np.isfinite(total) & finite
    if not np.isfinite(acc).all() or (~good & ~bad).any():
        good[:] = False  # beyond floats somewhere: every sequence by the log-space path
    post[~good[seq_of]] = 0.0
    ok[:] = good
    ll[good] = total[good]
    if good.any():  # (the flagged sequences had weight 0 in ``acc``)
        trans_acc += acc
        initial += np.where(good, weights, 0.0) @ post[starts]


def log_forward_backward(log_start: np.ndarray, log_trans: np.ndarray, emission: np.ndarray,
                         lengths: np.ndarray, weights: np.ndarray,
                         filtered: bool = False) -> Smoothed:
    """Forward-backward in log space, one pass per time position, batched over the
    sequences."""
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    order, active = _by_position(lengths)
    st = starts[order]
    n_steps, k = emission.shape
    longest = active.size
    la = np.empty((n_steps, k))
    la[st] = log_start + emission[st]
    for p in range(1, longest):
        idx = st[:active[p]] + p
        la[idx] = _logsumexp(la[idx - 1][:, :, None] + log_trans, axis=1) + emission[idx]
    ends = starts + lengths - 1
    ll = _logsumexp(la[ends], axis=1)
    if filtered:  # P(h_t | steps 0..t): each forward vector normalised; a step is
        # defined up to the first impossible one of its sequence (0 from there on)
        norm = _logsumexp(la, axis=1)
        fine = np.isfinite(norm)
        post = np.zeros_like(la)
        with np.errstate(under="ignore"):
            post[fine] = np.exp(la[fine] - norm[fine][:, None])
        return Smoothed(ll, post, np.zeros((k, k)), np.zeros(k))
    lb = np.empty((n_steps, k))
    lb[ends] = 0.0
    step_seq = np.repeat(np.arange(lengths.size), lengths)
    possible = np.isfinite(ll)
    norm = np.where(possible, ll, 0.0)[step_seq]
    trans = np.zeros((k, k))
    w_seq = np.where(possible, weights, 0.0)
    with np.errstate(under="ignore"):
        for p in range(longest - 2, -1, -1):
            idx = st[:active[p + 1]] + p
            nxt = idx + 1
            ahead = emission[nxt] + lb[nxt]                        # (n, K)
            lb[idx] = _logsumexp(log_trans + ahead[:, None, :], axis=2)
            joint = la[idx][:, :, None] + log_trans + ahead[:, None, :] - norm[idx][:, None, None]
            trans += np.einsum("n,njk->jk", w_seq[step_seq[idx]], np.exp(joint))
        post = np.exp(la + lb - norm[:, None])
    post[~possible[step_seq]] = 0.0
    initial = w_seq @ post[starts]
    return Smoothed(ll, post, trans, initial)


# -- the data source the EM driver reads ---------------------------------------------------

class ChainData:
    """Sequences against a chained two-slice network: the E-step of
    :func:`bnem.fit` by forward-backward (see the module docstring)."""

    def __init__(self, compiled: CompiledNetwork, data: Sequences,
                 budget: MemoryBudget = MemoryBudget()) -> None:
        network = compiled.network
        chain, where = slices_of(network)
        self.compiled = compiled
        self.data = data
        self.chain = chain
        self.k = int(network.cards[network.discrete_index(f"{chain}[0]")])
        names = {v for v, _ in where.values()}
        unknown = [c for c in data.steps.columns if c not in names]
        if unknown:
            raise BnemValueError(f"column(s) {unknown} name no variable of the two-slice "
                                 f"network (its variables: {sorted(names)})")
        self.slices = tuple(_slice_net(network, compiled, chain, where, s) for s in (0, 1))
        starts = data.starts
        first = np.zeros(len(data.steps), dtype=bool)
        first[starts] = True
        self._first = first
        self._step_weight = np.repeat(data.weights, data.lengths)
        self.rows = []
        for s, net in enumerate(self.slices):
            at = first if s == 0 else ~first
            frame = data.steps[at].rename(columns={v: f"{v}[{s}]" for v in data.steps.columns})
            self.rows.append(None if not at.any() else
                             _SliceRows(net, frame.reset_index(drop=True),
                                        self._step_weight[at], budget))
        self._at = (np.flatnonzero(first), np.flatnonzero(~first))
        observed = {c for c in data.steps.columns if data.steps[c].notna().any()}
        self.latent = tuple(n for n in network.nodes if where[n][0] not in observed)
        pair_codes, pair_values, pair_w = self._pairs()
        self._pair_rows = (pair_codes, pair_values, pair_w)
        self.obs_counts = add_at(compiled.structure.n_params,
                                 ((idx, pair_w[full]) for _, full, idx in
                                  observed_families(compiled.structure, pair_codes)))

    # -- FitData ---------------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        return len(self.data)

    @property
    def total_weight(self) -> float:
        return float(self.data.weights.sum())

    @property
    def n_distinct(self) -> int:
        return len(self.data)

    def close(self) -> None:
        pass

    def digest(self) -> str:
        d = hashlib.sha256()
        for rows in self.rows:
            if rows is not None:
                for a in (rows.codes, rows.inverse) + (() if rows.values is None else (rows.values,)):
                    d.update(np.ascontiguousarray(a).tobytes())
        d.update(self.data.lengths.tobytes())
        d.update(self.data.weights.tobytes())
        return d.hexdigest()

    def _pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Consecutive steps as rows of the two-slice network (slice 0 the earlier
        step; a sequence of one step with slice 1 missing): what starting points are
        drawn from (each later step is seen twice there; EM itself never reads them)."""
        steps, lengths = self.data.steps, self.data.lengths
        starts = self.data.starts
        later = np.flatnonzero(~self._first)
        single = starts[lengths == 1]
        before = np.concatenate([later - 1, single])
        after = np.concatenate([later, np.full(single.size, -1)])
        cols = {}
        for v in steps.columns:
            col = steps[v].to_numpy(dtype=object)
            cols[f"{v}[0]"] = col[before]
            nxt = np.empty(after.size, dtype=object)
            nxt[:] = None
            ok = after >= 0
            nxt[ok] = col[after[ok]]
            cols[f"{v}[1]"] = nxt
        frame = pd.DataFrame(cols).infer_objects()
        w = np.concatenate([self._step_weight[later], self._step_weight[single]])
        enc = encode(frame, list(self.compiled.network.variables.values()), merge=False,
                     sample_weight=w)
        codes = enc.codes[enc.inverse]
        values = enc.values[enc.inverse] if enc.values.size else \
            np.zeros((codes.shape[0], 0))
        return codes, values, enc.weights[enc.inverse]

    def canonical_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._pair_rows

    def distinct_rows(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        yield self._pair_rows[0], self._pair_rows[2]

    # -- the E-step ----------------------------------------------------------------------
    def _slice_parameters(self, params: Parameters, net: SliceNet) -> Parameters:
        theta = np.ones(net.compiled.structure.n_params)  # the chain's table: 1 (observed)
        theta[net.own] = params.theta[net.template]
        gaussians = params.gaussians
        return Parameters(theta, {n: gaussians[n] for n in net.gaussian_nodes}
                          if net.gaussian_nodes else None)

    def emissions(self, params: Parameters, keep: bool = False) -> tuple[np.ndarray, list]:
        """``(steps, K)`` log P(step | chain state), and per slice its prepared
        parameters and ``(K, distinct steps)`` log-likelihoods."""
        out = np.empty((len(self.data.steps), self.k))
        slices = []
        for s, (net, rows) in enumerate(zip(self.slices, self.rows)):
            prep = net.compiled.prepare(self._slice_parameters(params, net))
            lik = None
            if rows is not None:
                lik = rows.log_likelihoods(net, prep, keep=keep)
                out[self._at[s]] = lik.T[rows.inverse]
            slices.append((prep, lik))
        return out, slices

    def chain_tables(self, params: Parameters) -> tuple[np.ndarray, np.ndarray]:
        network = self.compiled.network
        tables = []
        for s in (0, 1):
            i = network.discrete_index(f"{self.chain}[{s}]")
            tables.append(params.theta[network.offsets[i]:network.offsets[i + 1]])
        with np.errstate(divide="ignore"):
            return np.log(tables[0]), np.log(tables[1]).reshape(self.k, self.k)

    def smoothed(self, params: Parameters, keep: bool = False,
                 filtered: bool = False) -> tuple[Smoothed, list]:
        log_start, log_trans = self.chain_tables(params)
        emission, prepared = self.emissions(params, keep)
        return forward_backward(log_start, log_trans, emission, self.data.lengths,
                                self.data.weights, filtered), prepared

    def stats(self, params: Parameters, hard: bool = False, context: str = "") -> Stats:
        if hard:
            raise BnemValueError("hard=True is not available for sequences learned without "
                                 "unrolling; use soft EM, or unroll the network "
                                 "(bnem.dynamic_network(..., length=T), bnem.sequence_rows)")
        sm, prepared = self.smoothed(params, keep=bool(self.compiled.structure.components))
        bad = np.flatnonzero(~np.isfinite(sm.log_likelihood))
        if bad.size:
            i = int(bad[0])
            raise ImpossibleRowError(
                f"sequence {row_label(self.data.ids[i])!r} has probability zero under the "
                f"{context or 'current'} parameters (no path of the chain "
                f"{self.chain!r} can produce it); {bad.size} sequence(s) in all. Start from "
                "parameters without zeros (a prior, or init='random').")
        network, structure = self.compiled.network, self.compiled.structure
        counts = np.zeros(structure.n_params)
        for s in (0, 1):
            i = network.discrete_index(f"{self.chain}[{s}]")
            counts[network.offsets[i]:network.offsets[i + 1]] = \
                sm.initial if s == 0 else sm.transitions.ravel()
        moments: list = [None] * len(structure.components)
        w_step = self._step_weight * np.isfinite(sm.log_likelihood)[
            np.repeat(np.arange(len(self.data)), self.data.lengths)]
        for s, (net, rows) in enumerate(zip(self.slices, self.rows)):
            if rows is None:
                continue
            at = self._at[s]
            weights = np.stack([np.bincount(rows.inverse, weights=w_step[at] * sm.posterior[at, j],
                                            minlength=rows.n_distinct)
                                for j in range(self.k)]).ravel()
            prep, lik = prepared[s]
            part = rows.stats(net, prep, weights, np.isfinite(lik.ravel()))
            rows.tables = []  # (this E-step's only)
            counts[net.template] += part.counts[net.own]
            for j, m in zip(net.components, part.moments):
                moments[j] = m if moments[j] is None else moments[j] + m
        if structure.components:
            for j, comp in enumerate(structure.components):
                if moments[j] is None:
                    moments[j] = Moments(np.zeros(comp.size), np.zeros((comp.size, comp.m)),
                                         np.zeros((comp.size, comp.m, comp.m)))
        ll = float(self.data.weights @ sm.log_likelihood)
        return Stats(counts, tuple(moments), ll, None, self.total_weight)


# -- queries of a fitted two-slice network ---------------------------------------------------

def smooth(network: "BayesianNetwork", data: Sequences, filtered: bool = False) -> Smoothed:
    """Forward-backward of ``data`` under ``network``'s parameters: each sequence's
    log-likelihood and each step's ``P(chain state | its sequence)`` (``filtered``:
    ``P(chain state | its steps up to this one)``, the forward pass alone)."""
    chained = ChainData(compile(network), data)
    return chained.smoothed(Parameters.of(network), filtered=filtered)[0]


def viterbi_path(network: "BayesianNetwork", data: Sequences) -> tuple[np.ndarray, np.ndarray]:
    """The most probable path of the chain given each sequence's observed cells (the
    slice's other unobserved variables summed out): ``(states per step, log P(path,
    observed) per sequence)``; an impossible sequence gets -inf and state -1."""
    chained = ChainData(compile(network), data)
    params = Parameters.of(network)
    log_start, log_trans = chained.chain_tables(params)
    emission, _ = chained.emissions(params)
    lengths = data.lengths
    if int(lengths.sum()) >= KERNEL_STEPS and not disabled():
        kernel = jitted(_viterbi_kernel)
        if kernel is not None:
            path = np.full(emission.shape[0], -1, dtype=np.int64)
            best = np.full(lengths.size, -np.inf)
            kernel(log_start, log_trans, emission, data.starts, lengths, path, best)
            return path, best
    return _log_viterbi(log_start, log_trans, emission, lengths)


def _log_viterbi(log_start: np.ndarray, log_trans: np.ndarray, emission: np.ndarray,
                 lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Viterbi in log space, one pass per time position, batched over the sequences."""
    starts = np.cumsum(lengths) - lengths
    order, active = _by_position(lengths)
    st = starts[order]
    n_steps, k = emission.shape
    longest = active.size
    score = np.empty((n_steps, k))
    back = np.zeros((n_steps, k), dtype=np.int64)
    score[st] = log_start + emission[st]
    for p in range(1, longest):
        idx = st[:active[p]] + p
        cand = score[idx - 1][:, :, None] + log_trans          # (n, from, to)
        back[idx] = cand.argmax(axis=1)
        score[idx] = np.take_along_axis(cand, back[idx][:, None, :], axis=1)[:, 0] + emission[idx]
    ends = starts + lengths - 1
    best = score[ends].max(axis=1)
    path = np.full(n_steps, -1, dtype=np.int64)
    path[ends] = score[ends].argmax(axis=1)
    for p in range(longest - 1, 0, -1):
        idx = st[:active[p]] + p
        path[idx - 1] = back[idx, path[idx]]
    step_seq = np.repeat(np.arange(lengths.size), lengths)
    path[~np.isfinite(best)[step_seq]] = -1
    return path, best


def _viterbi_kernel(log_start, log_trans, emission, starts, lengths, path,
                    best):  # pragma: no cover  (compiled by numba; tested through it)
    """Viterbi one sequence at a time (the same steps as :func:`_log_viterbi`)."""
    k = log_start.size
    score = np.empty(k)
    nxt = np.empty(k)
    back = np.zeros((emission.shape[0], k), np.int64)
    for i in range(lengths.size):
        s0 = starts[i]
        n = lengths[i]
        for j in range(k):
            score[j] = log_start[j] + emission[s0, j]
        for t in range(1, n):
            r = s0 + t
            for j in range(k):
                top = -np.inf
                arg = 0
                for h in range(k):
                    v = score[h] + log_trans[h, j]
                    if v > top:
                        top = v
                        arg = h
                nxt[j] = top + emission[r, j]
                back[r, j] = arg
            for j in range(k):
                score[j] = nxt[j]
        top = -np.inf
        arg = 0
        for j in range(k):
            if score[j] > top:
                top = score[j]
                arg = j
        best[i] = top
        if top == -np.inf:
            continue
        path[s0 + n - 1] = arg
        for t in range(n - 1, 0, -1):
            path[s0 + t - 1] = back[s0 + t, path[s0 + t]]
