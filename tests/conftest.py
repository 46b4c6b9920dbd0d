"""Shared fixtures: bundled networks, random DAGs, history checks."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

import bnem

NETWORKS = pathlib.Path(__file__).resolve().parents[1] / "networks"
SMALL = ["asia", "cancer", "earthquake", "sachs", "survey"]


def load(name: str) -> bnem.BayesianNetwork:
    return bnem.read_bif(NETWORKS / f"{name}.bif")


def random_network(rng: np.random.Generator, n_nodes: int, max_parents: int = 3,
                   max_card: int = 3, zero_prob: float = 0.0) -> bnem.BayesianNetwork:
    """A random DAG over v0..v{n-1} (edges go from lower to higher ids) with random CPDs."""
    cards = rng.integers(2, max_card + 1, n_nodes)
    names = [f"v{i}" for i in range(n_nodes)]
    parents, cpds = {}, {}
    for i in range(n_nodes):
        k = int(min(i, rng.integers(0, max_parents + 1)))
        pids = sorted(rng.choice(i, size=k, replace=False).tolist()) if k else []
        parents[names[i]] = [names[p] for p in pids]
        shape = tuple(int(c) for c in cards[pids]) + (int(cards[i]),)
        table = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1] or None)
        if zero_prob:
            table = np.where(rng.random(table.shape) < zero_prob, 0.0, table)
            table[..., 0] += (table.sum(-1) == 0)  # keep each distribution valid
            table = table / table.sum(-1, keepdims=True)
        cpds[names[i]] = table
    # shuffle the node order so ids are not a topological order
    order = rng.permutation(n_nodes)
    variables = {names[i]: [f"s{j}" for j in range(cards[i])] for i in order}
    return bnem.BayesianNetwork(variables, parents, cpds)


def curvature_errors(loglik, x0: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Standard errors from the inverse of the log-likelihood's Hessian at ``x0`` by
    central second differences with steps ``h`` (an oracle for standard_errors)."""
    k = x0.size
    hess = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            e_i, e_j = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            hess[i, j] = (loglik(x0 + e_i + e_j) - loglik(x0 + e_i - e_j)
                          - loglik(x0 - e_i + e_j) + loglik(x0 - e_i - e_j)) / (4 * h[i] * h[j])
    return np.sqrt(np.diag(np.linalg.inv(-hess)))


def assert_monotone(result, rtol: float = 1e-9):
    """EM's objective never decreases (beyond round-off) along the history."""
    objectives = [c for c in result.history.columns
                  if c.startswith("classification_") or c == "log_posterior"]
    col = objectives[0] if objectives else "log_likelihood"
    values = result.history[col].to_numpy()
    drops = values[:-1] - values[1:]
    assert (drops <= rtol * np.maximum(1.0, np.abs(values[:-1]))).all(), values


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
