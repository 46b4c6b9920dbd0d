"""EM: closed-form checks, hand-countable expectations, options, errors, monotonicity."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bnem
from bnem.em import mstep
from conftest import assert_monotone, load


def _mle(net, df, prior=0.0):
    """Closed-form MLE / Dirichlet-MAP from a complete table, by counting with pandas."""
    out = {}
    for node in net.nodes:
        parents = list(net.parents(node))
        shape = [len(net.states(p)) for p in parents] + [len(net.states(node))]
        counts = np.zeros(shape)
        codes = {c: pd.Categorical(df[c], categories=net.states(c)).codes for c in parents + [node]}
        grouped = pd.DataFrame(codes).value_counts()
        for key, n in grouped.items():
            key = key if isinstance(key, tuple) else (key,)
            counts[key] += n
        counts += prior
        totals = counts.sum(-1, keepdims=True)
        out[node] = np.where(totals > 0, counts / np.where(totals > 0, totals, 1), 1 / shape[-1])
    return out


@pytest.mark.parametrize("prior", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("name", ["asia", "child"])
def test_one_step_on_complete_data_is_closed_form(name, prior):
    net = load(name)
    df = net.sample(3000, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.DegenerateWarning)
        warnings.simplefilter("ignore", bnem.ConvergenceWarning)
        res = bnem.fit(net, df, max_iter=1, seed=1, prior=prior)
    assert_monotone(res)
    expected = _mle(net, df, prior)
    for node in net.nodes:
        np.testing.assert_allclose(res.network.cpd(node).values, expected[node], atol=1e-12)
    assert res.n_iter == 1


def test_hand_countable_expected_counts():
    # A -> B; P(A) = (0.25, 0.75); P(B | A=a0) = (0.5, 0.5), P(B | A=a1) = (0.1, 0.9)
    net = bnem.BayesianNetwork({"A": ["a0", "a1"], "B": ["b0", "b1"]}, {"B": ["A"]},
                               {"A": [0.25, 0.75], "B": [[0.5, 0.5], [0.1, 0.9]]})
    df = pd.DataFrame({"A": [np.nan, "a0", np.nan], "B": ["b0", "b1", np.nan]})
    # row 0: P(A | B=b0) = (0.125, 0.075) / 0.2 = (0.625, 0.375)
    # row 1: complete; row 2: nothing observed: P(A, B) = prior joint
    res = bnem.fit(net, df, max_iter=1, init="network", accelerate="none")  # one EM step
    n_a = np.array([0.625 + 1 + 0.25, 0.375 + 0 + 0.75])
    n_b = np.array([[0.625 + 0.125, 1 + 0.125], [0.375 + 0.075, 0.675]])
    np.testing.assert_allclose(res.network.cpd("A").values, n_a / 3, atol=1e-12)
    np.testing.assert_allclose(res.network.cpd("B").values, n_b / n_b.sum(1, keepdims=True),
                               atol=1e-12)
    ll0 = np.log(0.2) + np.log(0.25 * 0.5) + 0.0
    assert res.history["log_likelihood"].iloc[0] == pytest.approx(ll0, abs=1e-12)
    assert_monotone(res)


def test_history_columns_and_final_estep():
    net = load("asia")
    df = net.sample(2000, seed=1, missing=0.3)
    res = bnem.fit(net, df, max_iter=50, tol=1e-7, seed=3, accelerate="none")
    assert list(res.history.columns) == ["iteration", "log_likelihood", "delta", "seconds"]
    fast = bnem.fit(net, df, max_iter=50, tol=1e-7, seed=3)  # default: SQUAREM
    assert list(fast.history.columns) == ["iteration", "log_likelihood", "delta", "seconds",
                                          "n_estep", "step"]
    assert fast.n_estep == fast.history["n_estep"].iloc[-1] == 3 * fast.n_iter + 1
    assert res.history["iteration"].tolist() == list(range(res.n_iter + 1))
    # the reported log-likelihood belongs to the returned parameters
    assert res.log_likelihood == pytest.approx(res.network.log_likelihood(df), rel=1e-12)
    assert res.log_likelihood == res.history["log_likelihood"].iloc[-1]
    assert res.converged
    assert_monotone(res)


def test_map_history_shows_log_posterior_and_is_monotone():
    net = load("child")
    df = net.sample(1000, seed=2, missing=0.3, hide=["Disease"])
    res = bnem.fit(net, df, max_iter=30, prior=1.0, seed=0, tol=1e-8)
    assert "log_posterior" in res.history
    assert_monotone(res)
    lp = res.history["log_posterior"] - res.history["log_likelihood"]
    assert (lp < 0).all()  # the prior term of a Dirichlet(2) density at interior points


@pytest.mark.parametrize("init", ["random", "uniform", "network", "complete-case"])
def test_every_init_runs_and_is_monotone(init):
    net = load("asia")
    df = net.sample(1500, seed=8, missing=0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.DegenerateWarning)
        res = bnem.fit(net, df, init=init, max_iter=100, tol=1e-6, prior=0.01)
    assert_monotone(res)
    assert np.isfinite(res.log_likelihood)


def test_same_seed_same_result_and_seeds_differ():
    net = load("survey")
    df = net.sample(800, seed=5, missing=0.3)
    a = bnem.fit(net, df, seed=11, max_iter=5)
    b = bnem.fit(net, df, seed=11, max_iter=5)
    c = bnem.fit(net, df, seed=12, max_iter=5)
    for r in (a, b, c):
        assert_monotone(r)
    assert a.history["log_likelihood"].tolist() == b.history["log_likelihood"].tolist()
    assert a.history["log_likelihood"].iloc[0] != c.history["log_likelihood"].iloc[0]


def test_restarts_keep_the_best():
    net = load("child")
    df = net.sample(600, seed=9, hide=["Disease", "LungParench"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bnem.fit(net, df, n_init=3, max_iter=15, seed=0)
    assert len(res.restarts) == 3
    assert res.log_likelihood == pytest.approx(res.restarts["log_likelihood"].max())
    assert_monotone(res)


def test_convergence_warning_at_max_iter():
    net = load("alarm")
    df = net.sample(500, seed=3, missing=0.3)
    with pytest.warns(bnem.ConvergenceWarning, match="max_iter=2"):
        res = bnem.fit(net, df, max_iter=2, tol=0.0)
    assert not res.converged and res.n_iter == 2
    assert_monotone(res)


def test_callback_can_stop_and_sees_every_iteration():
    net = load("asia")
    df = net.sample(500, seed=3, missing=0.3)
    seen = []

    def cb(p):
        seen.append(p.iteration)
        return p.iteration == 3

    res = bnem.fit(net, df, max_iter=100, callback=cb)
    assert seen == [0, 1, 2, 3] and res.n_iter == 3
    assert_monotone(res)


@pytest.mark.slow
def test_chunking_does_not_change_the_answer(monkeypatch):
    from bnem.inference import budget
    net = load("asia")
    df = net.sample(700, seed=3, missing=0.4)
    a = bnem.fit(net, df, max_iter=10, seed=1)
    with pytest.warns(DeprecationWarning, match="chunk_rows is deprecated"):
        b = bnem.fit(net, df, max_iter=10, seed=1, chunk_rows=7)
    monkeypatch.setattr(budget, "MIN_CHUNK_WORDS", 400)  # chunks of a few dozen rows
    c = bnem.fit(net, df, max_iter=10, seed=1, memory_mb=0.01)  # and all re-analysed
    np.testing.assert_allclose(a.history["log_likelihood"], c.history["log_likelihood"],
                               rtol=1e-12)
    for r in (a, b, c):
        assert_monotone(r)
    np.testing.assert_allclose(a.history["log_likelihood"], b.history["log_likelihood"],
                               rtol=1e-12)
    np.testing.assert_allclose(a.network.flat_params(), b.network.flat_params(), atol=1e-12)


def test_impossible_row_names_the_row():
    net = bnem.BayesianNetwork({"A": ["a0", "a1"], "B": ["b0", "b1"]}, {"B": ["A"]},
                               {"A": [1.0, 0.0], "B": [[0.5, 0.5], [0.1, 0.9]]})
    df = pd.DataFrame({"A": ["a0", "a1", np.nan], "B": ["b0", "b1", "b1"]},
                      index=["r1", "r2", "r3"])
    with pytest.raises(bnem.ImpossibleRowError, match=r"row 'r2' \(A='a1', B='b1'\)"):
        bnem.fit(net, df, init="network")
    df2 = pd.DataFrame({"A": [np.nan, np.nan], "B": ["b0", "b1"]})
    net2 = net.with_cpds({"B": [[1.0, 0.0], [1.0, 0.0]]})
    with pytest.raises(bnem.ImpossibleRowError, match=r"row 1 \(A=missing, B='b1'\)"):
        bnem.fit(net2, df2, init="network")


def test_zero_count_configurations_are_uniform_and_reported():
    net = bnem.BayesianNetwork({"A": ["a0", "a1"], "B": ["b0", "b1", "b2"]}, {"B": ["A"]})
    df = pd.DataFrame({"A": ["a0"] * 5, "B": ["b0", "b1", "b1", "b2", np.nan]})
    with pytest.warns(bnem.DegenerateWarning, match="zero expected count"):
        res = bnem.fit(net, df, max_iter=20)
    assert res.empty_configurations == [("B", {"A": "a1"})]
    np.testing.assert_allclose(res.network.cpd("B").values[1], [1 / 3] * 3)
    assert not np.isnan(res.network.flat_params()).any()
    assert_monotone(res)


def test_a_decrease_is_reported_as_a_bug(monkeypatch):
    net = load("asia")
    df = net.sample(300, seed=3, missing=0.3)
    real = mstep.Maximizer.maximize
    calls = {"n": 0}

    def sabotaged(self, counts, prior=0.0, current=None):
        calls["n"] += 1
        theta, empty = real(self, counts, prior, current)
        # call 1 builds the uniform start, call 2 is the first M-step; the second
        # M-step (call 3) returns the flat start again, which is worse
        if calls["n"] == 3:
            theta, _ = real(self, np.ones_like(counts))
        return theta, empty

    monkeypatch.setattr(mstep.Maximizer, "maximize", sabotaged)
    with pytest.raises(bnem.MonotonicityError, match="decreased at iteration 2"):
        bnem.fit(net, df, max_iter=10, init="uniform", accelerate="none")


@pytest.mark.parametrize("kwargs, match", [
    ({"max_iter": -1}, "max_iter must be >= 0"),
    ({"max_iter": 2.5}, "max_iter must be an integer"),
    ({"tol": -1.0}, "tol must be >= 0"),
    ({"prior": float("nan")}, "prior must be finite"),
    ({"init": "bogus"}, "init must be one of"),
    ({"init": "kmeans"}, "places Gaussian components"),
    ({"n_init": 0}, "n_init must be >= 1"),
    ({"n_init": 2, "init": "uniform"}, "need a random start"),
    ({"callback": 3}, "callback must be callable"),
])
def test_bad_arguments(kwargs, match):
    net = load("asia")
    df = net.sample(50, seed=1)
    with pytest.raises((ValueError, TypeError), match=match):
        bnem.fit(net, df, **kwargs)


def test_fit_rejects_non_network():
    with pytest.raises(TypeError, match="network must be a bnem.BayesianNetwork"):
        bnem.fit("asia.bif", pd.DataFrame({"a": [1]}))


def _mean_kl(true, learned, weights_df):
    """Mean over CPDs of KL(true || learned), parent configurations weighted by P_true(u)."""
    kls = []
    for node in true.nodes:
        p = true.cpd(node).values
        q = learned.cpd(node).values
        parents = list(true.parents(node))
        card = p.shape[-1]
        pp = p.reshape(-1, card)
        qq = q.reshape(-1, card)
        if parents:
            cfg = weights_df[parents].apply(lambda c: pd.Categorical(
                c, categories=true.states(c.name)).codes)
            idx = np.ravel_multi_index(tuple(cfg.to_numpy().T), p.shape[:-1])
            w = np.bincount(idx, minlength=pp.shape[0]) / len(idx)
        else:
            w = np.ones(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(pp > 0, pp * (np.log(pp) - np.log(qq)), 0.0).sum(1)
        kls.append(float(w @ terms))
    return float(np.mean(kls))


@pytest.mark.slow
def test_recovery_of_alarm_from_20_percent_missing():
    true = load("alarm")
    complete = true.sample(20_000, seed=21)
    rng = np.random.default_rng(22)
    holes = complete.copy()
    for c in holes.columns:
        holes.loc[rng.random(len(holes)) < 0.2, c] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.DegenerateWarning)
        res_missing = bnem.fit(true, holes, max_iter=300, tol=1e-7, seed=0, prior=1e-3)
        res_full = bnem.fit(true, complete, max_iter=1, seed=0, prior=1e-3)
    assert_monotone(res_missing)
    assert_monotone(res_full)
    big = true.sample(200_000, seed=23)  # for the weights P_true(u)
    kl_missing = _mean_kl(true, res_missing.network, big)
    kl_full = _mean_kl(true, res_full.network, big)
    # a statistical bound: 0.00089 against 1.5 x 0.00059 with SQUAREM (the default), whose
    # optimum has the higher log-posterior (-183398.935 against plain EM's -183398.950)
    assert kl_missing <= 1.6 * kl_full, (kl_missing, kl_full)


def test_log_space_path_gives_the_same_fit(monkeypatch):
    """EM through the log-space fallback (forced) equals the fast linear path."""
    from bnem.inference import engine
    net = load("child")
    df = net.sample(400, seed=3, missing=0.3, hide=["Disease"])
    a = bnem.fit(net, df, max_iter=5, seed=2)
    monkeypatch.setattr(engine, "LINEAR_FLOOR", np.inf)
    b = bnem.fit(net, df, max_iter=5, seed=2)
    assert_monotone(a)
    assert_monotone(b)
    np.testing.assert_allclose(a.history["log_likelihood"], b.history["log_likelihood"],
                               rtol=1e-12)
    np.testing.assert_allclose(a.network.flat_params(), b.network.flat_params(), atol=1e-12)


def test_posterior_of_an_impossible_row_is_an_error():
    net = load("asia")
    df = net.sample(50, seed=0, missing=0.4).astype(object)
    df.loc[20, ["tub", "lung", "either"]] = ["no", "no", "yes"]  # either = tub or lung
    assert np.isneginf(net.log_prob(df)[20])
    with pytest.raises(bnem.ImpossibleRowError, match="row 20"):
        net.posterior(df.assign(xray=np.nan), "xray")


def test_complete_case_start_breaks_the_symmetry_of_latent_nodes():
    truth = bnem.BayesianNetwork(
        {"H": ["a", "b"], **{f"x{i}": ["0", "1"] for i in range(4)}},
        {f"x{i}": ["H"] for i in range(4)},
        {"H": [0.4, 0.6], **{f"x{i}": [[0.9, 0.1], [0.2, 0.8]] for i in range(4)}})
    df = truth.sample(2000, seed=1, hide=["H"])
    cc = bnem.fit(truth, df, init="complete-case", seed=0, max_iter=300)
    rnd = bnem.fit(truth, df, init="random", seed=0, max_iter=300)
    assert_monotone(cc)
    assert cc.log_likelihood == pytest.approx(rnd.log_likelihood, rel=1e-6)
    tables = cc.network.cpd("x0").values
    assert abs(tables[0, 0] - tables[1, 0]) > 0.5  # the two classes differ


@pytest.mark.slow
def test_compact_chunks_give_the_same_fit():
    """Chunks kept in compact form (expanded at every E-step) change nothing."""
    from bnem.inference import budget
    from bnem.inference.compact import compact
    from bnem.inference.dataset import AnalysedData
    from bnem.network.parameters import Parameters
    net = load("alarm")
    df = net.sample(600, seed=3, missing=0.3)
    compiled = bnem.compile(net)
    full = AnalysedData(compiled, df, budget.MemoryBudget(1e6, chunk_rows=100))
    assert full.n_compact == 0 and full.n_streamed == 0 and full.n_chunks == 6
    small_mb = sum(compact(full.chunk(k)).nbytes for k in range(full.n_chunks)) / 2 ** 20
    squeezed = AnalysedData(compiled, df, budget.MemoryBudget(small_mb * 1.01, chunk_rows=100))
    assert squeezed.n_chunks == full.n_chunks and squeezed.n_streamed == 0
    assert squeezed.n_compact >= full.n_chunks - 1
    theta = Parameters.of(net)
    e1, e2 = full.stats(theta), squeezed.stats(theta)
    np.testing.assert_allclose(e1.counts, e2.counts, rtol=1e-12, atol=1e-12)
    assert e1.log_likelihood == pytest.approx(e2.log_likelihood, rel=1e-13)
    with pytest.warns(DeprecationWarning, match="cache_mb is deprecated"), \
            pytest.warns(DeprecationWarning, match="chunk_rows is deprecated"):
        a = bnem.fit(net, df, max_iter=4, seed=0, chunk_rows=100, cache_mb=small_mb * 1.01)
    with pytest.warns(DeprecationWarning, match="chunk_rows is deprecated"):
        b = bnem.fit(net, df, max_iter=4, seed=0, chunk_rows=100)
    assert_monotone(a)
    np.testing.assert_allclose(a.history["log_likelihood"], b.history["log_likelihood"],
                               rtol=1e-12)


def test_hard_em_refuses_a_start_that_makes_an_observed_row_impossible():
    """Hard EM, like soft EM, names a fully observed row that the start gives
    probability zero (it used to start at -inf and go on)."""
    net = load("asia")
    df = net.sample(200, seed=1)
    df.loc[0, ["either", "lung", "tub"]] = ["yes", "no", "no"]  # 'either' is 'or': impossible
    df.loc[1:40, "asia"] = np.nan
    for hard in (False, True):
        with pytest.raises(bnem.ImpossibleRowError, match="row 0 .* probability zero"):
            bnem.fit(net, df, init="network", hard=hard)
    assert np.isfinite(bnem.fit(net, df, init="uniform", hard=True).log_likelihood)
