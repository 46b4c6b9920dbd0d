"""The compiled E-step kernel equals the numpy E-step (counts, log-likelihood, fits),
falls back to it where the linear pass underflows, and reports impossible rows."""

import numpy as np
import pandas as pd
import pytest

import bnem

pytest.importorskip("numba")


@pytest.fixture
def kernel(monkeypatch):
    def use(mode):
        monkeypatch.setenv("BNEM_KERNEL", mode)
    return use


@pytest.mark.parametrize("name, hide", [("alarm", None), ("child", ["Disease"]),
                                        ("insurance", None)])
def test_fused_fit_equals_the_numpy_fit(kernel, name, hide):
    net = bnem.load_network(name)
    df = net.sample(1500, seed=3, missing=0.2, hide=hide)
    fits = {}
    for mode in ("numpy", "fused"):
        kernel(mode)
        with pytest.warns(bnem.ConvergenceWarning):
            fits[mode] = bnem.fit(net, df, max_iter=4, tol=0, seed=0, prior=0.5)
    a, b = fits["numpy"], fits["fused"]
    np.testing.assert_allclose(b.history["log_likelihood"], a.history["log_likelihood"],
                               rtol=1e-13)
    np.testing.assert_allclose(b.network.flat_params(), a.network.flat_params(),
                               rtol=1e-11, atol=1e-15)


def test_underflow_falls_back_to_log_space_and_impossible_rows_are_named(kernel):
    # 215 observed 16-state children: each row's probability is below 1e-250, so the
    # linear pass underflows and the chunk is redone in log space (numpy's path)
    n_children = 215
    states = [f"s{j}" for j in range(16)]
    variables = {"h": ["a", "b"], **{f"c{i}": states for i in range(n_children)}}
    parents = {f"c{i}": ["h"] for i in range(n_children)}
    table = [[0.09] + [0.91 / 15] * 15, [0.91 / 15] * 15 + [0.09]]
    cpds = {"h": [0.5, 0.5], **{f"c{i}": table for i in range(n_children)}}
    net = bnem.BayesianNetwork(variables, parents, cpds)
    df = net.sample(6, seed=1).drop(columns="h")
    lls = {}
    for mode in ("numpy", "fused"):
        kernel(mode)
        lls[mode] = bnem.fit(net, df, init="network", max_iter=0).history["log_likelihood"]
    np.testing.assert_allclose(lls["fused"], lls["numpy"], rtol=1e-13)
    assert lls["fused"].iloc[0] / len(df) < -250 * np.log(10)  # below the linear floor
    kernel("fused")
    impossible = bnem.BayesianNetwork({"a": ["x", "y"], "b": ["x", "y"]}, {"b": ["a"]},
                                      {"a": [1.0, 0.0], "b": [[0.5, 0.5], [0.5, 0.5]]})
    with pytest.raises(bnem.ImpossibleRowError, match="row 1"):
        bnem.fit(impossible, pd.DataFrame({"a": [None, "y"], "b": ["x", None]}),
                 init="network")
