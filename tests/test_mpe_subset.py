"""most_probable(..., nodes=): the MAP state of some nodes, the rest summed out,
against pgmpy's map_query, full MPE, and the posterior of a Gaussian mixture."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bnem
from bnem.errors import BnemValueError, ImpossibleRowError


def test_map_over_some_nodes_equals_pgmpy_map_query():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pgmpy's own deprecation notices at import
        from pgmpy.inference import VariableElimination

    net = bnem.load_network("asia")
    df = net.sample(40, seed=2, missing=0.35)
    query = ["tub", "lung", "either"]
    got, log_max = bnem.most_probable(net, df, nodes=query)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        infer = VariableElimination(bnem.to_pgmpy(net))
        for i, row in df.iterrows():
            evidence = {k: str(v) for k, v in row.items() if pd.notna(v) and k not in query}
            given = {k: str(row[k]) for k in query if pd.notna(row[k])}
            free = [q for q in query if q not in given]
            if not free:
                continue
            joint = infer.query(free, evidence={**evidence, **given}, joint=True,
                                show_progress=False)
            values = np.asarray(joint.values)
            at = np.unravel_index(values.argmax(), values.shape)
            want = {v: joint.state_names[v][a] for v, a in zip(joint.variables, at)}
            # ties: compare the probability of the chosen states, not their names
            mine = tuple(joint.state_names[v].index(str(got.loc[i, v])) for v in joint.variables)
            assert values[mine] == pytest.approx(values.max(), rel=1e-12), (i, want)
    # log_max is log P(chosen query states, observed): the filled row's log_prob
    filled = df.copy()
    for q in query:
        filled[q] = got[q].astype(object)
    np.testing.assert_allclose(log_max, net.log_prob(filled), rtol=1e-12)


def test_all_discrete_nodes_is_the_full_mpe():
    net = bnem.load_network("asia")
    df = net.sample(30, seed=3, missing=0.3)
    full, full_max = bnem.most_probable(net, df)
    some, some_max = bnem.most_probable(net, df, nodes=list(net.discrete_nodes))
    np.testing.assert_allclose(some_max, full_max, rtol=1e-12)
    assert (some.astype(str).to_numpy() == full.astype(str).to_numpy()).all()


def test_hybrid_network_class_is_the_posterior_argmax():
    rng = np.random.default_rng(0)
    net = bnem.gaussian_mixture(["a", "b"], 3, "full")
    x = pd.DataFrame(rng.normal(size=(50, 2)) + rng.integers(0, 3, (50, 1)) * 3.0,
                     columns=["a", "b"])
    x.iloc[::7, 1] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = bnem.fit(net, x, seed=0).network
    hidden = fitted.discrete_nodes[0]
    got, log_max = bnem.most_probable(fitted, x, nodes=[hidden])
    post = fitted.posterior(x, hidden)
    assert (got[hidden].astype(str).to_numpy() == post.idxmax(axis=1).astype(str).to_numpy()).all()
    np.testing.assert_allclose(log_max, fitted.log_prob(x) + np.log(post.max(axis=1).to_numpy()),
                               rtol=1e-10)
    with pytest.raises(BnemValueError, match="Give nodes="):
        bnem.most_probable(fitted, x)


def test_errors():
    net = bnem.load_network("asia")
    df = net.sample(5, seed=1)
    with pytest.raises(BnemValueError, match="not discrete nodes"):
        bnem.most_probable(net, df, nodes=["nope"])
    with pytest.raises(BnemValueError, match="distinct discrete nodes"):
        bnem.most_probable(net, df, nodes=["tub", "tub"])
    zero = net.with_cpds({"asia": [1.0, 0.0]})
    bad = df.assign(asia=net.states("asia")[1], tub=None)
    with pytest.raises(ImpossibleRowError, match="probability zero"):
        bnem.most_probable(zero, bad, nodes=["tub"])


def test_review_findings_stay_fixed():
    net = bnem.load_network("asia")
    df = net.sample(8, seed=4, missing=0.3)
    df.index = [f"r{i}" for i in range(8)]
    by_name, best = bnem.most_probable(net, df, nodes=["tub"])
    positional, best2 = bnem.most_probable(net, df, ["tub"])     # nodes as the third argument
    np.testing.assert_array_equal(best, best2)
    # identical rows scored once, answers for every row
    twice = pd.concat([df, df])
    _, best_twice = bnem.most_probable(net, twice, nodes=["tub"])
    np.testing.assert_array_equal(best_twice, np.r_[best, best])
    # bad cells are named by the user's rows
    bad = df.astype(object)
    bad.loc["r6", "smoke"] = "maybe"
    with pytest.raises(bnem.BnemError, match="'r6'"):
        bnem.most_probable(net, bad, nodes=["tub", "lung"])
    with pytest.raises(bnem.BnemError, match="empty"):
        bnem.most_probable(net, df.iloc[:0], nodes=["tub"])
    with pytest.raises(bnem.BnemError, match="a node name or a list"):
        bnem.most_probable(net, df, nodes=5)
