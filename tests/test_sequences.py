"""Hidden Markov models as unrolled networks with shared CPDs, against an independent
Baum-Welch (forward-backward in numpy) on sequences of different lengths with gaps."""

import numpy as np
import pandas as pd
import pytest

import bnem
from bnem.models.sequences import hidden_markov_network, sequence_rows

SYMBOLS = ["a", "b", "c"]


def _sequences(n=40, seed=0):
    rng = np.random.default_rng(seed)
    A = np.array([[0.85, 0.15], [0.25, 0.75]])
    B = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    rows = []
    for s in range(n):
        z = rng.choice(2, p=[0.6, 0.4])
        for t in range(int(rng.integers(2, 9))):
            y = rng.choice(3, p=B[z])
            rows.append((f"s{s}", t, SYMBOLS[y] if rng.random() > 0.15 else None))
            z = rng.choice(2, p=A[z])
    return pd.DataFrame(rows, columns=["seq", "t", "y"])


def _baum_welch(seqs, pi, A, B, iterations):
    """Plain Baum-Welch; a missing symbol (-1) has likelihood 1 and adds no emission
    count. Returns the log-likelihood before each update and the final parameters."""
    lls = []
    for _ in range(iterations + 1):
        g0, xi, em, ll = np.zeros(2), np.zeros((2, 2)), np.zeros((2, 3)), 0.0
        for obs in seqs:
            like = np.array([B[:, o] if o >= 0 else np.ones(2) for o in obs])
            T = len(obs)
            alpha, c = np.zeros((T, 2)), np.zeros(T)
            alpha[0] = pi * like[0]
            c[0] = alpha[0].sum()
            alpha[0] /= c[0]
            for t in range(1, T):
                alpha[t] = (alpha[t - 1] @ A) * like[t]
                c[t] = alpha[t].sum()
                alpha[t] /= c[t]
            beta = np.ones((T, 2))
            for t in range(T - 2, -1, -1):
                beta[t] = A @ (like[t + 1] * beta[t + 1]) / c[t + 1]
            gamma = alpha * beta
            ll += np.log(c).sum()
            g0 += gamma[0]
            for t in range(T - 1):
                xi += alpha[t][:, None] * A * (like[t + 1] * beta[t + 1])[None, :] / c[t + 1]
            for t, o in enumerate(obs):
                if o >= 0:
                    em[:, o] += gamma[t]
        lls.append(ll)
        if len(lls) > iterations:
            break
        pi, A, B = g0 / g0.sum(), xi / xi.sum(1, keepdims=True), em / em.sum(1, keepdims=True)
    return lls, pi, A, B


def test_unrolled_network_is_baum_welch():
    long = _sequences()
    wide = sequence_rows(long, sequence="seq", time="t")
    T = wide.shape[1]
    seqs = [[SYMBOLS.index(v) if isinstance(v, str) else -1 for v in g["y"]]
            for _, g in long.groupby("seq", sort=False)]
    # missing symbols at a sequence's end are barren in the network too (no statistics)
    seqs = [obs[:max((i + 1 for i, o in enumerate(obs) if o >= 0), default=1)]
            for obs in seqs]
    pi, A = np.array([0.5, 0.5]), np.array([[0.6, 0.4], [0.3, 0.7]])
    B = np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    net = hidden_markov_network(2, {"y": SYMBOLS}, length=T)
    start = net.with_cpds({"state[0]": pi, "state[1]": A, "y[0]": B})  # shared: all slices
    # padded and missing slices are barren: summed out, they add no statistics
    with pytest.warns(bnem.ConvergenceWarning):  # 4 iterations, tol=0: by design
        res = bnem.fit(start, wide, init="network", accelerate="none", max_iter=4, tol=0,
                       sum_out_barren=True)
    lls, pi4, A4, B4 = _baum_welch(seqs, pi, A, B, 4)
    np.testing.assert_allclose(res.history["log_likelihood"], lls, rtol=1e-12)
    np.testing.assert_allclose(res.network.cpd("state[0]").values, pi4, rtol=1e-10)
    np.testing.assert_allclose(res.network.cpd(f"state[{T - 1}]").values, A4, rtol=1e-10)
    np.testing.assert_allclose(res.network.cpd("y[3]").values, B4, rtol=1e-10)


def test_sequence_rows_from_long_format_and_lengths():
    long = pd.DataFrame({"seq": ["b", "a", "a", "b", "a"], "t": [1, 2, 0, 0, 1],
                         "y": ["x", "z", "x", "y", None]})
    wide = sequence_rows(long, sequence="seq", time="t")
    assert list(wide.index) == ["a", "b"]
    assert wide.loc["a", ["y[0]", "y[1]", "y[2]"]].tolist()[0] == "x"
    assert wide.loc["a", "y[2]"] == "z" and pd.isna(wide.loc["a", "y[1]"])
    assert wide.loc["b", "y[1]"] == "x" and pd.isna(wide.loc["b", "y[2]"])  # padded
    X = np.array([[0.1], [0.2], [0.3], [0.4], [0.5]])
    by_lengths = sequence_rows(X, lengths=[2, 3])
    assert by_lengths.shape == (2, 3) and pd.isna(by_lengths.iloc[0, 2])
    assert by_lengths.iloc[1].tolist() == [0.3, 0.4, 0.5]


@pytest.mark.parametrize("kwargs, message", [
    ({"sequence": "seq", "time": "t", "gap": True}, r"sequence 'a': time 3 follows a gap"),
    ({"sequence": "seq", "time": "t", "repeat": True}, r"sequence 'a': time 1 repeats a time step"),
    ({"lengths": [2, 2]}, "lengths sum to 4, but the data have 3 rows"),
    ({}, "give either sequence= .* or lengths="),
])
def test_sequence_errors_name_the_sequence_and_time(kwargs, message):
    t = [0, 1, 2]
    if kwargs.pop("gap", False):
        t = [0, 1, 3]
    if kwargs.pop("repeat", False):
        t = [0, 1, 1]
    long = pd.DataFrame({"seq": ["a"] * 3, "t": t, "y": [1.0, 2.0, 3.0]})
    with pytest.raises(bnem.BnemError, match=message):
        sequence_rows(long, **kwargs)


def test_gaussian_emissions_and_a_fit_from_random_starts():
    rng = np.random.default_rng(1)
    rows = []
    for s in range(60):
        z = 0
        for t in range(12):
            rows.append((s, t, rng.normal([0.0, 4.0][z], 1.0)))
            z = z if rng.random() < 0.9 else 1 - z
    wide = sequence_rows(pd.DataFrame(rows, columns=["s", "t", "x"]), sequence="s", time="t")
    net = hidden_markov_network(2, {"x": "continuous"}, length=12)
    res = bnem.fit(net, wide, seed=0, n_init=2)
    means = np.sort(res.network.cpd("x[5]").intercept)
    np.testing.assert_allclose(means, [0.0, 4.0], atol=0.3)
    stay = np.diagonal(res.network.cpd("state[4]").values)
    np.testing.assert_allclose(stay, 0.9, atol=0.06)
    assert res.history["log_likelihood"].is_monotonic_increasing


def test_viterbi_equals_enumeration_of_every_path():
    import itertools

    long = _sequences(n=12, seed=4)
    wide = sequence_rows(long, sequence="seq", time="t")
    T = wide.shape[1]
    net = hidden_markov_network(2, {"y": SYMBOLS}, length=T)
    fitted = bnem.fit(net, wide, seed=0, sum_out_barren=True).network
    path, logp = bnem.viterbi(fitted, wide)
    assert list(path.columns) == [f"state[{t}]" for t in range(T)]
    pi = fitted.cpd("state[0]").values
    A = fitted.cpd("state[1]").values
    B = fitted.cpd("y[0]").values
    for i, (_, row) in enumerate(wide.iterrows()):
        obs = [SYMBOLS.index(v) if isinstance(v, str) else -1 for v in row]
        best, best_path = -np.inf, None
        for z in itertools.product(range(2), repeat=T):
            lp = np.log(pi[z[0]]) + sum(np.log(A[z[t - 1], z[t]]) for t in range(1, T))
            lp += sum(np.log(B[z[t], o]) for t, o in enumerate(obs) if o >= 0)
            if lp > best:
                best, best_path = lp, z
        assert logp[i] == pytest.approx(best, rel=1e-12)
        assert path.iloc[i].tolist() == [str(s) for s in best_path]
    with pytest.raises(bnem.BnemError, match="expected an HMM"):
        bnem.viterbi(bnem.load_network("asia"), wide)
    with pytest.raises(bnem.BnemError, match=r"column\(s\) \['z\[0\]'\] name no node"):
        bnem.viterbi(fitted, wide.rename(columns={"y[0]": "z[0]"}))


def test_hidden_markov_model_estimator_like_hmmlearn():
    long = _sequences(n=60, seed=5)
    sizes = long.groupby("seq", sort=False).size().to_numpy()
    X = long[["y"]].to_numpy(dtype=object)
    hmm = bnem.HiddenMarkovModel(2, random_state=0).fit(X, lengths=sizes)
    wide = sequence_rows(long, sequence="seq", time="t")
    direct = bnem.fit(hidden_markov_network(2, {"y": SYMBOLS}, length=wide.shape[1]), wide,
                      seed=0, n_init=3, tol=1e-6, max_iter=500, sum_out_barren=True)
    assert hmm.log_likelihood_ == pytest.approx(direct.log_likelihood, rel=1e-12)
    np.testing.assert_allclose(hmm.transmat_, direct.network.cpd("state[1]").values)
    assert hmm.score(X, lengths=sizes) == pytest.approx(hmm.log_likelihood_, rel=1e-10)
    post = hmm.predict_proba(X, lengths=sizes)
    assert post.shape == (len(X), 2) and np.allclose(post.sum(axis=1), 1)
    logp, states = hmm.decode(X, lengths=sizes)
    path, each = bnem.viterbi(hmm.network_, sequence_rows(pd.DataFrame(X, columns=["x0"]),
                                                          lengths=sizes), lengths=sizes)
    assert logp == pytest.approx(each.sum(), rel=1e-12)
    assert states[:sizes[0]].tolist() == path.iloc[0, :sizes[0]].astype(int).tolist()
    # a sequence longer than any seen in fitting: the model unrolled further
    longer = np.array([["a"], ["b"]] * 10, dtype=object)
    assert np.isfinite(hmm.score(longer)) and hmm.predict(longer).shape == (20,)
    with pytest.raises(bnem.BnemError, match="lengths sum to"):
        hmm.score(X, lengths=[3])


def test_gaussian_hidden_markov_model_with_missing_cells():
    rng = np.random.default_rng(2)
    X, sizes = [], []
    for s in range(40):
        z, n = 0, int(rng.integers(8, 15))
        for _ in range(n):
            X.append(rng.normal([[0.0, 1.0], [3.0, -2.0]][z], 0.5))
            z = z if rng.random() < 0.85 else 1 - z
        sizes.append(n)
    X = np.array(X)
    X[::6, 1] = np.nan
    hmm = bnem.HiddenMarkovModel(2, emission="gaussian", random_state=0).fit(X, lengths=sizes)
    order = np.argsort(hmm.means_[:, 0])
    np.testing.assert_allclose(hmm.means_[order], [[0.0, 1.0], [3.0, -2.0]], atol=0.2)
    np.testing.assert_allclose(hmm.covars_, 0.25, atol=0.1)
    assert np.diagonal(hmm.transmat_).min() > 0.75
    with pytest.raises(bnem.BnemError, match="needs numbers"):
        hmm.fit(np.array([["a", 1.0]], dtype=object))


def test_short_hmms_and_paths_that_end_with_their_sequence():
    net = hidden_markov_network(2, {"y": ["a", "b"]}, length=2)   # one transition node
    assert net.parents("state[1]") == ("state[0]",)
    hmm = bnem.HiddenMarkovModel(2, random_state=0, n_init=1).fit(
        np.array([["a"], ["b"], ["b"], ["b"]], dtype=object), lengths=[2, 2])
    assert hmm.predict(np.array([["a"], ["b"]], dtype=object)).shape == (2,)
    # a one-step sequence decoded next to a six-step one: its path ends after one step
    net = hidden_markov_network(2, {"y": ["a", "b"]}, length=6).with_cpds(
        {"state[0]": [0.5, 0.5], "state[1]": [[0.5, 0.5], [0.01, 0.99]],
         "y[0]": [[0.6, 0.4], [0.4, 0.6]]})
    wide = sequence_rows(pd.DataFrame({"s": [1] + [2] * 6, "y": ["a"] * 7}), sequence="s")
    path, logp = bnem.viterbi(net, wide, lengths=[1, 6])
    assert path.iloc[0, 0] == "0" and path.iloc[0, 1:].isna().all()
    assert logp[0] == pytest.approx(np.log(0.3))
    with pytest.raises(bnem.BnemError, match="lengths must hold one whole number"):
        bnem.viterbi(net, wide, lengths=[1, 7])
    # sequence ids of any kind (booleans) and a missing time
    flags = sequence_rows(pd.DataFrame({"s": [True, False, True], "y": [1.0, 2.0, 3.0]}),
                          sequence="s")
    assert flags.shape == (2, 2)
    with pytest.raises(bnem.BnemError, match="the time of row 1 is missing"):
        sequence_rows(pd.DataFrame({"s": [1, 1], "t": [0, None], "y": [1.0, 2.0]}),
                      sequence="s", time="t")


def test_dynamic_network_generalises_the_hmm_and_learns_an_autoregressive_chain():
    long = _sequences(n=30, seed=6)
    wide = sequence_rows(long, sequence="seq", time="t")
    T = wide.shape[1]
    dbn = bnem.dynamic_network({"state": ["0", "1"], "y": SYMBOLS}, within=[("state", "y")],
                               between=[("state", "state")], length=T)
    hmm = hidden_markov_network(2, {"y": SYMBOLS}, length=T)
    assert all(dbn.parents(n) == hmm.parents(n) for n in hmm.nodes)
    assert sorted(map(sorted, dbn.shared_groups.values())) == \
        sorted(map(sorted, hmm.shared_groups.values()))
    a = bnem.fit(dbn, wide, seed=0, sum_out_barren=True)
    b = bnem.fit(hmm, wide, seed=0, sum_out_barren=True)
    np.testing.assert_allclose(a.history["log_likelihood"], b.history["log_likelihood"],
                               rtol=1e-12)
    # a hidden regime z and an observed w that also depends on its own last value
    rng = np.random.default_rng(7)
    rows = []
    for s in range(150):
        z, w = 0, 0
        for t in range(10):
            z = z if t == 0 else (z if rng.random() < 0.9 else 1 - z)
            p_high = [[0.1, 0.6], [0.4, 0.9]][z][w] if t else [0.2, 0.8][z]
            w = int(rng.random() < p_high)
            rows.append((s, t, str(w) if rng.random() > 0.1 else None))
    data = sequence_rows(pd.DataFrame(rows, columns=["s", "t", "w"]), sequence="s", time="t")
    net = bnem.dynamic_network({"z": ["0", "1"], "w": ["0", "1"]}, within=[("z", "w")],
                               between=[("z", "z"), ("w", "w")], length=10)
    assert net.parents("w[3]") == ("z[3]", "w[2]") and net.parents("w[0]") == ("z[0]",)
    res = bnem.fit(net, data, seed=0, n_init=3, sum_out_barren=True)
    assert res.history["log_likelihood"].is_monotonic_increasing
    assert np.diagonal(res.network.cpd("z[4]").values).min() > 0.75
    # the fit is at least as likely as the parameters the data were drawn from
    truth = net.with_cpds({"z[0]": [1.0, 0.0], "z[1]": [[0.9, 0.1], [0.1, 0.9]],
                           "w[0]": [[0.8, 0.2], [0.2, 0.8]],
                           "w[1]": [[[0.9, 0.1], [0.4, 0.6]], [[0.6, 0.4], [0.1, 0.9]]]})
    assert res.log_likelihood >= truth.log_likelihood(data) - 1e-6
    with pytest.raises(bnem.BnemError, match=r"names \['q'\], which are not variables"):
        bnem.dynamic_network({"z": ["0", "1"]}, between=[("q", "z")])


def test_hidden_markov_model_partial_fit_is_online_em_on_the_unrolled_network():
    long = _sequences(n=80, seed=8)
    sizes = long.groupby("seq", sort=False).size().to_numpy()
    X = long[["y"]].to_numpy(dtype=object)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    parts = [(X[bounds[i]:bounds[i + 20]], sizes[i:i + 20]) for i in range(0, 80, 20)]
    hmm = bnem.HiddenMarkovModel(2, random_state=0, length=8)
    hmm.partial_fit(*parts[0])
    after_one = hmm.score(X, lengths=sizes)
    for p in range(3):
        for Xb, lb in parts[1 if p == 0 else 0:]:
            hmm.partial_fit(Xb, lengths=lb)
    assert hmm.n_iter_ == 12 and hmm.network_.nodes[-1] == "x0[7]"
    # the same batches through OnlineEM directly
    net = hidden_markov_network(2, {"x0": SYMBOLS}, length=8)
    learner = bnem.OnlineEM(net, init="random", seed=0, sum_out_barren=True)
    for _ in range(3):
        for Xb, lb in parts:
            wide = sequence_rows(pd.DataFrame(Xb, columns=["x0"]), lengths=lb)
            learner.update(wide.reindex(columns=[n for n in net.nodes if n.startswith("x0")]))
    np.testing.assert_allclose(hmm.transmat_, learner.network.cpd("state[1]").values,
                               rtol=1e-12)
    batch = bnem.HiddenMarkovModel(2, random_state=0, length=8).fit(X, lengths=sizes)
    # twelve online steps climb from the first batch's model towards the batch optimum
    assert after_one < hmm.score(X, lengths=sizes) <= batch.score(X, lengths=sizes) + 1e-6
    with pytest.raises(bnem.BnemError, match="longer than the model's 8 steps"):
        hmm.partial_fit(np.array([["a"]] * 9, dtype=object))
