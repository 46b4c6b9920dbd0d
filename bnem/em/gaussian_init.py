"""Starting parameters of Gaussian nodes.

Every scheme first gives each row a weight over the configurations of each
continuous component's interface (``resp``), then takes one M-step from the data
completed by column means (used for the start only). Rows whose observed discrete
values rule a configuration out never give it weight.

* ``k-means++``: centres chosen by k-means++ seeding (D^2 sampling) among the rows,
  one per configuration, then weighted Lloyd iterations (each row to its nearest
  allowed centre, centres to their rows' means) until no row moves, as scikit-learn's
  k-means start does;
* ``random-rows``: distinct random rows as centres, nearest allowed centre;
* ``random-resp``: uniform random weights, normalised per row;
* ``random`` / ``uniform``: one pooled regression per node; ``random`` then moves
  each configuration's intercept by a standard normal multiple of the residual
  standard deviation (``uniform`` keeps them equal);
* ``complete-case``: like ``random``, then each configuration with at least
  ``m + 2`` complete rows (interface observed) is fitted to those rows.

Variances start at least at ``1e-3`` times the pooled residual variance, so a
cluster of one point does not start degenerate. Latent continuous nodes start as
standard normals with random weights on them (:func:`_latent`).
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from ..inference.dataset import FitData
from ..inference.gaussian import interface_rows
from ..inference.stats import Moments
from ..network.gaussian import GaussianCPD
from .gaussian_mstep import maximize_component

MIXTURE_INITS = ("k-means++", "random-rows", "random-resp")
START_VARIANCE_FLOOR = 1e-3


def initial_gaussians(init: str, data: FitData, rng: np.random.Generator,
                      min_variance: float) -> dict:
    """GaussianCPDs to start EM from (the network's own for ``init="network"``)."""
    cpds = dict(data.compiled.network.gaussian_cpds)
    if init == "network":
        return cpds
    w, rows = _start_rows(data)
    min_variance = max(min_variance, np.finfo(float).tiny)
    for comp, (x, filled, centre, cs_config, allowed, latent, floor) in zip(
            data.compiled.structure.components, rows):
        if init in MIXTURE_INITS:  # distances in centred coordinates keep their precision
            resp = _responsibilities(init, filled - centre, w, allowed, comp.size, rng)
        elif allowed is None:  # equal weight over configurations: each gets the pooled fit
            resp = np.full((len(w), comp.size), 1.0 / comp.size)
        else:  # ... over the allowed ones
            resp = allowed / allowed.sum(axis=1, keepdims=True)
        stats = _stats(filled, centre, resp * w[:, None], comp.independent)
        new, *_ = maximize_component(comp, stats, np.broadcast_to(centre, (comp.size, comp.m)),
                                       cpds, min_variance)
        if init in ("random", "complete-case"):
            new = _jitter(comp, new, rng)
        if init == "complete-case":
            new = _complete_case(comp, new, filled, centre, x, w, cs_config, min_variance)
        cpds.update(_latent(comp, _floor(comp, new, floor), latent, rng))
    return cpds


_ROWS: "weakref.WeakKeyDictionary[Any, tuple]" = weakref.WeakKeyDictionary()
START_CACHE_BYTES = 16 << 20


def _start_rows(data: FitData) -> tuple:
    """What every restart's start needs of the data: the row weights and, per
    component, its columns ``x``, filled by their means (:func:`_mean_filled`), those
    means, the interface configuration of each row and which configurations each row
    allows, which columns are latent, and the variance floors of :func:`_floor`.
    Computed once per fit and held while ``data`` lives when it takes at most
    ``START_CACHE_BYTES`` (beyond, each start computes it again: the memory budget of
    large data comes first, and there a start's other work dominates)."""
    held = _ROWS.get(data)
    if held is not None:
        return held
    codes, values, w = data.canonical_rows()
    rows = []
    for comp in data.compiled.structure.components:
        x = values[:, comp.columns]
        filled, centre = _mean_filled(x, w)
        cs_config, consistent = interface_rows(comp, codes)
        allowed = None if consistent is None else consistent.T  # None: all of them
        p = w / w.sum()  # weights as proportions: the spread of huge values stays finite
        mean = p @ filled
        spread = p @ (filled - mean) ** 2
        floor = START_VARIANCE_FLOOR * np.where(spread > 0, spread, 1.0)
        held_arrays = (x, filled, centre, cs_config, allowed, np.isnan(x).all(axis=0), floor)
        for a in held_arrays:  # shared by the restarts: never changed in place
            if a is not None:
                a.setflags(write=False)
        rows.append(held_arrays)
    held = (w, tuple(rows))
    if sum(a.nbytes for part in rows for a in part if a is not None) <= START_CACHE_BYTES:
        _ROWS[data] = held  # small data: the restarts' fixed cost; large: memory first
    return held


def _latent(comp, cpds, latent, rng):
    """Latent continuous nodes (no observed cell) start as standard normals, and the
    weights on them as random multiples of the child's standard deviation: filled with
    a constant they would get zero weights, a fixed point EM never leaves."""
    if not latent.any():
        return cpds
    out = dict(cpds)
    for j, node in enumerate(comp.nodes):
        c = out[node]
        b0, weights, var = c.intercept, np.array(c.weights), c.variance
        if latent[j]:
            b0 = rng.standard_normal(b0.shape)
            var = np.ones_like(var)
        for i, p in enumerate(comp.parents[j]):
            if latent[p]:
                weights[..., i] = rng.standard_normal(b0.shape) * np.sqrt(var)
        out[node] = type(c)(node, c.discrete_parents, c.continuous_parents, b0, weights, var,
                            discrete_cards=c.mean_shape)
    return out


def _mean_filled(x, w):
    obs = ~np.isnan(x)
    tot = (obs * w[:, None]).sum(axis=0)
    centre = np.where(tot > 0, np.nansum(np.where(obs, x, 0.0) * w[:, None], axis=0)
                      / np.where(tot > 0, tot, 1.0), 0.0)
    return np.where(obs, x, centre), centre


def _responsibilities(init, x, w, allowed, k, rng):
    """One-hot (or, for ``random-resp``, random) weights of each row over the ``k``
    configurations; ``allowed (n, k)``, or None where every row allows all."""
    n = x.shape[0]
    if init == "random-resp":
        r = rng.uniform(size=(n, k))
        if allowed is not None:
            r *= allowed
        return r / r.sum(axis=1, keepdims=True)
    p = w / w.sum()
    if init == "random-rows":
        centres = x[rng.choice(n, size=k, replace=n < k, p=p)]
    else:
        centres = np.empty((k, x.shape[1]))
        centres[0] = x[_draw(rng, p)]
        closest = ((x - centres[0]) ** 2).sum(axis=1)
        for c in range(1, k):
            weight = closest * p  # proportions: no overflow with huge row weights
            total = weight.sum()
            centres[c] = x[_draw(rng, weight / total) if total > 0 else _draw(rng, p)]
            closest = np.minimum(closest, ((x - centres[c]) ** 2).sum(axis=1))
    norms = (x * x).sum(axis=1)[:, None]
    label = _nearest(x, norms, centres, allowed)
    if init == "k-means++":  # then Lloyd's iterations, as scikit-learn's k-means start
        label = _lloyd(x, norms, w, centres, allowed, label)
    r = np.zeros((n, k))
    r[np.arange(n), label] = 1.0
    return r


def _draw(rng: np.random.Generator, p: np.ndarray) -> int:
    """``rng.choice(len(p), p=p)`` for probabilities ``p`` that bnem computed itself:
    the same draw from the same stream (its inverse CDF), without ``choice``'s checks
    of ``p``, which cost a noticeable part of a small restart."""
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    return int(cdf.searchsorted(rng.random(), side="right"))


LLOYD_ITERATIONS = 100


def _nearest(x, norms, centres, allowed):
    """Each row's nearest allowed centre; ``norms`` are the rows' ``|x|^2``."""
    # squared distances without an (n, K, d) array: |x|^2 - 2 x.c + |c|^2
    dist = norms - 2.0 * (x @ centres.T) + (centres * centres).sum(axis=1)
    return (dist if allowed is None else np.where(allowed, dist, np.inf)).argmin(axis=1)


def _lloyd(x, norms, w, centres, allowed, label):
    """Weighted k-means from ``centres`` until no row changes cluster (at most
    ``LLOYD_ITERATIONS``); a cluster left empty keeps its centre."""
    k, m = centres.shape
    # every column's weighted sums in one count (each bin summed in row order)
    weighted, cols = (w[:, None] * x).ravel(), np.arange(m)
    for _ in range(LLOYD_ITERATIONS):
        mass = np.bincount(label, weights=w, minlength=k)
        sums = np.bincount((label[:, None] * m + cols).ravel(), weights=weighted,
                           minlength=k * m).reshape(k, m)
        centres = np.where(mass[:, None] > 0, sums / np.where(mass > 0, mass, 1.0)[:, None],
                           centres)
        new = _nearest(x, norms, centres, allowed)
        if np.array_equal(new, label):
            break
        label = new
    return label


def _stats(x, centre, resp, diagonal=False):
    dev = x - centre
    m1 = resp.T @ dev
    if diagonal:  # no node has a continuous parent: only variances are needed
        m2 = np.einsum("kj,ji->kji", resp.T @ (dev * dev), np.eye(x.shape[1]))
    else:
        m2 = np.matmul((resp.T[:, :, None] * dev).transpose(0, 2, 1), dev)
    return Moments(resp.sum(axis=0), m1, m2)


def _jitter(comp, cpds, rng):
    out = {}
    for node in comp.nodes:
        c = cpds[node]
        shift = rng.standard_normal(c.intercept.shape) * np.sqrt(c.variance)
        out[node] = type(c)(node, c.discrete_parents, c.continuous_parents, c.intercept + shift,
                            c.weights, c.variance, discrete_cards=c.mean_shape)
    return out


def _complete_case(comp, cpds, filled, centre, x, w, config, min_variance):
    complete = (config >= 0) & ~np.isnan(x).any(axis=1)
    counts = np.bincount(config[complete], weights=w[complete], minlength=comp.size)
    good = counts >= comp.m + 2
    if not good.any():
        return cpds
    resp = np.zeros((x.shape[0], comp.size))
    rows = np.flatnonzero(complete)
    resp[rows, config[rows]] = w[rows]
    resp[:, ~good] = 0.0
    stats = _stats(filled, centre, resp, comp.independent)
    fitted, *_ = maximize_component(comp, stats, np.broadcast_to(centre, (comp.size, comp.m)),
                                          cpds, min_variance)
    return fitted


def _floor(comp, cpds, floor):
    """Start variances at least ``START_VARIANCE_FLOOR`` times each column's spread
    (``floor``, from :func:`_start_rows`)."""
    return {node: GaussianCPD.fitted(cpds[node], cpds[node].intercept, cpds[node].weights,
                                     np.maximum(cpds[node].variance, floor[j]))
            for j, node in enumerate(comp.nodes)}
