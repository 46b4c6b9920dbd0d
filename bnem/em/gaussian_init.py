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
    codes, values, w = data.canonical_rows()
    min_variance = max(min_variance, np.finfo(float).tiny)
    for comp in data.compiled.structure.components:
        x = values[:, comp.columns]
        filled, centre = _mean_filled(x, w)
        cs_config, consistent = interface_rows(comp, codes)
        allowed = np.ones((len(w), comp.size), bool) if consistent is None else consistent.T
        if init in MIXTURE_INITS:  # distances in centred coordinates keep their precision
            resp = _responsibilities(init, filled - centre, w, allowed, comp.size, rng)
        else:  # equal weight over allowed configurations: each gets the pooled fit
            resp = allowed / allowed.sum(axis=1, keepdims=True)
        stats = _stats(filled, centre, resp * w[:, None], comp.independent)
        new, *_ = maximize_component(comp, stats, np.broadcast_to(centre, (comp.size, comp.m)),
                                       cpds, min_variance)
        if init in ("random", "complete-case"):
            new = _jitter(comp, new, rng)
        if init == "complete-case":
            new = _complete_case(comp, new, filled, centre, x, w, cs_config, min_variance)
        cpds.update(_latent(comp, _floor(comp, new, filled, w), np.isnan(x).all(axis=0), rng))
    return cpds


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
    n = x.shape[0]
    if init == "random-resp":
        r = rng.uniform(size=(n, k)) * allowed
        return r / r.sum(axis=1, keepdims=True)
    p = w / w.sum()
    if init == "random-rows":
        centres = x[rng.choice(n, size=k, replace=n < k, p=p)]
    else:
        centres = np.empty((k, x.shape[1]))
        centres[0] = x[rng.choice(n, p=p)]
        closest = ((x - centres[0]) ** 2).sum(axis=1)
        for c in range(1, k):
            weight = closest * w
            total = weight.sum()
            pick = rng.choice(n, p=weight / total) if total > 0 else rng.choice(n, p=p)
            centres[c] = x[pick]
            closest = np.minimum(closest, ((x - centres[c]) ** 2).sum(axis=1))
    label = _nearest(x, centres, allowed)
    if init == "k-means++":  # then Lloyd's iterations, as scikit-learn's k-means start
        label = _lloyd(x, w, centres, allowed, label)
    r = np.zeros((n, k))
    r[np.arange(n), label] = 1.0
    return r


LLOYD_ITERATIONS = 100


def _nearest(x, centres, allowed):
    # squared distances without an (n, K, d) array: |x|^2 - 2 x.c + |c|^2
    dist = (x * x).sum(axis=1)[:, None] - 2.0 * (x @ centres.T) + (centres * centres).sum(axis=1)
    return np.where(allowed, dist, np.inf).argmin(axis=1)


def _lloyd(x, w, centres, allowed, label):
    """Weighted k-means from ``centres`` until no row changes cluster (at most
    ``LLOYD_ITERATIONS``); a cluster left empty keeps its centre."""
    k = centres.shape[0]
    for _ in range(LLOYD_ITERATIONS):
        mass = np.bincount(label, weights=w, minlength=k)
        sums = np.stack([np.bincount(label, weights=w * x[:, j], minlength=k)
                         for j in range(x.shape[1])], axis=1)
        centres = np.where(mass[:, None] > 0, sums / np.where(mass > 0, mass, 1.0)[:, None],
                           centres)
        new = _nearest(x, centres, allowed)
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
        m2 = np.stack([(dev * resp[:, k:k + 1]).T @ dev for k in range(resp.shape[1])])
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


def _floor(comp, cpds, x, w):
    """Start variances at least ``START_VARIANCE_FLOOR`` times each column's spread."""
    mean = (w @ x) / w.sum()
    spread = (w @ (x - mean) ** 2) / w.sum()
    floor = START_VARIANCE_FLOOR * np.where(spread > 0, spread, 1.0)
    return {node: GaussianCPD.fitted(cpds[node], cpds[node].intercept, cpds[node].weights,
                                     np.maximum(cpds[node].variance, floor[j]))
            for j, node in enumerate(comp.nodes)}
