"""Poisson count nodes: the closed-form M-step, EM against an independent Poisson-mixture
EM and brute-force likelihoods, HMM emissions, counting, files and errors."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bnem
from bnem.em.mstep import Maximizer
from bnem.errors import BnemValueError, DataError, NetworkError
from bnem.io.json_checks import JSONFormatError
from conftest import curvature_errors

M = 40


def counts(df):
    """Sampled count columns (categories named '0', '1', ...) as numbers."""
    return df.apply(lambda c: pd.to_numeric(c.astype(object)))


def mixture(k=3, m=M):
    return bnem.BayesianNetwork({"z": [f"c{i}" for i in range(k)],
                                 "y1": bnem.count_states(m), "y2": bnem.count_states(m)},
                                {"y1": ["z"], "y2": ["z"]}, {"z": np.full(k, 1 / k)})


def truth(m=M):
    return mixture(m=m).with_cpds({"z": [0.5, 0.3, 0.2]}).poisson("y1", rates=[1.0, 5.0, 12.0]) \
        .poisson("y2", rates=[3.0, 0.5, 8.0])


def test_the_table_is_poisson_with_the_tail_last():
    net = truth()
    t = net.cpd("y1").values
    assert t.shape == (3, M + 2)
    np.testing.assert_allclose(t[:, :-1], stats.poisson.pmf(np.arange(M + 1),
                                                            [[1.0], [5.0], [12.0]]), rtol=1e-13)
    np.testing.assert_allclose(t[:, -1], stats.poisson.sf(M, [1.0, 5.0, 12.0]), rtol=1e-10)
    np.testing.assert_allclose(net.rates_of("y1"), [1.0, 5.0, 12.0], rtol=1e-12)
    assert mixture().n_parameters == 2 + 2 * 3 * (M + 1)
    assert truth().n_parameters == 2 + 3 + 3


def test_the_m_step_on_complete_data_is_the_mean_count_per_configuration():
    rng = np.random.default_rng(0)
    z = rng.choice(["c0", "c1", "c2"], 300)
    y = rng.poisson(np.select([z == "c0", z == "c1"], [2.0, 7.0], 0.3))
    df = pd.DataFrame({"z": z, "y1": y, "y2": rng.poisson(4.0, 300)})
    res = bnem.fit(truth(), df, init="network", max_iter=1, prior=2.0)
    means = df.groupby("z")["y1"].mean().to_numpy()
    np.testing.assert_allclose(res.network.rates_of("y1"), means, rtol=1e-12)
    np.testing.assert_allclose(res.network.rates_of("y2"),
                               df.groupby("z")["y2"].mean().to_numpy(), rtol=1e-12)
    # the Dirichlet prior smooths z's table, not the counts (and the objective agrees)
    np.testing.assert_allclose(res.network.cpd("z").values,
                               (df.z.value_counts().sort_index() + 2) / 306, rtol=1e-12)
    counted = Maximizer(truth()).constrained.counted  # the MAP objective's prior term
    assert counted[:3].all() and not counted[3:].any()  # z's three entries only


def independent_em(df, pi, rates, n_iter):
    """EM for a mixture of independent Poissons with missing counts, by hand: a missing
    count's expected value is its component's current rate."""
    y = df[["y1", "y2"]].to_numpy(dtype=float)
    seen = ~np.isnan(y)
    out = []
    for _ in range(n_iter + 1):
        logp = np.log(pi)[None, :] + np.where(
            seen[:, None, :], stats.poisson.logpmf(np.nan_to_num(y)[:, None, :],
                                                   rates.T[None, :, :]), 0.0).sum(axis=2)
        top = logp.max(axis=1, keepdims=True)
        ll = float((top[:, 0] + np.log(np.exp(logp - top).sum(axis=1))).sum())
        out.append(ll)
        if len(out) > n_iter:
            break
        r = np.exp(logp - top)
        r /= r.sum(axis=1, keepdims=True)
        filled = np.where(seen[:, None, :], np.nan_to_num(y)[:, None, :], rates.T[None])
        rates = ((r[:, :, None] * filled).sum(axis=0) / r.sum(axis=0)[:, None]).T
        pi = r.mean(axis=0)
    return np.array(out), rates


@pytest.mark.parametrize("m", [M, 13])  # 13: the last state (> 13) holds up to 10% of
def test_em_equals_an_independent_poisson_mixture_em(m):  # a missing count's mass
    df = truth(m).sample(800, seed=3, missing=0.25).drop(columns="z")
    df = df.apply(lambda c: c.astype(object).where(c.astype(object) != f">{m}"))
    start = mixture(m=m).with_cpds({"z": [0.4, 0.35, 0.25]}) \
        .poisson("y1", rates=[2.0, 4.0, 9.0]).poisson("y2", rates=[2.5, 1.0, 6.0])
    with pytest.warns(bnem.ConvergenceWarning):
        res = bnem.fit(start, df, init="network", max_iter=8, tol=0, accelerate="none")
    # the start is kept as given: the history's first entry is its log-likelihood
    assert res.history.log_likelihood[0] == pytest.approx(start.log_likelihood(df), rel=1e-13)
    lls, rates = independent_em(counts(df), np.array([0.4, 0.35, 0.25]),
                                np.array([[2.0, 4.0, 9.0], [2.5, 1.0, 6.0]]), 8)
    np.testing.assert_allclose(res.history.log_likelihood, lls, rtol=1e-11)
    # the rates after the 8 M-steps (the history's last entry is their likelihood)
    np.testing.assert_allclose(res.network.rates_of("y1"), rates[0], rtol=1e-9)
    np.testing.assert_allclose(res.network.rates_of("y2"), rates[1], rtol=1e-9)


def test_the_likelihood_is_the_brute_force_poisson_mixture_density():
    df = truth().sample(300, seed=5, missing=0.3).drop(columns="z")
    res = bnem.fit(mixture().poisson("y1").poisson("y2"), df, seed=0, n_init=3)
    net = res.network
    pi, r1, r2 = net.cpd("z").values, net.rates_of("y1"), net.rates_of("y2")
    y = counts(df).to_numpy(dtype=float)
    dens = np.zeros(len(df))
    for k in range(3):
        term = np.full(len(df), pi[k])
        for j, r in enumerate((r1, r2)):
            term *= np.where(np.isnan(y[:, j]), 1.0,
                             stats.poisson.pmf(np.nan_to_num(y[:, j]), r[k]))
        dens += term
    # (atol: a row with both counts missing has log P = log(sum of the weights) = 0,
    # which the sum of the fitted weights meets only to round-off)
    np.testing.assert_allclose(net.log_prob(df), np.log(dens), rtol=1e-11, atol=1e-14)
    assert res.log_likelihood == pytest.approx(np.log(dens).sum(), rel=1e-11)


def test_an_observed_count_above_m_is_a_censored_count():
    net = truth(m=8)
    df = pd.DataFrame({"y1": [">8", "3"], "y2": ["2", None]})
    rates1, rates2, pi = net.rates_of("y1"), net.rates_of("y2"), net.cpd("z").values
    first = (pi * stats.poisson.sf(8, rates1) * stats.poisson.pmf(2, rates2)).sum()
    second = (pi * stats.poisson.pmf(3, rates1)).sum()
    np.testing.assert_allclose(net.log_prob(df), np.log([first, second]), rtol=1e-12)


@pytest.mark.parametrize("init", ["complete-case", "random-resp", "random"])
def test_other_starts_reach_the_optimum(init):
    df = truth().sample(1500, seed=3, missing=0.1).drop(columns="z")
    start = mixture().poisson("y1").poisson("y2")
    best = bnem.fit(truth(), df, init="network", tol=1e-10).log_likelihood
    res = bnem.fit(start, df, init=init, seed=0, tol=1e-10)
    assert res.log_likelihood == pytest.approx(best, abs=1e-5)


def test_random_starts_draw_rates_among_the_observed_counts():
    df = truth(m=60).sample(2000, seed=4, missing=0.1).drop(columns="z")
    start = mixture(m=60).poisson("y1").poisson("y2")
    seen = counts(df)
    for seed in range(5):
        first = bnem.fit(start, df, init="random", seed=seed, max_iter=0).network
        for node in ("y1", "y2"):
            # each within 0.5 of a count the data show (a flat table's rates would sit
            # near 60 / 2), and no two alike
            values = np.array(sorted(set(seen[node].dropna().astype(int))))
            rates = first.rates_of(node)
            near = np.abs(rates[:, None] - values[None, :]).min(axis=1)
            assert np.all((near <= 0.5 + 1e-9) | (rates <= 0.05 + 1e-12)), (node, rates)
            assert len(set(np.round(rates, 12))) == rates.size
    # a count node the data never show keeps the flat draw (no counts to start from)
    hidden = bnem.BayesianNetwork({"z": ["a", "b"], "n": bnem.count_states(10),
                                   "y": ["u", "v"]}, {"n": ["z"], "y": ["n"]}).poisson("n")
    rows = pd.DataFrame({"y": ["u", "v"] * 50})
    rates = bnem.fit(hidden, rows, init="random", seed=0, max_iter=0).network.rates_of("n")
    assert np.all(rates > 2.0)


def test_random_starts_survive_wide_and_all_zero_counts():
    # overdispersed counts up to ~1,100 with M ~ 2,300: a start whose rates are all far
    # below the largest count makes that row impossible; it is drawn again
    y = np.random.default_rng(5).negative_binomial(2, 2 / 252, 400)
    net = bnem.BayesianNetwork({"z": list("abc"), "y": bnem.count_states(int(2 * y.max()))},
                               {"y": ["z"]}).poisson("y")
    data = pd.DataFrame({"y": y.astype(str)})
    for seed in range(4):
        res = bnem.fit(net, data, init="random", seed=seed, n_init=2, max_iter=5)
        assert np.isfinite(res.log_likelihood)
    zeros = bnem.BayesianNetwork({"z": ["a", "b"], "y": bnem.count_states(2000),
                                  "c": ["u", "v"]}, {"y": ["z"], "c": ["z"]}).poisson("y")
    frame = pd.DataFrame({"y": ["0"] * 100, "c": ["u", "v"] * 50})
    fitted = bnem.fit(zeros, frame, init="random", seed=0, max_iter=3)
    assert np.all(fitted.network.rates_of("y") < 0.06)
    # a shared block's members start from one draw
    hmm = bnem.hidden_markov_network(2, {"y": bnem.count_states(30)}, 4).poisson("y[0]")
    steps = pd.DataFrame({f"y[{t}]": np.random.default_rng(t).poisson(4, 50) for t in range(4)})
    first = bnem.fit(hmm, steps.astype(str), init="random", seed=1, max_iter=0).network
    for t in range(1, 4):
        np.testing.assert_allclose(first.rates_of(f"y[{t}]"), first.rates_of("y[0]"))


def test_a_poisson_hidden_markov_model_recovers_its_rates():
    hmm = bnem.hidden_markov_network(2, {"y": bnem.count_states(M)}, length=40)
    truth_hmm = hmm.poisson("y[0]", rates=[1.0, 8.0]).with_cpds(
        {"state[0]": [0.5, 0.5], "state[1]": [[0.9, 0.1], [0.2, 0.8]]})
    assert truth_hmm.poisson_nodes == tuple(f"y[{t}]" for t in range(40))
    assert truth_hmm.n_parameters == 1 + 2 + 2
    df = truth_hmm.sample(150, seed=2, missing=0.1).filter(like="y[")
    res = bnem.fit(hmm.poisson("y[0]"), df, seed=0, n_init=3, sum_out_barren=True)
    rates = np.sort(res.network.rates_of("y[7]"))
    np.testing.assert_allclose(rates, [1.0, 8.0], atol=0.25)


def test_json_round_trips_and_bif_warns(tmp_path):
    net = truth()
    bnem.write_json(net, tmp_path / "p.json")
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["poisson"] == ["y1", "y2"]
    back = bnem.read_json(tmp_path / "p.json")
    assert back == net and back.poisson_nodes == ("y1", "y2")
    doc["poisson"] = ["z"]
    with pytest.raises(JSONFormatError, match="count node's states are '0', '1'"):
        bnem.read_json(json.dumps(doc))
    with pytest.warns(bnem.FormatWarning, match="Poisson form of y1, y2"):
        bnem.write_bif(net, tmp_path / "p.bif")


def test_fit_and_cli_declare_poisson_nodes(tmp_path):
    from bnem.cli.main import main
    df = truth().sample(600, seed=8, missing=0.1).drop(columns="z")
    res = bnem.fit(mixture(), df, poisson=["y1", "y2"], seed=0)
    assert res.network == bnem.fit(mixture().poisson("y1").poisson("y2"), df, seed=0).network
    bnem.write_json(mixture(), tmp_path / "net.json")
    df.to_csv(tmp_path / "d.csv", index=False)
    assert main(["fit", str(tmp_path / "net.json"), str(tmp_path / "d.csv"), "-o",
                 str(tmp_path / "out.json"), "--poisson", "y1,y2"]) == 0
    assert bnem.read_json(tmp_path / "out.json") == res.network


def test_errors_say_what_was_expected():
    with pytest.raises(NetworkError, match=r"count node's states are '0', '1', \.\.\., 'M'"):
        mixture().poisson("z")
    with pytest.raises(NetworkError, match=r"rates are finite and >= 0, got \[-1.0\]"):
        mixture().poisson("y1", rates=[-1.0])
    with pytest.raises(NetworkError, match=r"an array of shape \(3,\)"):
        mixture().poisson("y1", rates=[1.0, 2.0])
    with pytest.raises(NetworkError, match="count node's states are"):
        bnem.BayesianNetwork({"y": ["0", "1", "2"]}).poisson("y")   # no '>1' state
    with pytest.raises(NetworkError, match="rate 800.0 puts almost all its mass above"):
        bnem.BayesianNetwork({"y": bnem.count_states(3)}).poisson("y", rates=800.0)
    with pytest.raises(NetworkError, match="'z' is not a Poisson node"):
        truth().rates_of("z")
    with pytest.raises(NetworkError, match="not a Poisson table; give its rates"):
        truth().with_cpds({"y1": np.full((3, M + 2), 1 / (M + 2))})
    with pytest.raises(DataError, match=r"value 45 .* is not a state of node 'y1'"):
        truth().log_prob(pd.DataFrame({"y1": [3, 45]}))
    with pytest.raises(BnemValueError, match="'opg' does not cover Poisson rates"):
        bnem.standard_errors(truth(), truth().sample(50, seed=0), method="opg")
    with pytest.raises(TypeError, match="count_states"):
        bnem.count_states(0)


def test_hidden_markov_model_with_poisson_emissions_and_missing_counts():
    hmm = bnem.hidden_markov_network(2, {"y": bnem.count_states(30)}, length=30)
    truth_hmm = hmm.poisson("y[0]", rates=[1.0, 8.0]).with_cpds(
        {"state[0]": [0.5, 0.5], "state[1]": [[0.9, 0.1], [0.2, 0.8]]})
    wide = counts(truth_hmm.sample(40, seed=4, missing=0.1).filter(like="y["))
    X = wide.to_numpy(dtype=float).reshape(-1, 1)  # 40 sequences of 30 steps, NaN kept
    model = bnem.HiddenMarkovModel(2, emission="poisson", random_state=0).fit(X, [30] * 40)
    assert model.lambdas_.shape == (2, 1)
    np.testing.assert_allclose(np.sort(model.lambdas_[:, 0]), [1.0, 8.0], atol=0.5)
    m = len(model._observed["x0"]) - 2
    assert m == max(2 * int(np.nanmax(X)), int(np.nanmax(X)) + 20)
    # the estimator is bnem.fit on the unrolled network with Poisson emissions
    net = bnem.hidden_markov_network(2, {"x0": bnem.count_states(m)}, length=30)
    frame = pd.DataFrame(X.reshape(40, 30), columns=[f"x0[{t}]" for t in range(30)])
    direct = bnem.fit(net.poisson("x0[0]"), frame, seed=0, n_init=3, tol=1e-6,
                      max_iter=500, sum_out_barren=True)
    assert model.log_likelihood_ == pytest.approx(direct.log_likelihood, rel=1e-12)
    assert model.score(X, [30] * 40) == pytest.approx(direct.log_likelihood, rel=1e-9)
    with pytest.raises(BnemValueError, match=r"more than the model's max_count"):
        model.score(np.array([[3.0], [m + 1.0]]))
    with pytest.raises(BnemValueError, match=r"counts \(whole numbers >= 0\).*row 1"):
        bnem.HiddenMarkovModel(2, emission="poisson").fit(np.array([[1.0], [2.5]]))


def test_hidden_markov_model_with_small_and_large_counts_and_bad_counts():
    # a random table would start every rate near max_count / 2, where a count of 3 has
    # probability below the floating-point range: the estimator starts from the data
    rng = np.random.default_rng(0)
    z = np.repeat(rng.integers(0, 2, 20), 10)
    X = rng.poisson(np.where(z, 3, 760))[:, None].astype(float)
    model = bnem.HiddenMarkovModel(2, emission="poisson", n_init=2, random_state=0)
    model.fit(X, [20] * 10)
    # the regimes are told apart without doubt: each rate is its regime's mean count
    np.testing.assert_allclose(np.sort(model.lambdas_[:, 0]),
                               np.sort([X[z == 0].mean(), X[z == 1].mean()]), rtol=1e-6)
    with pytest.raises(BnemValueError, match=r"row 1, column 'x0' holds inf"):
        bnem.HiddenMarkovModel(2, emission="poisson").fit(np.array([[1.0], [np.inf]]))
    with pytest.raises(BnemValueError, match="counts up to 40000.*Set max_count="):
        bnem.HiddenMarkovModel(2, emission="poisson").fit(np.array([[1.0], [40000.0]]))


def test_standard_errors_of_rates_closed_form_on_complete_data():
    rng = np.random.default_rng(7)
    g = rng.choice(["u", "v"], 500)
    y = rng.poisson(np.where(g == "u", 2.0, 7.0))
    net = bnem.BayesianNetwork({"g": ["u", "v"], "y": bnem.count_states(40)},
                               {"y": ["g"]}).poisson("y")
    df = pd.DataFrame({"g": g, "y": y.astype(str)})
    fitted = bnem.fit(net, df, tol=1e-12).network
    se = bnem.standard_errors(fitted, df)
    rows = se[se.node == "y"]
    assert list(rows.state) == ["rate", "rate"]
    for label, row in zip(["u", "v"], rows.itertuples()):
        n = (g == label).sum()
        mean = y[g == label].mean()
        assert row.estimate == pytest.approx(mean, rel=1e-9)
        assert row.se == pytest.approx(np.sqrt(mean / n), rel=1e-5)  # Fisher: n / rate


def test_standard_errors_of_rates_equal_the_log_likelihood_s_curvature():
    df = truth(m=30).sample(600, seed=8, missing=0.1).drop(columns="z")
    start = bnem.BayesianNetwork({"z": ["c0", "c1"], "y1": bnem.count_states(30),
                                  "y2": bnem.count_states(30)},
                                 {"y1": ["z"], "y2": ["z"]}).poisson("y1").poisson("y2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = bnem.fit(start, df, seed=0, n_init=3, tol=1e-12).network
    se = bnem.standard_errors(fitted, df)

    def loglik(x):  # x: P(z = c0), then y1's and y2's rates
        net = fitted.with_cpds({"z": [x[0], 1 - x[0]]}).poisson("y1", rates=x[1:3]) \
            .poisson("y2", rates=x[3:5])
        return net.log_likelihood(df)

    x0 = np.r_[fitted.cpd("z").values[0], fitted.rates_of("y1"), fitted.rates_of("y2")]
    expect = curvature_errors(loglik, x0, 1e-4 * np.maximum(np.abs(x0), 1e-2))
    got = np.r_[se[(se.node == "z") & (se.state == "c0")].se,
                se[se.node == "y1"].se, se[se.node == "y2"].se]
    np.testing.assert_allclose(got, expect, rtol=2e-3)



def test_standard_errors_with_a_rate_at_zero_warn_once_and_keep_node_order():
    rng = np.random.default_rng(0)
    g = rng.choice(["a", "b"], 200)
    df = pd.DataFrame({"g": g, "y": np.where(g == "a", 0, rng.poisson(2, 200)).astype(str),
                       "f": rng.choice(["p", "q"], 200)})
    net = bnem.BayesianNetwork({"g": ["a", "b"], "y": bnem.count_states(10), "f": ["p", "q"]},
                               {"y": ["g"]}).poisson("y")
    fitted = bnem.fit(net, df).network
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        se = bnem.standard_errors(fitted, df)
    kinds = {type(w.message).__name__ for w in caught}
    assert kinds == {"DegenerateWarning"}, kinds          # no raw numpy warning
    assert "Poisson rate" in str(caught[0].message)
    assert list(dict.fromkeys(se.node)) == ["g", "y", "f"]
    rates = se[se.node == "y"]
    assert np.isnan(rates.se.iloc[0]) and rates.se.iloc[1] > 0


def test_standard_errors_of_shared_rates_equal_the_log_likelihood_s_curvature():
    net = bnem.BayesianNetwork({"z": ["a", "b"], "y1": bnem.count_states(30),
                                "y2": bnem.count_states(30)},
                               {"y1": ["z"], "y2": ["z"]}).share("em", ["y1", "y2"]).poisson("y1")
    truth_ = net.with_cpds({"z": [0.4, 0.6]}).poisson("y1", rates=[2.0, 8.0])
    df = truth_.sample(500, seed=1, missing=0.1).drop(columns="z")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = bnem.fit(net, df, seed=0, n_init=3, tol=1e-12).network
    se = bnem.standard_errors(fitted, df)

    def loglik(x):  # one rate per class for both members
        return fitted.with_cpds({"z": [x[0], 1 - x[0]]}).poisson("y1", rates=x[1:3]) \
            .log_likelihood(df)

    x0 = np.r_[fitted.cpd("z").values[0], fitted.rates_of("y1")]
    expect = curvature_errors(loglik, x0, 1e-4 * np.maximum(np.abs(x0), 1e-2))
    for node in ("y1", "y2"):  # each member shows the block's rates and errors
        got = np.r_[se[(se.node == "z") & (se.state == "a")].se, se[se.node == node].se]
        np.testing.assert_allclose(got, expect, rtol=2e-3)
