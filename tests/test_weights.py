"""Row weights: a frequency table of response patterns fits as its expanded rows."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bnem
from conftest import assert_monotone, load


def _quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bnem.fit(*args, **kwargs)


def _frequency_table(df):
    keyed = df.astype(object).where(df.notna(), "?")
    table = keyed.value_counts().reset_index(name="n")
    return table.replace("?", np.nan)


def test_a_frequency_table_fits_like_its_expanded_rows():
    net = load("asia")
    df = net.sample(3000, seed=2, missing=0.3)
    table = _frequency_table(df)
    assert len(table) < len(df) and table.n.sum() == len(df)
    rows = _quiet(net, df, max_iter=30, tol=0, seed=4)
    freq = _quiet(net, table, max_iter=30, tol=0, seed=4, sample_weight="n")
    assert_monotone(freq)
    np.testing.assert_allclose(freq.history.log_likelihood, rows.history.log_likelihood,
                               rtol=1e-12)
    np.testing.assert_allclose(freq.network.flat_params(), rows.network.flat_params(),
                               atol=1e-12)
    weights = table.pop("n").to_numpy()  # the same with an array
    arr = _quiet(net, table, max_iter=30, tol=0, seed=4, sample_weight=weights)
    np.testing.assert_allclose(arr.history.log_likelihood, rows.history.log_likelihood,
                               rtol=1e-12)


def test_weights_in_a_hybrid_network_and_in_parts():
    gm = bnem.gaussian_mixture(["x", "y"], 2, covariance="full",
                               weights=[0.5, 0.5], means=[[0, 0], [2, 1]],
                               covariances=[np.eye(2), np.eye(2)])
    base = gm.sample(200, seed=1, hide=["component"])
    w = np.random.default_rng(0).integers(0, 4, 200)
    expanded = base.loc[base.index.repeat(w)]
    a = _quiet(gm, expanded, init="network", max_iter=10, tol=0)
    b = _quiet(gm, base, init="network", max_iter=10, tol=0, sample_weight=w.astype(float))
    np.testing.assert_allclose(b.history.log_likelihood, a.history.log_likelihood, rtol=1e-10)
    net = load("asia")
    df = net.sample(400, seed=1, missing=0.2).assign(n=2.0)
    c = _quiet(net, [df.iloc[:150], df.iloc[150:]], sample_weight="n", max_iter=5, tol=0)
    d = _quiet(net, pd.concat([df, df]).drop(columns="n"), max_iter=5, tol=0)
    np.testing.assert_allclose(c.history.log_likelihood, d.history.log_likelihood, rtol=1e-12)


@pytest.mark.parametrize("weights, match", [
    ("nope", "sample_weight='nope' names no column"),
    ("asia", "sample_weight='asia' is a node of the network"),
    (np.ones(3), r"sample_weight must have one weight per row \(10\), got shape \(3,\)"),
    (np.r_[np.ones(9), -1.0], "the weight of row 9 is -1.0; weights must be finite"),
    (np.r_[np.nan, np.ones(9)], "the weight of row 0 is nan"),
    (np.r_[np.ones(5), np.inf, np.ones(4)], r"the weight of row 5 is inf; .* \(1 bad row"),
])
def test_bad_weights_are_named(weights, match):
    net = load("asia")
    with pytest.raises(bnem.DataError, match=match):
        bnem.fit(net, net.sample(10, seed=0), sample_weight=weights, max_iter=1)


def test_several_parts_need_a_weight_column():
    net = load("asia")
    df = net.sample(10, seed=0)
    with pytest.raises(bnem.BnemError, match="must name a column of the parts"):
        bnem.fit(net, [df, df], sample_weight=np.ones(20))


def test_cli_weights(tmp_path, capsys):
    from bnem.cli.main import main
    net = load("asia")
    table = _frequency_table(net.sample(500, seed=3, missing=0.2))
    table.to_csv(tmp_path / "t.csv", index=False)
    bnem.write_bif(net, tmp_path / "asia.bif")
    assert main(["-q", "fit", str(tmp_path / "asia.bif"), str(tmp_path / "t.csv"), "-o",
                 str(tmp_path / "o.bif"), "--weights", "n", "--max-iter", "3"]) == 0
    assert "500 rows" not in capsys.readouterr().err
    table["n"] = table["n"].astype(object)
    table.loc[2, "n"] = "many"
    table.to_csv(tmp_path / "t.csv", index=False)
    assert main(["-q", "fit", str(tmp_path / "asia.bif"), str(tmp_path / "t.csv"), "-o",
                 str(tmp_path / "o.bif"), "--weights", "n"]) == 2
    assert "column 'n': the weight of line 4 is 'many', not a number" in capsys.readouterr().err


def test_weights_that_leave_nothing_to_fit_or_overflow_are_refused():
    """All-zero weights, weights whose weighted sums of squares overflow with large
    values, weights whose log-likelihood sum, total or merged sum overflows, and
    weights beyond the float range: each a clear DataError (they used to give a raw
    numpy error, or a "converged" fit of the template's parameters, or a
    log-likelihood of -inf). Huge weights that overflow nothing fit as unit ones."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(30, 3)), columns=list("abc"))
    net = bnem.gaussian_mixture(list("abc"), 2)
    discrete = load("asia")
    rows = discrete.sample(50, seed=1)
    for model, data in ((net, df), (discrete, rows)):
        for init in (None, "random-resp") if model is net else (None,):
            with pytest.raises(bnem.DataError, match="weights sum to 0: every row has weight 0"):
                bnem.fit(model, data, init=init, sample_weight=np.zeros(len(data)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's, before bnem's own error
        with pytest.raises(bnem.DataError,
                           match=r"sums of squares of \['a', 'b', 'c'\] overflow"):
            bnem.fit(net, df * 1e149, sample_weight=np.full(30, 1e10))
        with pytest.raises(bnem.DataError, match="log-likelihood of the start is -inf"):
            bnem.fit(discrete, discrete.sample(50, seed=1, missing=0.2),
                     sample_weight=np.full(50, 2e306))
        with pytest.raises(bnem.DataError, match="weights sum beyond the float range"):
            bnem.fit(discrete, rows, sample_weight=np.full(50, 1e307))
        with pytest.raises(bnem.DataError, match="weights sum beyond the float range"):
            heavy = rows.assign(w=3e306)
            bnem.fit(discrete, [heavy, heavy], sample_weight="w")  # in all, not per part
        one = pd.concat([rows.iloc[:1]] * 25_000, ignore_index=True).assign(w=7e303)
        with pytest.raises(bnem.DataError, match="rows identical across parts add"):
            bnem.fit(discrete, [one, one], sample_weight="w")  # merged across parts
    with pytest.raises(bnem.DataError, match="a weight is beyond the float range"):
        bnem.fit(discrete, rows, sample_weight=[10 ** 400] * len(rows))
    plain = bnem.fit(net, df, max_iter=20)
    for weight in (1e150, 1e300):  # EM is scale-free in the weights, up to the float range
        heavy = bnem.fit(net, df, sample_weight=np.full(30, weight), max_iter=20)
        assert heavy.log_likelihood / weight == pytest.approx(plain.log_likelihood, rel=1e-12)
