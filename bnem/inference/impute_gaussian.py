"""Filling missing continuous cells from their posterior given the row (inference layer).

Given its interface configuration ``d`` (the discrete parents of its Gaussian nodes), a
continuous component is one joint Gaussian ``N(mu_d, Sigma_d)``; given the row's
observed coordinates ``o`` its missing ones ``h`` are Gaussian with

    mean_d = mu_d[h] + Sigma_d[h, o] Sigma_d[o, o]^-1 (x_o - mu_d[o]),
    cov_d  = Sigma_d[h, h] - Sigma_d[h, o] Sigma_d[o, o]^-1 Sigma_d[o, h],

and ``d`` has the posterior ``P(d | row)`` that exact inference gives. Three fills:

* ``"mean"``: the posterior mean ``sum_d P(d | row) mean_d``;
* ``"map"``: the mode of the joint posterior of ``(d, x_h)``: ``mean_d`` at the ``d``
  maximising ``log P(d | row) - log det(cov_d) / 2`` (over the missing coordinates that
  have a column; nodes without one are integrated out). The discrete cells themselves
  are filled by their own posterior mode, which need not be that ``d``;
* ``"sample"``: ``d`` drawn from ``P(d | row)``, then ``x_h`` from ``N(mean_d, cov_d)``.

Rows are grouped by their component's missing pattern: one batched solve per pattern.
``P(d | row)`` is the posterior of the whole interface configuration (all the
component's discrete parents jointly), from the same clique-tree pass as the E-step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..ragged import pattern_keys
from .gaussian import Component, joint
from .structure import Structure

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork


def impute_continuous(network: "BayesianNetwork", out: pd.DataFrame, method: str,
                      rng: np.random.Generator,
                      posteriors: Callable[[], list[np.ndarray]]) -> None:
    """Fill, in place, the missing cells of ``out``'s continuous columns
    (``posteriors()``: per component, ``(n, K)`` posterior of its interface
    configuration given each row; computed only if some cell needs it)."""
    cpds = network.gaussian_cpds
    cached: list[list[np.ndarray]] = []
    for c, comp in enumerate(Structure.of(network).components):
        names = list(comp.nodes)
        present = [c for c in names if c in out.columns]
        if not present:
            continue
        x = np.column_stack([pd.to_numeric(out[c], errors="coerce").to_numpy(dtype=float)
                             if c in out.columns else np.full(len(out), np.nan) for c in names])
        has_column = np.array([c in out.columns for c in names])
        gaps = np.isnan(x[:, has_column]).any(axis=1)
        if not gaps.any():
            continue
        if not cached:
            cached.append(posteriors())
        weights = cached[0][c]
        mean, cov = joint(comp, cpds)
        filled = _fill(x, gaps, weights, mean, cov, method, rng, has_column)
        for c in present:  # only columns with a gap change (and become float)
            j = names.index(c)
            if np.isnan(x[:, j]).any():
                out[c] = pd.Series(np.where(np.isnan(x[:, j]), filled[:, j], x[:, j]),
                                   index=out.index, dtype=float)


def draw_rows(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row of ``probs`` (rows of probabilities), drawn from that row (the
    last index takes what round-off leaves above the cumulative sum)."""
    u = np.asarray(rng.random(probs.shape[0]))
    return np.minimum((probs.cumsum(axis=1) < u[:, None]).sum(axis=1), probs.shape[1] - 1)


def _fill(x: np.ndarray, rows: np.ndarray, weights: np.ndarray, mean: np.ndarray,
          cov: np.ndarray, method: str, rng: np.random.Generator,
          has_column: np.ndarray) -> np.ndarray:
    """``x`` with the missing coordinates of ``rows`` filled (see the module docstring;
    ``"map"`` maximises over the coordinates that have a column, the others integrated
    out)."""
    out = x.copy()
    missing = np.isnan(x)
    todo = np.flatnonzero(rows)
    keys = pattern_keys(missing[todo])
    for key in np.unique(keys):
        group = todo[keys == key]
        h = np.flatnonzero(missing[group[0]])
        o = np.flatnonzero(~missing[group[0]])
        cond_mean, cond_cov = _conditional(x[np.ix_(group, o)], mean, cov, o, h)
        w = weights[group]
        if method == "mean":
            value = np.einsum("rk,rkh->rh", w, cond_mean)
        elif method == "map":
            shown = has_column[h]  # coordinates without a column are integrated out
            _, logdet = np.linalg.slogdet(cond_cov[:, shown][:, :, shown])
            with np.errstate(divide="ignore"):
                score = np.log(w) - 0.5 * logdet[None, :]
            best = score.argmax(axis=1)
            value = cond_mean[np.arange(group.size), best]
        else:
            k = draw_rows(w, rng)
            chol = np.linalg.cholesky(cond_cov)
            z = rng.standard_normal((group.size, h.size))
            value = cond_mean[np.arange(group.size), k] + np.einsum("rij,rj->ri", chol[k], z)
        out[np.ix_(group, h)] = value
    return out


def _conditional(x_o: np.ndarray, mean: np.ndarray, cov: np.ndarray, o: np.ndarray,
                 h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row and configuration, the mean ``(r, K, |h|)`` of the missing coordinates
    given the observed ones, and per configuration their covariance ``(K, |h|, |h|)``."""
    s_hh = cov[:, h][:, :, h]
    if o.size == 0:
        return np.broadcast_to(mean[None][:, :, h], (x_o.shape[0],) + mean[:, h].shape), s_hh
    s_oo = cov[:, o][:, :, o]
    s_ho = cov[:, h][:, :, o]
    gain = np.linalg.solve(s_oo, s_ho.transpose(0, 2, 1)).transpose(0, 2, 1)  # (K, h, o)
    dev = x_o[:, None, :] - mean[None][:, :, o]                             # (r, K, o)
    cond_mean = mean[None][:, :, h] + np.einsum("kho,rko->rkh", gain, dev)
    return cond_mean, s_hh - np.matmul(gain, s_ho.transpose(0, 2, 1))
