"""Sequences without unrolling: forward-backward over the hidden chain of a two-slice
network (bnem.inference.chain), against the unrolled network, brute-force enumeration
and the log-space path."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

import bnem
from bnem.data.sequences import Sequences
from bnem.errors import BnemValueError, DataError, ImpossibleRowError, NetworkError
from bnem.inference import chain
from bnem.inference.chain import ChainData
from bnem.inference.dataset import AnalysedData
from bnem.network.parameters import Parameters

SYMBOLS = ["a", "b", "c"]


def _random_tables(rng, obs, k):
    """A random HMM's CPDs: the two-slice network's and, for ``unrolled``, by slice."""
    def rnd(shape):
        a = rng.random(shape) + 0.05
        return a / a.sum(-1, keepdims=True)
    cp = {"state[0]": rnd(k), "state[1]": rnd((k, k))}
    for c, states in obs.items():
        cp[f"{c}[0]"] = rnd((k, len(states))) if states != "continuous" else \
            {"intercept": rng.normal(size=k), "weights": np.zeros((k, 0)),
             "variance": rng.random(k) + 0.5}
        cp[f"{c}[1]"] = cp[f"{c}[0]"]
    return cp


def _random_cpds(net, rng):
    """A random table for every (discrete) node of ``net``, each entry above 0."""
    cpds = {}
    for n in net.nodes:
        shape = [len(net.states(p)) for p in net.parents(n)] + [len(net.states(n))]
        table = rng.random(shape) + 0.1
        cpds[n] = table / table.sum(-1, keepdims=True)
    return cpds


def _unrolled_tables(cp, obs, length):
    out = {"state[0]": cp["state[0]"]}
    for t in range(length):
        for c in obs:
            out[f"{c}[{t}]"] = cp[f"{c}[0]"]
        if t:
            out[f"state[{t}]"] = cp["state[1]"]
    return out


def _steps(rng, obs, n, missing=0.25):
    cols = {}
    for c, states in obs.items():
        if states == "continuous":
            v = rng.normal(size=n)
            v[rng.random(n) < missing] = np.nan
        else:
            v = rng.choice(states, n).astype(object)
            v[rng.random(n) < missing] = None
        cols[c] = v
    return pd.DataFrame(cols)


def _fit(net, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bnem.fit(net, data, init="network", accelerate="none", tol=0, **kw)


@pytest.mark.parametrize("obs", [{"y": SYMBOLS, "z": ["u", "v"]},
                                 {"y": "continuous", "z": "continuous"},
                                 {"y": SYMBOLS, "x": "continuous"}])
def test_em_iterates_equal_the_unrolled_network(obs):
    """Sequences of one length with missing cells: every EM iterate of the chained path
    equals EM on the network unrolled to that length (no padding)."""
    rng = np.random.default_rng(0)
    k, length, n_seq = 3, 5, 6
    steps = _steps(rng, obs, length * n_seq)
    cp = _random_tables(rng, obs, k)
    two = bnem.hidden_markov_network(k, obs, length=2).with_cpds(cp)
    unrolled = bnem.hidden_markov_network(k, obs, length=length).with_cpds(
        _unrolled_tables(cp, obs, length))
    wide = bnem.sequence_rows(steps, lengths=[length] * n_seq)
    a = _fit(unrolled, wide, max_iter=8)
    b = _fit(two, Sequences(steps, lengths=[length] * n_seq), max_iter=8)
    np.testing.assert_allclose(b.history.log_likelihood, a.history.log_likelihood,
                               rtol=1e-12, atol=0)
    for node in ("state[0]", "state[1]", f"{next(iter(obs))}[0]"):
        got, want = b.network.cpd(node), a.network.cpd(node)
        if hasattr(want, "values"):
            np.testing.assert_allclose(got.values, want.values, atol=1e-10)
        else:
            np.testing.assert_allclose(got.intercept, want.intercept, atol=1e-10)
            np.testing.assert_allclose(got.variance, want.variance, atol=1e-10)


def _pooled(net, stats, var):
    """A variable's counts summed over the slices of ``net``."""
    total = 0
    for n in net.nodes:
        if n.startswith(f"{var}["):
            i = net.discrete_index(n)
            total = total + stats.counts[net.offsets[i]:net.offsets[i + 1]]
    return total


def test_statistics_of_mixed_lengths_equal_the_unrolled_networks_by_length():
    """Mixed lengths, missing cells, an observed chain cell and sequence weights: the
    chained E-step's statistics equal the sum over lengths of the E-steps of the network
    unrolled to each length."""
    rng = np.random.default_rng(1)
    obs = {"y": SYMBOLS, "z": ["u", "v"]}
    k = 2
    lengths = [1, 4, 2, 4, 3, 1, 2]
    steps = _steps(rng, obs, sum(lengths))
    steps["state"] = None
    steps.loc[3, "state"] = "1"     # one step's chain state is observed
    weights = rng.random(len(lengths)) + 0.5
    cp = _random_tables(rng, obs, k)
    two = bnem.hidden_markov_network(k, obs, length=2).with_cpds(cp)
    got = ChainData(bnem.compile(two), Sequences(steps, lengths=lengths, sample_weight=weights)
                    ).stats(Parameters.of(two))
    want_ll, want = 0.0, {v: 0 for v in ("y", "z")}
    start = trans = 0
    ends = np.cumsum(lengths)
    for length in sorted(set(lengths)):
        pick = [i for i, n in enumerate(lengths) if n == length]
        rows = np.concatenate([np.arange(ends[i] - length, ends[i]) for i in pick])
        net = bnem.hidden_markov_network(k, obs, length=length).with_cpds(
            _unrolled_tables(cp, obs, length))
        wide = bnem.sequence_rows(steps.iloc[rows].reset_index(drop=True),
                                  lengths=[length] * len(pick))
        s = AnalysedData(bnem.compile(net), wide, sample_weight=weights[pick]).stats(
            Parameters.of(net))
        want_ll += s.log_likelihood
        for v in want:
            want[v] = want[v] + _pooled(net, s, v)
        i = net.discrete_index("state[0]")
        start = start + s.counts[net.offsets[i]:net.offsets[i + 1]]
        for t in range(1, length):
            i = net.discrete_index(f"state[{t}]")
            trans = trans + s.counts[net.offsets[i]:net.offsets[i + 1]]
    assert got.log_likelihood == pytest.approx(want_ll, rel=1e-13)
    for v in want:
        np.testing.assert_allclose(_pooled(two, got, v), want[v], rtol=1e-12)
    i = two.discrete_index("state[0]")
    np.testing.assert_allclose(got.counts[two.offsets[i]:two.offsets[i + 1]], start, rtol=1e-12)
    i = two.discrete_index("state[1]")
    np.testing.assert_allclose(got.counts[two.offsets[i]:two.offsets[i + 1]], trans, rtol=1e-12)
    assert got.weight == pytest.approx(weights.sum())


def test_dynamic_network_likelihood_equals_brute_force():
    """A two-slice network with structure inside the slice (z -> w given the chain,
    its own initial CPD for the chain), tiny sequences with missing cells: the
    log-likelihood equals enumeration of every hidden path and missing cell."""
    rng = np.random.default_rng(2)
    two = bnem.dynamic_network({"h": ["0", "1"], "w": ["p", "q", "r"], "y": ["0", "1"]},
                               within=[("h", "w"), ("h", "y"), ("w", "y")],
                               between=[("h", "h")], length=2)
    cpds = _random_cpds(two, rng)
    for v in ("w", "y"):
        cpds[f"{v}[1]"] = cpds[f"{v}[0]"]   # shared across slices
    two = two.with_cpds(cpds)
    steps = pd.DataFrame({"w": ["p", None, "r", "q", None], "y": ["1", "0", None, None, "1"]})
    lengths = [3, 2]
    ll = chain.smooth(two, Sequences(steps, lengths=lengths)).log_likelihood

    def table(n):
        return np.asarray(two.cpd(n).values)
    start, trans = table("h[0]"), table("h[1]")
    w_of, y_of = table("w[1]"), table("y[1]")
    wmap, ymap = {"p": 0, "q": 1, "r": 2}, {"0": 0, "1": 1}
    at = 0
    for i, n in enumerate(lengths):
        rows = steps.iloc[at:at + n]
        at += n
        total = 0.0
        for path in itertools.product(range(2), repeat=n):
            p = start[path[0]] * np.prod([trans[path[t - 1], path[t]] for t in range(1, n)])
            for t, (_, row) in enumerate(rows.iterrows()):
                ws = [wmap[row.w]] if not pd.isna(row.w) else range(3)
                ys = [ymap[row.y]] if not pd.isna(row.y) else range(2)
                p *= sum(w_of[path[t], a] * y_of[path[t], a, b] for a in ws for b in ys)
            total += p
        assert ll[i] == pytest.approx(np.log(total), rel=1e-13)


@pytest.mark.parametrize("path", ["numpy", "compiled"])
def test_scaled_paths_equal_the_log_space_path(path):
    """The scaled forward-backward (numpy in segments of ~sqrt(T) steps, and the numba
    kernel) equals the log-space pass, with an impossible sequence, a structural zero,
    weights, and sequences of one step to many segments."""
    if path == "compiled":
        pytest.importorskip("numba")
        from bnem.inference.jit import jitted
        kernel = jitted(chain._scaled_kernel)
    else:
        kernel = chain._scaled_linear
    rng = np.random.default_rng(3)
    k = 4
    lengths = np.array([1, 7, 3, 600, 5, 1100])
    emission = np.log(rng.random((lengths.sum(), k))) * 3
    emission[10, :] = -np.inf                 # an impossible step: its sequence is flagged
    emission[20, 2] = -np.inf
    log_start = np.log(rng.dirichlet(np.ones(k)))
    log_trans = np.log(rng.dirichlet(np.ones(k), size=k))
    log_trans[1, 3] = -np.inf                 # a structural zero
    w = rng.random(lengths.size) * 2
    a = chain.log_forward_backward(log_start, log_trans, emission, lengths, w)
    b = chain._scaled(kernel, log_start, log_trans, emission, lengths, w)
    assert np.isneginf(a.log_likelihood[2]) and np.isneginf(b.log_likelihood[2])
    np.testing.assert_allclose(b.log_likelihood, a.log_likelihood, rtol=1e-12)
    np.testing.assert_allclose(b.posterior, a.posterior, atol=1e-9)
    np.testing.assert_allclose(b.transitions, a.transitions, rtol=1e-9)
    np.testing.assert_allclose(b.initial, a.initial, rtol=1e-11)
    possible = np.repeat(np.isfinite(a.log_likelihood), lengths)
    np.testing.assert_allclose(b.posterior.sum(axis=1)[possible], 1.0, rtol=1e-12)
    assert not b.posterior[~possible].any()


def _fitted_hmm(rng, obs, k, length=2):
    return bnem.hidden_markov_network(k, obs, length=length).with_cpds(
        _random_tables(rng, obs, k))


@pytest.mark.parametrize("compiled", [False, True])
def test_queries_equal_the_unrolled_network(compiled, monkeypatch):
    """Posteriors and the Viterbi path (numpy and compiled) equal the unrolled
    network's posterior and bnem.viterbi, missing cells summed out."""
    if compiled:
        pytest.importorskip("numba")
        monkeypatch.setattr(chain, "KERNEL_STEPS", 1)
    rng = np.random.default_rng(4)
    obs = {"y": SYMBOLS, "x": "continuous"}
    cp = _random_tables(rng, obs, 3)
    two = bnem.hidden_markov_network(3, obs, length=2).with_cpds(cp)
    lengths = [6, 3, 6]
    steps = _steps(rng, obs, sum(lengths))
    seqs = Sequences(steps, lengths=lengths)
    unrolled = bnem.hidden_markov_network(3, obs, length=6).with_cpds(_unrolled_tables(cp, obs, 6))
    wide = bnem.sequence_rows(steps, lengths=lengths)
    path, each = bnem.viterbi(unrolled, wide, lengths=lengths)
    got_path, got_best = chain.viterbi_path(two, seqs)
    np.testing.assert_allclose(got_best, each, rtol=1e-12)
    want = np.concatenate([path.to_numpy(dtype=object)[i, :n] for i, n in enumerate(lengths)])
    assert [str(s) for s in got_path] == list(want)
    post = chain.smooth(two, seqs).posterior
    long = wide[wide.notna().sum(axis=1) > 0]
    p3 = unrolled.posterior(wide, "state[2]").to_numpy()
    np.testing.assert_allclose(post[[2, 6 + 2, 9 + 2]], p3[[0, 1, 2]], atol=1e-12)
    assert len(long) == 3


def test_estimator_chained_queries_equal_the_unrolled_ones():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(260, 2))
    X[rng.random(X.shape) < 0.1] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto = bnem.HiddenMarkovModel(2, emission="gaussian", random_state=0, n_init=1,
                                      max_iter=2).fit(X, [230, 30])
        assert auto.network_.nodes[-1] == "x1[1]"           # auto: chained (> 200 steps)
        auto = bnem.HiddenMarkovModel(2, emission="gaussian", random_state=0, n_init=1,
                                      max_iter=2).fit(X[:60], [30, 30])
        assert auto.network_.nodes[-1] == "x1[29]"          # auto: unrolled
        X, lengths = X[:45], [30, 15]
        hmm = bnem.HiddenMarkovModel(2, emission="gaussian", random_state=0, n_init=1,
                                     max_iter=20, inference="chain").fit(X, lengths)
    assert hmm.network_.nodes[-1] == "x1[1]"
    unrolled = bnem.HiddenMarkovModel(2, emission="gaussian", inference="unroll")
    unrolled.n_features_in_, unrolled.feature_names_in_ = 2, hmm.feature_names_in_
    unrolled._observed, unrolled._chained = hmm._observed, False
    unrolled.startprob_, unrolled.transmat_ = hmm.startprob_, hmm.transmat_
    unrolled.network_ = hmm.network_
    unrolled.network_ = unrolled._network_for(30)
    assert hmm.score(X, lengths) == pytest.approx(unrolled.score(X, lengths), rel=1e-12)
    np.testing.assert_allclose(hmm.predict_proba(X, lengths),
                               unrolled.predict_proba(X, lengths), atol=1e-10)
    a, b = hmm.decode(X, lengths), unrolled.decode(X, lengths)
    assert a[0] == pytest.approx(b[0], rel=1e-12)
    np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(BnemValueError, match="partial_fit"):
        hmm.partial_fit(X, lengths)


def test_one_long_sequence_recovers_its_transitions():
    """20,000 steps in one sequence (SQUAREM, random starts): the log-likelihood never
    falls and the transitions come back."""
    rng = np.random.default_rng(6)
    trans = np.array([[0.9, 0.1], [0.2, 0.8]])
    emit = np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]])
    n = 20_000
    u = rng.random(n)
    state = [0]
    for t in range(1, n):
        state.append(int(u[t] > trans[state[-1], 0]))
    state = np.array(state)
    cum = np.cumsum(emit, axis=1)[state]
    y = (rng.random(n)[:, None] > cum).sum(axis=1).astype(str).astype(object)
    y[rng.random(n) < 0.2] = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bnem.fit(bnem.hidden_markov_network(2, {"y": ["0", "1", "2"]}, length=2),
                       Sequences(pd.DataFrame({"y": y}), lengths=[n]), n_init=3, seed=0)
    assert np.all(np.diff(res.history.log_likelihood) >= -1e-9 * n)
    got = np.asarray(res.network.cpd("state[1]").values)
    if got[0, 0] < got[1, 0]:      # the states' labels are arbitrary
        got = got[::-1, ::-1]
    np.testing.assert_allclose(got, trans, atol=0.03)


def test_sequence_weights_count_like_repeated_sequences():
    rng = np.random.default_rng(7)
    obs = {"y": SYMBOLS}
    two = _fitted_hmm(rng, obs, 2)
    steps = _steps(rng, obs, 7)
    once = ChainData(bnem.compile(two), Sequences(steps, lengths=[4, 3], sample_weight=[2, 1]))
    twice = ChainData(bnem.compile(two),
                      Sequences(pd.concat([steps.iloc[:4], steps], ignore_index=True),
                                lengths=[4, 4, 3]))
    a, b = once.stats(Parameters.of(two)), twice.stats(Parameters.of(two))
    np.testing.assert_allclose(a.counts, b.counts, rtol=1e-12)
    assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=1e-13)


class Crash(Exception):
    pass


def test_resume_after_a_crash_gives_the_uninterrupted_fit(tmp_path):
    rng = np.random.default_rng(8)
    obs = {"y": SYMBOLS}
    two = bnem.hidden_markov_network(2, obs, length=2)
    seqs = Sequences(_steps(rng, obs, 300), lengths=[100, 200])

    def crash(progress):
        if progress.iteration == 5:
            raise Crash()
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = bnem.fit(two, seqs, seed=1, max_iter=12, tol=0)
        with pytest.raises(Crash):
            bnem.fit(two, seqs, seed=1, max_iter=12, tol=0, checkpoint=tmp_path / "c.ckpt",
                     callback=crash)
        resumed = bnem.fit(two, seqs, seed=1, max_iter=12, tol=0, resume=tmp_path / "c.ckpt")
        other = Sequences(_steps(rng, obs, 300), lengths=[100, 200])
        with pytest.raises(bnem.BnemError, match="written for another data"):
            bnem.fit(two, other, seed=1, max_iter=12, tol=0, resume=tmp_path / "c.ckpt")
    assert resumed.log_likelihood == pytest.approx(full.log_likelihood, rel=1e-12)
    np.testing.assert_allclose(resumed.history.log_likelihood, full.history.log_likelihood,
                               rtol=1e-12)


def test_clear_errors():
    rng = np.random.default_rng(9)
    obs = {"y": SYMBOLS}
    two = _fitted_hmm(rng, obs, 2)
    steps = _steps(rng, obs, 6, missing=0.0)
    autoregressive = bnem.dynamic_network({"h": ["0", "1"], "y": SYMBOLS},
                                          within=[("h", "y")], between=[("h", "h"), ("y", "y")])
    with pytest.raises(NetworkError, match="2 arcs between slices"):
        bnem.fit(autoregressive, Sequences(steps.rename(columns={"y": "y"}), lengths=[6]))
    with pytest.raises(NetworkError, match="named for a slice"):
        bnem.fit(bnem.load_network("asia"), Sequences(steps, lengths=[6]))
    with pytest.raises(BnemValueError, match=r"column\(s\) \['q'\] name no variable"):
        bnem.fit(two, Sequences(steps.rename(columns={"y": "q"}), lengths=[6]))
    with pytest.raises(BnemValueError, match="hard=True"):
        bnem.fit(two, Sequences(steps, lengths=[6]), hard=True)
    zero = two.with_cpds({"y[0]": [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]],
                          "y[1]": [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]})
    bad = pd.DataFrame({"y": ["a", "a", "b", "a"], "id": ["s1", "s1", "s2", "s2"]})
    with pytest.raises(ImpossibleRowError, match="sequence 's2'"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the start's equal emissions are warned of
        bnem.fit(zero, Sequences(bad, sequence="id"), init="network")
    with pytest.raises(BnemValueError, match="drop method='online'"):
        bnem.fit(two, Sequences(steps, lengths=[6]), method="online")
    with pytest.raises(BnemValueError, match="one weight per sequence"):
        Sequences(steps, lengths=[3, 3], sample_weight=[1.0])
    with pytest.raises(BnemValueError, match="lengths sum to 5"):
        Sequences(steps, lengths=[2, 3])
    gap = pd.DataFrame({"y": ["a", "b", "c"], "id": [1, 1, 1], "t": [0, 1, 3]})
    with pytest.raises(DataError, match="sequence 1: time 3 follows a gap"):
        Sequences(gap, sequence="id", time="t")


def test_time_column_orders_the_steps():
    frame = pd.DataFrame({"y": ["c", "a", "b", "a"], "id": ["s", "s", "r", "s"],
                          "t": [2, 0, 5, 1]})
    seqs = Sequences(frame, sequence="id", time="t")
    assert list(seqs.ids) == ["r", "s"] and seqs.lengths.tolist() == [1, 3]
    assert seqs.steps["y"].tolist() == ["b", "a", "a", "c"]
    given = Sequences(frame.drop(columns="t"), sequence="id")   # no time: as given
    assert list(given.ids) == ["s", "r"] and given.steps["y"].tolist() == ["c", "a", "a", "b"]


def test_command_line_fits_and_decodes_long_format_sequences(tmp_path, capsys):
    """`bnem fit/viterbi --sequence --time` on a shuffled long-format CSV: the same fit
    as bnem.fit on the same Sequences, and the Viterbi path of chain.viterbi_path."""
    from bnem.cli.main import main

    rng = np.random.default_rng(10)
    obs = {"y": SYMBOLS, "x": "continuous"}
    two = bnem.hidden_markov_network(2, obs, length=2)
    bnem.write_json(two, tmp_path / "hmm.json")
    n = 120
    frame = pd.DataFrame({"id": np.repeat(["s1", "s2"], n // 2),
                          "t": np.tile(np.arange(n // 2), 2),
                          "y": rng.choice(SYMBOLS, n), "x": rng.normal(size=n).round(6)})
    frame.loc[rng.random(n) < 0.1, "y"] = None
    shuffled = frame.sample(frac=1.0, random_state=0)
    shuffled.to_csv(tmp_path / "steps.csv", index=False)
    assert main(["fit", str(tmp_path / "hmm.json"), str(tmp_path / "steps.csv"), "--sequence",
                 "id", "--time", "t", "-o", str(tmp_path / "learned.json"), "--seed", "0"]) == 0
    learned = bnem.read_json(tmp_path / "learned.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = bnem.fit(two, Sequences(frame, sequence="id", time="t"), seed=0)
    np.testing.assert_allclose(learned.cpd("state[1]").values,
                               direct.network.cpd("state[1]").values, atol=1e-9)
    assert main(["viterbi", str(tmp_path / "learned.json"), str(tmp_path / "steps.csv"),
                 "--sequence", "id", "--time", "t", "-o", str(tmp_path / "paths.csv")]) == 0
    paths = pd.read_csv(tmp_path / "paths.csv", dtype={"state": str})
    states, best = chain.viterbi_path(learned, Sequences(frame, sequence="id", time="t"))
    assert paths["state"].tolist() == [str(s) for s in states]
    assert paths.groupby("sequence")["log_prob"].first().tolist() == pytest.approx(best.tolist())
    assert paths["t"].tolist() == frame.sort_values(["id", "t"])["t"].tolist()
    assert main(["fit", str(tmp_path / "hmm.json"), str(tmp_path / "steps.csv"), "--time", "t",
                 "-o", str(tmp_path / "l.json")]) != 0
    assert "--time needs --sequence" in capsys.readouterr().err
    assert main(["viterbi", str(tmp_path / "learned.json"), str(tmp_path / "steps.csv"),
                 "--sequence", "id", "--time", "t", "--hidden", "y",
                 "-o", str(tmp_path / "p2.csv")]) != 0
    assert "the chain that joins the slices, 'state'" in capsys.readouterr().err


def test_sequences_from_data_files_equal_the_frame(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"id": ["a", "a", "b", "b", "b"], "t": [0, 1, 0, 1, 2],
                          "y": ["x", None, "y", "x", "x"], "v": [0.5, 1.5, None, 2.0, 3.0]})
    frame.to_parquet(tmp_path / "steps.parquet")
    frame.iloc[:3].to_csv(tmp_path / "p1.csv", index=False)
    frame.iloc[3:].to_csv(tmp_path / "p2.csv", index=False)
    want = Sequences(frame, sequence="id", time="t")
    for source in (tmp_path / "steps.parquet", [tmp_path / "p1.csv", tmp_path / "p2.csv"]):
        got = Sequences(source, sequence="id", time="t")
        assert got.lengths.tolist() == want.lengths.tolist()
        assert [None if pd.isna(v) else v for v in got.steps["y"]] == ["x", None, "y", "x", "x"]
        pd.testing.assert_series_equal(pd.to_numeric(got.steps["v"]), want.steps["v"])
    from bnem.cli.main import main
    bad = frame.assign(v=["0.5", "1.5", "", "oops", "3"])
    bad.to_csv(tmp_path / "bad.csv", index=False)
    net = bnem.dynamic_network({"h": ["0", "1"], "y": ["x", "y"], "v": "continuous"},
                               within=[("h", "y"), ("h", "v")], between=[("h", "h")])
    bnem.write_json(net, tmp_path / "net.json")
    assert main(["fit", str(tmp_path / "net.json"), str(tmp_path / "bad.csv"), "--sequence",
                 "id", "--time", "t", "-o", str(tmp_path / "out.json")]) != 0
    assert "line 5: 'v' is continuous, but the cell holds 'oops'" in capsys.readouterr().err


def test_review_findings_stay_fixed(tmp_path, monkeypatch, capsys):
    # weights follow the order sequences first appear, also when time= sorts them
    frame = pd.DataFrame({"y": ["c", "a", "b", "a"], "id": ["s", "s", "r", "s"],
                          "t": [2, 0, 5, 1]})
    seqs = Sequences(frame, sequence="id", time="t", sample_weight=[10.0, 1.0])
    assert dict(zip(seqs.ids, seqs.weights)) == {"s": 10.0, "r": 1.0}
    assert seqs.times.tolist() == [5, 0, 1, 2]
    # bad specifications: clear errors
    with pytest.raises(BnemValueError, match="lengths must be a list"):
        Sequences(frame, lengths=3)
    with pytest.raises(bnem.BnemError, match="names one column"):
        Sequences(frame, sequence=["id"])
    with pytest.raises(DataError, match="0.5 is not a whole time step"):
        Sequences(frame.assign(t=[0, 0.5, 1, 2]), sequence="id", time="t")
    with pytest.raises(DataError, match="dates or durations"):
        Sequences(frame.assign(t=pd.to_datetime(["2020-01-01"] * 4)), sequence="id", time="t")
    two = bnem.hidden_markov_network(2, {"y": SYMBOLS}, length=2)
    with pytest.raises(BnemValueError, match="one weight per sequence"):
        bnem.fit(two, Sequences(frame, sequence="id"), sample_weight=[1.0] * 4)
    # the chain's two nodes with their states in another order
    swapped = bnem.BayesianNetwork({"h[0]": ["0", "1"], "h[1]": ["1", "0"], "y[0]": SYMBOLS,
                                    "y[1]": SYMBOLS},
                                   {"h[1]": ["h[0]"], "y[0]": ["h[0]"], "y[1]": ["h[1]"]})
    with pytest.raises(NetworkError, match="same states in the same order"):
        bnem.fit(swapped, Sequences(frame, sequence="id"))
    # a Gaussian node that depends on no discrete node of its slice
    free = bnem.dynamic_network({"h": ["0", "1"], "r": "continuous", "y": ["a", "b"]},
                                within=[("h", "y")], between=[("h", "h")])
    with pytest.raises(NetworkError, match="depend on no discrete node"):
        bnem.fit(free, Sequences(pd.DataFrame({"y": list("abab"), "r": np.arange(4.0)}),
                                 lengths=[2, 2]))


@pytest.mark.parametrize("compiled", [False, True])
def test_an_emission_that_underflows_beside_near_zero_transitions(compiled, monkeypatch):
    """A 40-sigma outlier under a chain that switches with probability 1e-300: the
    scaled arithmetic would drop the state the path stays in; such sequences go to the
    log-space path, and the result equals the unrolled network's."""
    if compiled:
        pytest.importorskip("numba")
        monkeypatch.setattr(chain, "KERNEL_STEPS", 1)
    e = 1e-300
    trans = [[1 - e, e], [e, 1 - e]]
    g = {"intercept": np.zeros(2), "weights": np.zeros((2, 0)), "variance": np.array([1.0, 1e4])}
    n = 60
    two = bnem.hidden_markov_network(2, {"x": "continuous"}, length=2).with_cpds(
        {"state[0]": [0.5, 0.5], "state[1]": trans, "x[0]": g, "x[1]": g})
    x = np.random.default_rng(0).normal(size=n)
    x[30] = 40.0
    sm = chain.smooth(two, Sequences(pd.DataFrame({"x": x}), lengths=[n]))
    cp: dict = {"state[0]": [0.5, 0.5]}
    for t in range(n):
        cp[f"x[{t}]"] = g
        if t:
            cp[f"state[{t}]"] = trans
    unrolled = bnem.hidden_markov_network(2, {"x": "continuous"}, length=n).with_cpds(cp)
    wide = bnem.sequence_rows(pd.DataFrame({"x": x}), lengths=[n])
    assert sm.log_likelihood[0] == pytest.approx(unrolled.log_likelihood(wide), rel=1e-12)
    np.testing.assert_allclose(sm.posterior[30], unrolled.posterior(wide, "state[30]")
                               .to_numpy()[0], atol=1e-12)


def test_chained_estimator_refuses_impossible_sequences():
    rng = np.random.default_rng(11)
    X = rng.choice(["a", "b"], size=(30, 1)).astype(object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hmm = bnem.HiddenMarkovModel(2, inference="chain", random_state=0, n_init=1,
                                     max_iter=5).fit(X, [30])
    hmm.network_ = hmm.network_.with_cpds({"x0[0]": [[1.0, 0.0], [1.0, 0.0]],
                                           "x0[1]": [[1.0, 0.0], [1.0, 0.0]]})
    with pytest.raises(ImpossibleRowError, match="sequence 0"):
        hmm.predict_proba(np.array([["b"]], dtype=object))
    with pytest.raises(ImpossibleRowError, match="sequence 0"):
        hmm.decode(np.array([["b"]], dtype=object))


def test_public_viterbi_and_forward_backward_on_sequences():
    rng = np.random.default_rng(12)
    obs = {"y": SYMBOLS}
    two = _fitted_hmm(rng, obs, 2)
    frame = _steps(rng, obs, 9).assign(id=["p"] * 4 + ["q"] * 5, t=list(range(4)) + list(range(5)))
    seqs = Sequences(frame, sequence="id", time="t")
    path, best = bnem.viterbi(two, seqs)
    codes, want = chain.viterbi_path(two, seqs)
    assert path["state"].tolist() == [str(c) for c in codes]
    assert path["time"].tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 4]
    np.testing.assert_array_equal(best, want)
    post, ll = bnem.forward_backward(two, seqs)
    sm = chain.smooth(two, seqs)
    np.testing.assert_array_equal(post[["0", "1"]].to_numpy(), sm.posterior)
    assert ll.index.tolist() == ["p", "q"]
    np.testing.assert_array_equal(ll.to_numpy(), sm.log_likelihood)
    with pytest.raises(bnem.BnemError, match="expected bnem.Sequences"):
        bnem.forward_backward(two, frame)


@pytest.mark.parametrize("log_space", [False, True])
def test_filtering_posteriors_equal_enumeration(log_space):
    """P(h_t | steps 0..t) by the forward passes (numpy in segments, or log space)
    equals enumeration of the paths over the steps so far; at each sequence's last step
    it is the smoothed posterior."""
    rng = np.random.default_rng(13)
    obs = {"y": SYMBOLS}
    two = _fitted_hmm(rng, obs, 2)
    lengths = [4, 1, 3]
    steps = _steps(rng, obs, sum(lengths))
    seqs = Sequences(steps, lengths=lengths)
    post, ll = bnem.forward_backward(two, seqs, filtered=True)
    if log_space:   # the path for sequences the scaled arithmetic cannot be trusted with
        data = ChainData(bnem.compile(two), seqs)
        params = Parameters.of(two)
        got = chain.log_forward_backward(*data.chain_tables(params), data.emissions(params)[0],
                                         seqs.lengths, seqs.weights, filtered=True)
        post[["0", "1"]] = got.posterior
    smoothed, ll2 = bnem.forward_backward(two, seqs)
    np.testing.assert_allclose(ll, ll2, rtol=1e-12)
    start, trans = np.asarray(two.cpd("state[0]").values), np.asarray(two.cpd("state[1]").values)
    emit = np.asarray(two.cpd("y[1]").values)
    at = 0
    for n in lengths:
        ys = steps["y"].iloc[at:at + n].tolist()
        for t in range(n):
            joint = np.zeros(2)
            for path in itertools.product(range(2), repeat=t + 1):
                p = start[path[0]] * np.prod([trans[path[i - 1], path[i]] for i in range(1, t + 1)])
                for i in range(t + 1):
                    p *= 1.0 if pd.isna(ys[i]) else emit[path[i], SYMBOLS.index(ys[i])]
                joint[path[-1]] += p
            np.testing.assert_allclose(post[["0", "1"]].to_numpy()[at + t], joint / joint.sum(),
                                       rtol=1e-12)
        np.testing.assert_allclose(post[["0", "1"]].to_numpy()[at + n - 1],
                                   smoothed[["0", "1"]].to_numpy()[at + n - 1], rtol=1e-12)
        at += n


def test_sequences_from_a_dask_dataframe_equal_the_frame():
    dd = pytest.importorskip("dask.dataframe")
    frame = pd.DataFrame({"id": ["a", "a", "b", "b", "b"], "t": [1, 0, 0, 2, 1],
                          "y": ["x", None, "y", "x", "x"]})
    got = Sequences(dd.from_pandas(frame, npartitions=2), sequence="id", time="t")
    want = Sequences(frame, sequence="id", time="t")
    assert got.lengths.tolist() == want.lengths.tolist()
    assert got.steps["y"].fillna("-").tolist() == want.steps["y"].fillna("-").tolist()
    assert got.times.tolist() == want.times.tolist()


def test_a_sequence_with_every_cell_missing_and_score_samples():
    """A sequence with no observed cell has likelihood 1 whatever its length, in both
    paths; score_samples is (score, predict_proba) as hmmlearn's."""
    rng = np.random.default_rng(14)
    X = rng.choice(["a", "b"], size=(12, 1)).astype(object)
    X[5:9, 0] = None                                  # the second sequence: all missing
    lengths = [5, 4, 3]
    for inference in ("unroll", "chain"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hmm = bnem.HiddenMarkovModel(2, random_state=0, n_init=1, max_iter=20,
                                         inference=inference).fit(X, lengths)
        assert hmm.score(X[5:9], [4]) == pytest.approx(0.0, abs=1e-12)
        total, post = hmm.score_samples(X, lengths)
        assert total == pytest.approx(hmm.score(X, lengths), rel=1e-12)
        np.testing.assert_allclose(post, hmm.predict_proba(X, lengths), rtol=1e-12)


def test_factorial_hmm_unrolled_equals_brute_force_and_chained_path_refuses_it():
    """Two hidden chains and one child of both: the unrolled network's likelihood equals
    enumeration of both paths; the chained path (one chain) refuses it."""
    rng = np.random.default_rng(15)
    net = bnem.dynamic_network({"a": ["0", "1"], "b": ["0", "1"], "y": SYMBOLS},
                               within=[("a", "y"), ("b", "y")],
                               between=[("a", "a"), ("b", "b")], length=3)
    cpds = _random_cpds(net, rng)
    for v in ("a", "b"):
        cpds[f"{v}[2]"] = cpds[f"{v}[1]"]
    for t in (1, 2):
        cpds[f"y[{t}]"] = cpds["y[0]"]
    net = net.with_cpds(cpds)
    ys = ["c", None, "a"]
    wide = pd.DataFrame({f"y[{t}]": [v] for t, v in enumerate(ys)})
    total = 0.0
    for path in itertools.product(range(2), repeat=6):
        a, b = path[:3], path[3:]
        p = cpds["a[0]"][a[0]] * cpds["b[0]"][b[0]]
        for t in (1, 2):
            p *= cpds["a[1]"][a[t - 1], a[t]] * cpds["b[1]"][b[t - 1], b[t]]
        for t, v in enumerate(ys):
            if v is not None:
                p *= cpds["y[0]"][a[t], b[t], SYMBOLS.index(v)]
        total += p
    assert net.log_likelihood(wide) == pytest.approx(np.log(total), rel=1e-12)
    two = bnem.dynamic_network({"a": ["0", "1"], "b": ["0", "1"], "y": SYMBOLS},
                               within=[("a", "y"), ("b", "y")],
                               between=[("a", "a"), ("b", "b")], length=2)
    with pytest.raises(NetworkError, match="2 arcs between slices"):
        bnem.fit(two, Sequences(pd.DataFrame({"y": ["a", "b"]}), lengths=[2]))
