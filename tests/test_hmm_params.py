"""HiddenMarkovModel: full-covariance Gaussian emissions and hmmlearn's init_params /
params, against an independent numpy forward algorithm and Baum-Welch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import bnem
from bnem.errors import BnemValueError

MEANS = np.array([[0.0, 0.0, 0.0], [4.0, 4.0, -4.0]])
COVS = np.array([[[1.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 1.0]],
                 [[2.0, -0.5, 0.0], [-0.5, 1.0, 0.0], [0.0, 0.0, 0.5]]])


def _sample(n, seed, missing=0.0, apart=1.0):
    rng = np.random.default_rng(seed)
    state = [0]
    for _ in range(n - 1):
        state.append(state[-1] if rng.random() < 0.9 else 1 - state[-1])
    X = np.array([rng.multivariate_normal(MEANS[s] * apart, COVS[s]) for s in state])
    X[rng.random(X.shape) < missing] = np.nan
    return X


def _log_emissions(X, means, covs):
    """log N(x_obs; mu_obs, Sigma_obs) per step and state: missing dimensions
    marginalised by dropping them."""
    out = np.zeros((len(X), len(means)))
    for t, x in enumerate(X):
        seen = ~np.isnan(x)
        for k in range(len(means)):
            if seen.any():
                out[t, k] = multivariate_normal(means[k][seen],
                                                covs[k][np.ix_(seen, seen)]).logpdf(x[seen])
    return out


def _forward(X, lengths, start, trans, means, covs):
    return _chain_forward(_log_emissions(X, means, covs), lengths, start, trans)


def _chain_forward(emit, lengths, start, trans):
    """The forward algorithm over log emissions ``(steps, states)``, in log space."""
    total, at = 0.0, 0
    with np.errstate(divide="ignore"):       # a start probability of 0 is -inf
        log_start, log_trans = np.log(start), np.log(trans)
    for n in lengths:
        a = log_start + emit[at]
        for t in range(1, n):
            a = logsumexp(a[:, None] + log_trans, axis=0) + emit[at + t]
        total += logsumexp(a)
        at += n
    return total


def _baum_welch(X, lengths, start, trans, means, covs, iterations):
    """Textbook Baum-Welch with full covariances (no missing cells), log space."""
    k = len(start)
    history = []
    for _ in range(iterations):
        emit = _log_emissions(X, means, covs)
        gammas, xi, first, ll, at = [], np.zeros((k, k)), np.zeros(k), 0.0, 0
        for n in lengths:
            e = emit[at:at + n]
            la = np.zeros((n, k))
            lb = np.zeros((n, k))
            la[0] = np.log(start) + e[0]
            for t in range(1, n):
                la[t] = logsumexp(la[t - 1][:, None] + np.log(trans), axis=0) + e[t]
            for t in range(n - 2, -1, -1):
                lb[t] = logsumexp(np.log(trans) + (e[t + 1] + lb[t + 1])[None, :], axis=1)
            z = logsumexp(la[-1])
            ll += z
            g = np.exp(la + lb - z)
            gammas.append(g)
            first += g[0]
            for t in range(1, n):
                xi += np.exp(la[t - 1][:, None] + np.log(trans) + (e[t] + lb[t])[None, :] - z)
            at += n
        history.append(ll)
        g = np.concatenate(gammas)
        start = first / first.sum()
        trans = xi / xi.sum(axis=1, keepdims=True)
        w = g.sum(axis=0)
        means = (g.T @ X) / w[:, None]
        covs = np.stack([((X - means[s]).T * g[:, s]) @ (X - means[s]) / w[s] for s in range(k)])
    return np.array(history), start, trans, means, covs


def _quiet_fit(model, X, lengths):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, lengths)


def _chain_cpds(means, covs):
    """Each column's regression on the earlier ones, per state (the test's own)."""
    k, d = means.shape
    out = {}
    for j in range(d):
        b0, w, var = np.zeros(k), np.zeros((k, j)), np.zeros(k)
        for s in range(k):
            beta = np.linalg.lstsq(covs[s][:j, :j], covs[s][:j, j], rcond=None)[0] if j \
                else np.zeros(0)
            w[s], b0[s] = beta, means[s, j] - beta @ means[s, :j]
            var[s] = covs[s][j, j] - covs[s][:j, j] @ beta
        out[f"x{j}"] = {"intercept": b0, "weights": w, "variance": var}
    return out


@pytest.mark.parametrize("chained", [False, True])
def test_full_covariance_iterations_equal_baum_welch(chained):
    """The estimator's full-covariance network, from one start, plain EM: every
    iteration's log-likelihood equals a textbook full-covariance Baum-Welch, chained or
    unrolled (sequences of one length: an unrolled network's padding slices of Gaussian
    nodes would add expected moments that slow EM without moving its fixed points)."""
    X, lengths = _sample(80, 0, apart=0.3), [40, 40]    # overlapping states: many steps
    start = np.array([0.6, 0.4])
    trans = np.array([[0.7, 0.3], [0.2, 0.8]])
    means, covs = MEANS * 0.3 + 0.5, COVS * 1.5
    hmm = bnem.HiddenMarkovModel(2, emission="gaussian", covariance_type="full",
                                 init_params="", inference="chain" if chained else "unroll",
                                 max_iter=1)
    hmm.startprob_, hmm.transmat_, hmm.means_, hmm.covars_ = start, trans, means, covs
    _quiet_fit(hmm, X, lengths)                       # builds the network and its start
    net = hmm.network_ if chained else hmm._network(2, 40)
    emissions = _chain_cpds(means, covs)
    cpds = {}
    for node in net.nodes:
        name, t = node.rsplit("[", 1)
        cpds[node] = (start if t == "0]" else trans) if name == "state" else emissions[name]
    net = net.with_cpds(cpds)
    import pandas as pd
    steps = pd.DataFrame(X, columns=["x0", "x1", "x2"])
    data = bnem.Sequences(steps, lengths=lengths) if chained else \
        bnem.sequence_rows(steps, lengths=lengths)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bnem.fit(net, data, init="network", accelerate="none", max_iter=6, tol=0)
    got = res.history["log_likelihood"].to_numpy()
    assert got.size == 7
    want, _, _, want_means, want_covs = _baum_welch(X, lengths, start, trans, means, covs, 6)
    np.testing.assert_allclose(got[:6], want, rtol=1e-11)
    hmm.network_ = res.network
    hmm._set_parameters()                   # the regressions back to means and covariances
    np.testing.assert_allclose(hmm.means_, want_means, rtol=1e-9)
    np.testing.assert_allclose(hmm.covars_, want_covs, rtol=1e-9)


@pytest.mark.parametrize("inference", ["unroll", "chain"])
def test_full_covariance_plain_em_and_score_with_missing_cells(inference):
    X, lengths = _sample(60, 1, missing=0.15), [35, 25]
    hmm = bnem.HiddenMarkovModel(2, emission="gaussian", covariance_type="full",
                                 random_state=0, inference=inference, n_init=2)
    _quiet_fit(hmm, X, lengths)
    assert hmm.covars_.shape == (2, 3, 3) and hmm.means_.shape == (2, 3)
    want = _forward(X, lengths, hmm.startprob_, hmm.transmat_, hmm.means_, hmm.covars_)
    assert hmm.score(X, lengths) == pytest.approx(want, rel=1e-10)
    assert hmm.log_likelihood_ == pytest.approx(want, rel=1e-8)
    for s in range(2):
        assert np.all(np.linalg.eigvalsh(hmm.covars_[s]) > 0)


def test_init_params_and_params_as_hmmlearn():
    rng = np.random.default_rng(3)
    X = rng.choice(["a", "b", "c"], size=(120, 1)).astype(object)
    X[rng.random(120) < 0.1, 0] = None
    emit = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    hmm = bnem.HiddenMarkovModel(2, init_params="st", params="st", random_state=0)
    hmm.emissionprob_ = {"x0": emit}
    _quiet_fit(hmm, X, [60, 60])
    np.testing.assert_array_equal(hmm.emissionprob_["x0"].to_numpy(), emit)  # held
    assert not np.allclose(hmm.transmat_, 0.5)
    # the same through inference="chain"
    chained = bnem.HiddenMarkovModel(2, init_params="st", params="st", random_state=0,
                                     inference="chain")
    chained.emissionprob_ = {"x0": emit}
    _quiet_fit(chained, X, [60, 60])
    assert chained.log_likelihood_ == pytest.approx(hmm.log_likelihood_, rel=1e-9)
    # only transitions learned, from given start and transitions
    given = bnem.HiddenMarkovModel(2, init_params="", params="t")
    given.startprob_, given.transmat_ = np.array([0.5, 0.5]), np.array([[0.9, 0.1], [0.1, 0.9]])
    given.emissionprob_ = {"x0": emit}
    _quiet_fit(given, X, [60, 60])
    np.testing.assert_array_equal(given.startprob_, [0.5, 0.5])
    np.testing.assert_array_equal(given.emissionprob_["x0"].to_numpy(), emit)
    # Poisson rates given
    counts = rng.poisson(np.where(rng.random(200) < 0.5, 2.0, 9.0))[:, None]
    pois = bnem.HiddenMarkovModel(2, emission="poisson", init_params="st", params="st",
                                  random_state=0)
    pois.lambdas_ = np.array([[2.0], [9.0]])
    _quiet_fit(pois, counts, [200])
    np.testing.assert_allclose(pois.lambdas_, [[2.0], [9.0]], rtol=1e-12)


def test_init_params_and_params_errors():
    X = np.array([["a"], ["b"], ["a"]], dtype=object)
    with pytest.raises(BnemValueError, match="letters among 'ste'"):
        bnem.HiddenMarkovModel(2, params="stx").fit(X)
    with pytest.raises(BnemValueError, match="set transmat_ before fit"):
        bnem.HiddenMarkovModel(2, init_params="se").fit(X)
    with pytest.raises(BnemValueError, match="give both 'm' and 'c' or neither"):
        bnem.HiddenMarkovModel(2, emission="gaussian", params="stm").fit(np.ones((4, 1)))
    bad = bnem.HiddenMarkovModel(2, init_params="e")
    bad.startprob_, bad.transmat_ = np.array([0.5, 0.5]), np.ones((3, 3)) / 3
    with pytest.raises(BnemValueError, match=r"transmat_ must be finite numbers of shape \(2, 2\)"):
        bad.fit(X)
    full = bnem.HiddenMarkovModel(2, emission="gaussian", covariance_type="full",
                                  init_params="st")
    full.means_ = np.zeros((2, 2))
    full.covars_ = np.array([[[1.0, 2.0], [2.0, 1.0]]] * 2)   # not positive definite
    with pytest.raises(BnemValueError, match="positive definite"):
        full.fit(np.random.default_rng(0).normal(size=(10, 2)))
    with pytest.raises(BnemValueError, match="covariance_type"):
        bnem.HiddenMarkovModel(2, emission="gaussian", covariance_type="tied").fit(np.ones((4, 1)))


def test_queries_of_an_unrolled_full_covariance_model_run_over_the_chain():
    """A model fitted unrolled answers score, predict_proba and decode by forward-backward
    over its two slices: equal to the same parameters fitted chained, and the score to
    an independent forward algorithm."""
    X, lengths = _sample(40, 2, missing=0.1), [20, 20]
    a = _quiet_fit(bnem.HiddenMarkovModel(2, emission="gaussian", covariance_type="full",
                                          random_state=0, inference="unroll"), X, lengths)
    b = bnem.HiddenMarkovModel(2, emission="gaussian", covariance_type="full", init_params="",
                               params="", inference="chain", max_iter=1)
    b.startprob_, b.transmat_, b.means_, b.covars_ = a.startprob_, a.transmat_, a.means_, a.covars_
    _quiet_fit(b, X, lengths)
    assert a.score(X, lengths) == pytest.approx(b.score(X, lengths), rel=1e-12)
    assert a.score(X, lengths) == pytest.approx(
        _forward(X, lengths, a.startprob_, a.transmat_, a.means_, a.covars_), rel=1e-10)
    np.testing.assert_allclose(a.predict_proba(X, lengths), b.predict_proba(X, lengths),
                               atol=1e-12)
    np.testing.assert_array_equal(a.predict(X, lengths), b.predict(X, lengths))


def _gmm_forward(X, lengths, start, trans, weights, means, variances):
    """The forward algorithm with a mixture of diagonal Gaussians per state, missing
    dimensions dropped."""
    k, m, _ = means.shape
    emit = np.zeros((len(X), k))
    for t, x in enumerate(X):
        seen = ~np.isnan(x)
        for s in range(k):
            terms = [np.log(weights[s, j]) + np.sum(-0.5 * np.log(2 * np.pi * variances[s, j, seen])
                                                     - 0.5 * (x[seen] - means[s, j, seen]) ** 2
                                                     / variances[s, j, seen])
                     for j in range(m)]
            emit[t, s] = logsumexp(terms)
    return _chain_forward(emit, lengths, start, trans)


def test_gmm_emissions_as_hmmlearn_gmmhmm():
    rng = np.random.default_rng(4)
    n = 300
    state = [0]
    for _ in range(n - 1):
        state.append(state[-1] if rng.random() < 0.9 else 1 - state[-1])
    state = np.array(state)
    centres = np.array([[[0.0, 0.0], [3.0, 0.0]], [[10.0, 10.0], [13.0, 10.0]]])
    X = centres[state, rng.integers(2, size=n)] + rng.normal(scale=0.5, size=(n, 2))
    X[rng.random(X.shape) < 0.05] = np.nan
    lengths = [150, 150]
    hmm = bnem.HiddenMarkovModel(2, emission="gmm", n_mix=2, init_params="", random_state=0)
    hmm.startprob_, hmm.transmat_ = np.array([0.5, 0.5]), np.array([[0.8, 0.2], [0.2, 0.8]])
    hmm.weights_ = np.full((2, 2), 0.5)
    hmm.means_ = centres + 0.7
    hmm.covars_ = np.ones((2, 2, 2))
    _quiet_fit(hmm, X, lengths)
    assert hmm.weights_.shape == (2, 2) and hmm.means_.shape == (2, 2, 2)
    assert hmm.covars_.shape == (2, 2, 2)
    np.testing.assert_allclose(hmm.means_, centres, atol=0.2)      # recovered from near
    np.testing.assert_allclose(hmm.transmat_, [[0.9, 0.1], [0.1, 0.9]], atol=0.06)
    want = _gmm_forward(X, lengths, hmm.startprob_, hmm.transmat_, hmm.weights_, hmm.means_,
                        hmm.covars_)
    assert hmm.score(X, lengths) == pytest.approx(want, rel=1e-10)
    assert hmm.log_likelihood_ == pytest.approx(want, rel=1e-8)
    assert np.mean(hmm.predict(X, lengths) == state) > 0.95
    held = bnem.HiddenMarkovModel(2, emission="gmm", n_mix=2, init_params="", params="st")
    held.startprob_, held.transmat_ = hmm.startprob_, hmm.transmat_
    held.weights_, held.means_, held.covars_ = hmm.weights_, hmm.means_, hmm.covars_
    _quiet_fit(held, X, lengths)
    np.testing.assert_array_equal(held.weights_, hmm.weights_)
    np.testing.assert_array_equal(held.means_, hmm.means_)
    with pytest.raises(BnemValueError, match="covariance_type='diag'"):
        bnem.HiddenMarkovModel(2, emission="gmm", covariance_type="full").fit(X, lengths)


def _categorical_forward(codes, lengths, start, trans, emit):
    total, at = 0.0, 0
    for n in lengths:
        a = start * emit[:, codes[at]]
        total += np.log(a.sum())
        a /= a.sum()
        for t in range(1, n):
            a = (a @ trans) * emit[:, codes[at + t]]
            total += np.log(a.sum())
            a /= a.sum()
        at += n
    return total


def test_second_review_findings_stay_fixed():
    # integer codes are hmmlearn's symbols in code order, unseen ones included
    n = 11
    emit = np.full((2, n), 0.01)
    emit[:, 10] = 0.9
    emit /= emit.sum(axis=1, keepdims=True)
    codes = np.r_[np.arange(n), [10, 10, 1, 10]]
    held = bnem.HiddenMarkovModel(2, init_params="", params="")
    held.startprob_, held.transmat_ = np.array([0.5, 0.5]), np.full((2, 2), 0.5)
    held.emissionprob_ = emit
    _quiet_fit(held, codes[:, None], [len(codes)])
    assert list(held.emissionprob_["x0"].columns) == [str(i) for i in range(n)]
    probe = np.array([10, 10, 1, 10])
    assert held.score(probe[:, None]) == pytest.approx(
        _categorical_forward(probe, [4], held.startprob_, held.transmat_, emit), rel=1e-12)
    # a labelled emissionprob_ is aligned by its labels
    labelled = bnem.HiddenMarkovModel(2, init_params="", params="")
    labelled.startprob_, labelled.transmat_ = np.array([0.5, 0.5]), np.full((2, 2), 0.5)
    import pandas as pd
    labelled.emissionprob_ = {"x0": pd.DataFrame([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]],
                                                 columns=["c", "b", "a"])}
    _quiet_fit(labelled, np.array([["a"], ["b"], ["c"]], dtype=object), [3])
    np.testing.assert_allclose(labelled.emissionprob_["x0"][["c", "b", "a"]].to_numpy(),
                               [[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]])
    assert not labelled.network_.fixed_nodes       # params holds during fit only
    # sequences of one step: the given transitions are kept (and used by score)
    X = np.random.default_rng(0).normal(size=(10, 1))
    one = bnem.HiddenMarkovModel(2, emission="gaussian", init_params="", params="",
                                 inference="unroll")
    one.startprob_, one.transmat_ = np.array([0.6, 0.4]), np.array([[0.8, 0.2], [0.3, 0.7]])
    one.means_, one.covars_ = np.array([[0.0], [3.0]]), np.ones((2, 1))
    _quiet_fit(one, X, [1] * 10)
    np.testing.assert_array_equal(one.transmat_, [[0.8, 0.2], [0.3, 0.7]])
    # a failed refit leaves the fitted model as it was
    before = one.score(X, [10])
    with pytest.raises(BnemValueError):
        one.set_params(max_iter=-1).fit(X, [10])
    assert one.score(X, [10]) == before
    # the first partial_fit starts from the attributes and holds what params leaves out
    online = bnem.HiddenMarkovModel(2, emission="gaussian", init_params="", params="mc",
                                    random_state=0)
    online.startprob_, online.transmat_ = np.array([0.6, 0.4]), np.array([[0.8, 0.2], [0.3, 0.7]])
    online.means_, online.covars_ = np.zeros((2, 1)), np.ones((2, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        online.partial_fit(X, [5, 5])
    np.testing.assert_array_equal(online.startprob_, [0.6, 0.4])
    np.testing.assert_array_equal(online.transmat_, [[0.8, 0.2], [0.3, 0.7]])
    # auto: Gaussian emissions with sequences of different lengths run over two slices
    auto = _quiet_fit(bnem.HiddenMarkovModel(2, emission="gaussian", random_state=0,
                                             max_iter=3), X, [4, 6])
    assert auto.network_.nodes[-1] == "x0[1]"
    # clear errors
    bad = bnem.HiddenMarkovModel(2, init_params="e")
    bad.startprob_, bad.transmat_ = np.array([0.5, 0.6]), np.full((2, 2), 0.5)
    with pytest.raises(BnemValueError, match="startprob_ must hold probabilities"):
        bad.fit(np.array([["a"], ["b"]], dtype=object))
    skew = bnem.HiddenMarkovModel(2, emission="gaussian", covariance_type="full",
                                  init_params="st")
    skew.means_, skew.covars_ = np.zeros((2, 2)), np.array([[[1.0, 0.9], [0.0, 1.0]]] * 2)
    with pytest.raises(BnemValueError, match=r"covars_\[0\] is not symmetric"):
        skew.fit(np.random.default_rng(1).normal(size=(6, 2)))
    with pytest.raises(BnemValueError, match="named 'state'"):
        bnem.HiddenMarkovModel(2, emission="gaussian").fit(
            pd.DataFrame({"state": [1.0, 2.0], "b": [0.0, 1.0]}))
    with pytest.raises(BnemValueError, match="is for emission='gaussian'"):
        bnem.HiddenMarkovModel(2, covariance_type="full").fit(np.array([["a"]], dtype=object))


@pytest.mark.parametrize("emission", ["categorical", "gaussian-full", "gmm", "poisson"])
def test_sample_draws_from_the_fitted_model(emission):
    """hmmlearn's sample: the path's transitions and each state's emissions match the
    model's parameters within sampling error, and random_state reproduces a draw."""
    kind, _, full = emission.partition("-")
    hmm = bnem.HiddenMarkovModel(2, emission=kind, init_params="", params="",
                                 covariance_type="full" if full else "diag",
                                 **({"n_mix": 2} if kind == "gmm" else {}))
    hmm.startprob_, hmm.transmat_ = np.array([0.5, 0.5]), np.array([[0.9, 0.1], [0.2, 0.8]])
    if kind == "categorical":
        hmm.emissionprob_ = {"x0": np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]])}
        X0 = np.array([[0], [1], [2]])
    elif kind == "poisson":
        hmm.lambdas_ = np.array([[1.0], [8.0]])
        X0 = np.array([[0], [3], [9]])
    elif kind == "gmm":
        hmm.weights_ = np.array([[0.5, 0.5], [0.3, 0.7]])
        hmm.means_ = np.array([[[0.0, 0.0], [2.0, 2.0]], [[9.0, 9.0], [11.0, 11.0]]])
        hmm.covars_ = np.ones((2, 2, 2))
        X0 = np.zeros((3, 2))
    else:
        hmm.means_ = np.array([[0.0, 0.0], [5.0, 5.0]])
        hmm.covars_ = np.array([[[1.0, 0.5], [0.5, 1.0]], [[2.0, 0.0], [0.0, 1.0]]])
        X0 = np.zeros((3, 2))
    _quiet_fit(hmm, X0, [3])
    X, Z = hmm.sample(20000, random_state=0)
    again, _ = hmm.sample(20000, random_state=0)
    np.testing.assert_array_equal(X, again)
    trans = np.array([[np.mean(Z[1:][Z[:-1] == i] == j) for j in range(2)] for i in range(2)])
    np.testing.assert_allclose(trans, hmm.transmat_, atol=0.02)
    for s in range(2):
        x = X[Z == s]
        if kind == "categorical":
            freq = [np.mean(x[:, 0] == v) for v in range(3)]
            np.testing.assert_allclose(freq, hmm.emissionprob_["x0"].to_numpy()[s], atol=0.02)
        elif kind == "poisson":
            assert x.mean() == pytest.approx(hmm.lambdas_[s, 0], abs=0.1)
        elif kind == "gmm":
            np.testing.assert_allclose(x.mean(axis=0), hmm.weights_[s] @ hmm.means_[s], atol=0.1)
        else:
            np.testing.assert_allclose(x.mean(axis=0), hmm.means_[s], atol=0.06)
            np.testing.assert_allclose(np.cov(x.T.astype(float)), hmm.covars_[s], atol=0.08)


def test_min_variance_floors_the_emission_variances():
    rng = np.random.default_rng(5)
    X = np.r_[rng.normal(size=(40, 1)), np.zeros((5, 1))]   # a point mass invites collapse
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hmm = bnem.HiddenMarkovModel(3, emission="gaussian", random_state=0, n_init=3,
                                     min_variance=0.05).fit(X, [45])
    assert hmm.covars_.min() >= 0.05 * (1 - 1e-12)
    with pytest.raises(BnemValueError, match="min_variance"):
        bnem.HiddenMarkovModel(2, emission="gaussian", min_variance=-1.0).fit(X, [45])


def test_third_review_findings_stay_fixed():
    import pandas as pd
    from bnem.errors import ImpossibleRowError
    # a failed first partial_fit leaves no stale learner behind
    p = bnem.HiddenMarkovModel(2, random_state=0, init_params="st", params="st")
    p.emissionprob_ = {"x0": np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])}
    X = np.array([[0], [2], [1]])
    with pytest.raises(ImpossibleRowError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p.partial_fit(X)
    assert not hasattr(p, "online_") and not hasattr(p, "network_")
    p.emissionprob_ = {"x0": np.array([[0.4, 0.4, 0.2], [0.5, 0.3, 0.2]])}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p.partial_fit(X)
    # sample and the queries read network_, never edited attributes
    rng = np.random.default_rng(6)
    m = _quiet_fit(bnem.HiddenMarkovModel(2, emission="gaussian", random_state=0, n_init=1,
                                          max_iter=5, inference="unroll"),
                   rng.normal(size=(40, 1)), [20, 20])
    before = m.score(np.zeros((5, 1)))
    drawn = m.sample(50, random_state=1)
    m.means_, m.transmat_ = np.array([[100.0], [200.0]]), np.array([[0.0, 1.0], [1.0, 0.0]])
    assert m.score(np.zeros((5, 1))) == before
    np.testing.assert_array_equal(m.sample(50, random_state=1)[0], drawn[0])
    # refitting from a fitted labelled table on data with fewer symbols keeps its symbols
    codes = _quiet_fit(bnem.HiddenMarkovModel(2, random_state=0, n_init=1, max_iter=5),
                       rng.integers(0, 5, (100, 1)), [100])
    codes.set_params(init_params="st")
    _quiet_fit(codes, rng.integers(0, 3, (100, 1)), [100])
    assert list(codes.emissionprob_["x0"].columns) == ["0", "1", "2", "3", "4"]
    # sparse integer codes are the codes seen, in numeric order (not 0..max)
    ids = _quiet_fit(bnem.HiddenMarkovModel(2, random_state=0, n_init=1, max_iter=3),
                     np.array([[10001], [94105], [10001], [2]]), [4])
    assert list(ids.emissionprob_["x0"].columns) == ["2", "10001", "94105"]
    x, _ = ids.sample(10, random_state=0)
    assert x.dtype == np.int64
    # inference="unroll" is kept for sequences of one step
    one = _quiet_fit(bnem.HiddenMarkovModel(2, emission="gaussian", random_state=0,
                                            inference="unroll", max_iter=3),
                     rng.normal(size=(6, 1)), [1] * 6)
    assert one.network_.nodes[-1] == "x0[1]" and not one._chained
    # filtering posteriors are defined up to a sequence's first impossible step
    two = bnem.hidden_markov_network(2, {"y": ["a", "b", "c"]}, length=2).with_cpds(
        {"y[0]": [[0.5, 0.5, 0.0], [0.4, 0.6, 0.0]], "y[1]": [[0.5, 0.5, 0.0], [0.4, 0.6, 0.0]]})
    steps = pd.DataFrame({"y": ["a", "b", "a", "c"]})
    post, ll = bnem.forward_backward(two, bnem.Sequences(steps, lengths=[4]), filtered=True)
    head, _ = bnem.forward_backward(two, bnem.Sequences(steps.iloc[:3], lengths=[3]),
                                    filtered=True)
    assert np.isneginf(ll.iloc[0])
    np.testing.assert_allclose(post[["0", "1"]].to_numpy()[:3], head[["0", "1"]].to_numpy(),
                               rtol=1e-12)
    assert not post[["0", "1"]].to_numpy()[3].any()


def test_variance_prior_is_map_em_of_the_same_network():
    import pandas as pd
    rng = np.random.default_rng(8)
    X = np.r_[rng.normal(0, 1, (60, 2)), rng.normal(3, 0.5, (60, 2))]
    X[rng.random(X.shape) < 0.1] = np.nan
    start = dict(startprob_=np.array([0.6, 0.4]), transmat_=np.array([[0.8, 0.2], [0.3, 0.7]]),
                 means_=np.array([[0.5, 0.0], [2.0, 2.5]]), covars_=np.array([[1.0, 2.0],
                                                                              [0.5, 1.5]]))
    prior = dict(variance_prior=4.0, variance_scale=0.3)

    def model(max_iter, **kw):
        hmm = bnem.HiddenMarkovModel(2, emission="gaussian", init_params="", tol=0.0,
                                     max_iter=max_iter, inference="chain", **kw)
        for name, value in start.items():
            setattr(hmm, name, value)
        return _quiet_fit(hmm, X, [70, 50])

    first = model(0).network_  # the start, as the estimator's two-slice network
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = bnem.fit(first, bnem.Sequences(pd.DataFrame(X, columns=["x0", "x1"]),
                                                lengths=[70, 50]),
                          init="network", max_iter=6, tol=0.0, min_variance=1e-6, **prior)
    fitted = model(6, **prior)
    assert fitted.log_likelihood_ == pytest.approx(direct.log_likelihood, rel=1e-12)
    for node in first.continuous_nodes:
        np.testing.assert_allclose(fitted.network_.cpd(node).variance,
                                   direct.network.cpd(node).variance, rtol=1e-10)
    plain = model(6)
    assert not np.allclose(plain.covars_, fitted.covars_, rtol=1e-3)  # the prior counts
    with pytest.raises(BnemValueError, match="variance_scale"):
        bnem.HiddenMarkovModel(2, emission="gaussian", variance_prior=1.0).fit(X, [120])


def test_n_features_gives_every_symbol_a_column():
    rng = np.random.default_rng(2)
    X = rng.integers(0, 3, (150, 1))
    hmm = _quiet_fit(bnem.HiddenMarkovModel(2, n_features=5, random_state=0), X, [150])
    table = hmm.emissionprob_["x0"]
    assert list(table.columns) == ["0", "1", "2", "3", "4"]
    np.testing.assert_array_equal(table[["3", "4"]].to_numpy(), 0.0)  # never seen: ML 0
    np.testing.assert_allclose(table.sum(axis=1), 1.0, rtol=1e-12)
    assert hmm.score(np.array([[4]])) == -np.inf
    # from the same start, the unseen symbols' zero columns change no iterate
    emit = np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    runs = []
    for table, extra in ((emit, {}), (np.c_[emit, np.zeros((2, 2))], {"n_features": 5})):
        model = bnem.HiddenMarkovModel(2, init_params="", max_iter=5, tol=0.0, **extra)
        model.startprob_, model.transmat_ = np.array([0.5, 0.5]), np.array([[0.8, 0.2],
                                                                            [0.4, 0.6]])
        model.emissionprob_ = table
        runs.append(_quiet_fit(model, X, [150]))
    assert runs[1].log_likelihood_ == pytest.approx(runs[0].log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(runs[1].emissionprob_["x0"].to_numpy()[:, :3],
                               runs[0].emissionprob_["x0"].to_numpy(), rtol=1e-10)
    with pytest.raises(BnemValueError, match="holds symbol 2, at or above n_features=2"):
        bnem.HiddenMarkovModel(2, n_features=2).fit(X)
    with pytest.raises(BnemValueError, match="holds labels"):
        bnem.HiddenMarkovModel(2, n_features=4).fit(np.array([["a"], ["b"]], dtype=object))
    with pytest.raises(BnemValueError, match="counts the symbols of emission='categorical'"):
        bnem.HiddenMarkovModel(2, emission="gaussian", n_features=3).fit(X.astype(float))


def test_second_review_of_n_features_and_the_variance_prior():
    rng = np.random.default_rng(4)
    X = rng.integers(0, 3, (120, 1))
    given = bnem.HiddenMarkovModel(2, n_features=5, init_params="st", random_state=0)
    given.emissionprob_ = np.full((2, 7), 1 / 7)          # not n_features columns
    with pytest.raises(BnemValueError, match="it must have 5, one per symbol"):
        _quiet_fit(given, X, [120])
    import pandas as pd
    given.emissionprob_ = pd.DataFrame(np.full((2, 4), 0.25), columns=["0", "1", "2", "7"])
    with pytest.raises(BnemValueError, match="they must be the symbols"):
        _quiet_fit(given, X, [120])
    given.emissionprob_ = np.full((2, 5), 0.2)            # the right width is taken
    _quiet_fit(given, X, [120])
    assert list(given.emissionprob_["x0"].columns) == ["0", "1", "2", "3", "4"]
    with pytest.raises(BnemValueError, match=r"holds symbol\(s\) \['9'\] the model has no"):
        given.score(np.array([[9]]))
    Y = rng.normal(size=(80, 2))
    with pytest.raises(BnemValueError, match="depend on the columns' order"):
        bnem.HiddenMarkovModel(2, emission="gaussian", covariance_type="full",
                               variance_prior=2.0, variance_scale=1.0).fit(Y)
    with pytest.raises(BnemValueError, match="emission='categorical' has none"):
        bnem.HiddenMarkovModel(2, variance_prior=2.0, variance_scale=1.0).fit(X)
