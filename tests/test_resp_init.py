"""init="random-resp" for discrete networks: random responsibilities of the latent
nodes, then an M-step."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

import bnem
from bnem.em.mstep import Maximizer
from bnem.em.resp_init import random_resp_theta
from bnem.errors import BnemValueError


def latent_class(n_items=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    items = [f"i{j}" for j in range(n_items)]
    variables = {"c": [f"k{j}" for j in range(k)], **{i: ["no", "yes"] for i in items}}
    cpds = {"c": rng.dirichlet(np.ones(k) * 5), **{i: rng.dirichlet([1, 1], size=k)
                                                 for i in items}}
    return bnem.BayesianNetwork(variables, {i: ["c"] for i in items}, cpds), items


def test_counts_match_a_brute_force_sum():
    net = bnem.BayesianNetwork({"c": ["a", "b", "d"], "x": ["0", "1"], "y": ["u", "v"]},
                               {"x": ["c"], "y": ["c", "x"]})
    codes = np.array([[-1, 0, 1], [-1, 1, -1], [-1, -1, 0], [-1, 1, 1]])
    weights = np.array([1.0, 2.0, 0.5, 3.0])
    theta = random_resp_theta(net, Maximizer(net), [(codes, weights)], [0],
                              np.random.default_rng(4), prior=0.0)
    r = np.random.default_rng(4).uniform(size=(4, 3))
    r /= r.sum(axis=1, keepdims=True)
    counts = {"c": np.zeros(3), "x": np.zeros((3, 2)), "y": np.zeros((3, 2, 2))}
    for row, w in enumerate(weights):
        x, y = codes[row, 1], codes[row, 2]
        for c in range(3):
            counts["c"][c] += w * r[row, c]
            if x >= 0:
                counts["x"][c, x] += w * r[row, c]
            if x >= 0 and y >= 0:
                counts["y"][c, x, y] += w * r[row, c]
    expected = net.with_cpds({n: (v + 1e-3) / (v + 1e-3).sum(axis=-1, keepdims=True)
                              for n, v in counts.items()}).flat_params()
    np.testing.assert_allclose(theta, expected, rtol=1e-12)


def test_latent_class_fit_from_random_resp_is_seeded_and_monotone():
    net, items = latent_class()
    df = net.sample(3000, seed=1, missing=0.1)[items]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.ConvergenceWarning)
        a = bnem.fit(net, df, init="random-resp", n_init=3, seed=5, max_iter=300)
        b = bnem.fit(net, df, init="random-resp", n_init=3, seed=5, max_iter=300)
        c = bnem.fit(net, df, init="random-resp", seed=6, max_iter=0)
        d = bnem.fit(net, df, init="random-resp", seed=7, max_iter=0)
    np.testing.assert_array_equal(a.network.flat_params(), b.network.flat_params())
    assert a.history["log_likelihood"].is_monotonic_increasing
    assert not np.allclose(c.network.flat_params(), d.network.flat_params())
    # the classes of a random-resp start are not symmetric: every item table differs by class
    start = c.network
    for item in items:
        table = start.cpd(item).values
        assert not np.allclose(table[0], table[1])


def test_random_resp_needs_a_latent_node():
    net, items = latent_class()
    df = net.sample(200, seed=1)
    with pytest.raises(BnemValueError, match="init='random-resp' draws random "
                                             "responsibilities for the latent nodes"):
        bnem.fit(net, df, init="random-resp")


def test_random_resp_reaches_the_same_optimum_as_random_starts():
    """Both starts, enough restarts: the same best log-likelihood (a 2-class model on 4
    items is identified and its optimum easy to find)."""
    net, items = latent_class(n_items=4, k=2, seed=3)
    df = net.sample(2000, seed=2)[items]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.ConvergenceWarning)
        best = {init: bnem.fit(net, df, init=init, n_init=4, seed=1, tol=1e-12,
                               max_iter=5000, accelerate="squarem").log_likelihood
                for init in ("random", "random-resp")}
    assert best["random"] == pytest.approx(best["random-resp"], rel=1e-8)
