"""HiddenMarkovModel against hmmlearn itself, from the same start: per-iteration
log-likelihoods, final parameters and Viterbi paths (no missing cells: hmmlearn refuses
NaN). bnem runs plain EM here (bnem.fit on the estimator's network with
accelerate="none"), as hmmlearn does."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bnem

hmm = pytest.importorskip("hmmlearn.hmm")

START = np.array([0.6, 0.4])
TRANS = np.array([[0.7, 0.3], [0.2, 0.8]])


def _plain_fit(est, X, lengths, iterations):
    """The estimator's network, started from its attributes, fitted by plain EM as two
    slices."""
    frame = est._frame(X, fitting=True)
    est._observed = est._observed_states(frame)
    start = est._with_parameters(est._network(2, 2), *est._start(
        2, frame, "", np.random.default_rng(0)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bnem.fit(start, bnem.Sequences(frame, lengths=lengths), init="network",
                        accelerate="none", max_iter=iterations - 1, tol=0,
                        min_variance=est.min_variance)


def _sample(seed, n=300):
    rng = np.random.default_rng(seed)
    state = [0]
    for _ in range(n - 1):
        state.append(state[-1] if rng.random() < 0.85 else 1 - state[-1])
    return np.array(state), rng


@pytest.mark.parametrize("kind", ["categorical", "diag", "full"])
def test_iterations_parameters_and_paths_equal_hmmlearn(kind):
    state, rng = _sample(1)
    lengths = [120, 100, 80]
    if kind == "categorical":
        emit = np.array([[0.6, 0.3, 0.1], [0.1, 0.3, 0.6]])
        X = np.array([rng.choice(3, p=emit[s]) for s in state])[:, None]
        start_emit = np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
        est = bnem.HiddenMarkovModel(2, init_params="")
        est.emissionprob_ = {"x0": start_emit}
        theirs = hmm.CategoricalHMM(2, init_params="", n_iter=12, tol=-np.inf)
        theirs.emissionprob_ = start_emit
    else:
        means = np.array([[0.0, 0.0], [2.0, 1.0]])
        cov = np.array([[1.0, 0.4], [0.4, 1.0]])
        X = means[state] + rng.multivariate_normal([0, 0], cov, size=state.size)
        m0, c0 = means + 0.5, np.array([cov * 1.5, cov * 2.0])
        est = bnem.HiddenMarkovModel(2, emission="gaussian", init_params="",
                                     covariance_type="full" if kind == "full" else "diag",
                                     min_variance=1e-300)
        theirs = hmm.GaussianHMM(2, covariance_type=kind, init_params="", n_iter=12,
                                 tol=-np.inf, covars_prior=0.0, min_covar=0.0)
        est.means_, theirs.means_ = m0, m0
        if kind == "full":
            est.covars_, theirs.covars_ = c0, c0
        else:
            diag = np.stack([np.diag(c) for c in c0])
            est.covars_, theirs.covars_ = diag, diag
    est.startprob_, est.transmat_ = START, TRANS
    theirs.startprob_, theirs.transmat_ = START, TRANS
    ours = _plain_fit(est, X, lengths, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.fit(X, lengths)
    a = ours.history["log_likelihood"].to_numpy()
    b = np.array(theirs.monitor_.history)
    n = min(a.size, b.size)
    assert n >= 8
    np.testing.assert_allclose(a[:n], b[:n], rtol=1e-8)
    # parameters after the same number of M-steps, and the Viterbi path
    again = type(theirs)(**{**theirs.get_params(), "n_iter": ours.n_iter})
    again.startprob_, again.transmat_ = START, TRANS
    if kind == "categorical":
        again.emissionprob_ = start_emit
    else:
        again.means_ = m0
        again.covars_ = c0 if kind == "full" else np.stack([np.diag(c) for c in c0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again.fit(X, lengths)
    est.network_, est._chained = ours.network, True
    est._set_parameters()
    np.testing.assert_allclose(est.transmat_, again.transmat_, atol=1e-6)
    np.testing.assert_allclose(est.startprob_, again.startprob_, atol=1e-6)
    if kind == "categorical":
        np.testing.assert_allclose(est.emissionprob_["x0"].to_numpy(), again.emissionprob_,
                                   atol=1e-6)
    else:
        np.testing.assert_allclose(est.means_, again.means_, atol=1e-6)
        want = again.covars_ if kind == "full" else \
            np.stack([np.diag(c) for c in again.covars_])
        np.testing.assert_allclose(est.covars_, want, atol=1e-6)
    np.testing.assert_array_equal(est.predict(X, lengths), again.predict(X, lengths))
