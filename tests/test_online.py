"""Online (stepwise) EM: bnem.fit(method="online"), OnlineEM and partial_fit."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bnem
from bnem.errors import BnemValueError, ConvergenceWarning, DataError
from bnem.inference.compiled import compile
from bnem.inference.dataset import AnalysedData
from bnem.network.parameters import Parameters
from conftest import load

COLS = ["x0", "x1", "x2"]


def _asia(n=3000, seed=3, missing=0.2):
    net = load("asia")
    df = net.sample(n, seed=seed)
    rng = np.random.default_rng(seed)
    return net, df.mask(rng.random(df.shape) < missing)


def _mixture_data(n=800, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(0, 1, (n * 3 // 5, 3)), rng.normal(4, 0.5, (n - n * 3 // 5, 3))])
    rng.shuffle(X)
    X[rng.random(X.shape) < 0.15] = np.nan
    return pd.DataFrame(X, columns=COLS)


def _max_diff(a, b):
    out = 0.0
    for n in a.nodes:
        ca, cb = a.cpd(n), b.cpd(n)
        if n in a.continuous_nodes:
            for f in ("intercept", "weights", "variance"):
                out = max(out, float(np.max(np.abs(np.asarray(getattr(ca, f))
                                                   - np.asarray(getattr(cb, f))), initial=0)))
        else:
            out = max(out, float(np.abs(ca.values - cb.values).max()))
    return out


@pytest.mark.parametrize("kind", ["discrete", "full", "diag"])
def test_one_batch_of_all_rows_with_step_1_is_batch_em(kind):
    """Each pass is then one EM iteration: the same log-likelihoods, iteration by
    iteration, and the same parameters (1e-12)."""
    if kind == "discrete":
        net, df = _asia()
        init = {}
    else:
        df = _mixture_data()
        net = bnem.gaussian_mixture(COLS, 2, kind, hidden="component")
        init = {"init": "k-means++"}
    batch = bnem.fit(net, df, accelerate="none", max_iter=5, tol=0, **init)
    online = bnem.fit(net, df, method="online", batch_rows=len(df), max_passes=5, step=1.0,
                      **init)
    # batch k's log-likelihood is at the parameters before its update: EM's iteration k-1
    np.testing.assert_allclose(online.history.log_likelihood.to_numpy(),
                               batch.history.log_likelihood.to_numpy()[:5], rtol=1e-12)
    assert _max_diff(online.network, batch.network) < 1e-12
    assert list(online.history.columns) == ["pass", "batch", "rows", "log_likelihood",
                                            "log_likelihood_per_row", "step_size", "seconds"]
    assert online.method == "online" and online.n_iter == 5 and not online.converged


def test_partial_fit_equals_one_stepwise_run_over_the_same_batches():
    df = _mixture_data()
    for cov in ("full", "tied"):
        gm = bnem.GaussianMixture(2, covariance_type=cov, random_state=0)
        for i in range(0, len(df), 200):
            gm.partial_fit(df.iloc[i:i + 200].to_numpy())
        start = bnem.gaussian_mixture(COLS, 2, cov, hidden="component")
        run = bnem.fit(start, df, method="online", batch_rows=200, max_passes=1,
                       init="k-means++", seed=0)
        assert _max_diff(gm.network_, run.network) < 1e-12
        assert gm.n_iter_ == 4 and not gm.converged_
    sizes = sorted(np.round(gm.weights_, 1).tolist())
    assert sizes == [0.4, 0.6]


def test_latent_class_partial_fit_equals_a_stepwise_run():
    rng = np.random.default_rng(0)
    z = rng.integers(0, 2, 1200)
    X = pd.DataFrame({f"q{j}": np.where(rng.random(1200) < np.where(z, .85, .15), "yes", "no")
                      for j in range(5)})
    X = X.mask(rng.random(X.shape) < 0.1)
    lca = bnem.LatentClassModel(2, random_state=0, init="random")
    for i in range(0, 1200, 300):
        lca.partial_fit(X.iloc[i:i + 300])
    net = lca.network_
    run = bnem.fit(net, X, method="online", batch_rows=300, max_passes=1, init="random", seed=0)
    assert _max_diff(lca.network_, run.network) < 1e-12
    yes = lca.item_probabilities_["q0"]["yes"].to_numpy()  # one pass already separates
    assert abs(yes[0] - yes[1]) > 0.4                         # the classes (0.85 vs 0.15)
    # after fit, partial_fit goes on from the fitted parameters
    lca2 = bnem.LatentClassModel(2, random_state=0, n_init=2).fit(X)
    before = lca2.network_.log_likelihood(X)
    lca2.partial_fit(X.iloc[:300])  # the fit's 1200 rows count as 4 batches of 300 before it
    assert lca2.n_iter_ == 5 and abs(lca2.network_.log_likelihood(X) - before) < 0.01 * abs(before)


def test_stepwise_em_recovers_the_true_parameters_and_the_hand_off_reaches_batch_em():
    """On data drawn from a known network with missing cells, two passes of stepwise EM
    land within the sampling error of the truth; the hand-off reaches batch EM's
    optimum (1e-8 per row) from the same start."""
    net = load("cancer")
    df = net.sample(20000, seed=5)
    rng = np.random.default_rng(5)
    df = df.mask(rng.random(df.shape) < 0.2)
    online = bnem.fit(net, df, method="online", batch_rows=1000, max_passes=2)
    n_obs = df.notna().sum()
    for node in net.nodes:  # a 5-sigma band of a binomial proportion per entry
        true, got = net.cpd(node).values, online.network.cpd(node).values
        err = 5 * np.sqrt(true * (1 - true) / n_obs[node]) / np.sqrt(0.05) + 0.01
        assert np.all(np.abs(got - true) <= err), node
    batch = bnem.fit(net, df, tol=1e-10, max_iter=2000)
    hand = bnem.fit(net, df, method="online-then-batch", batch_rows=1000, max_passes=2,
                    tol=1e-10, max_iter=2000)
    assert abs(hand.log_likelihood - batch.log_likelihood) / len(df) < 1e-8
    assert set(hand.history.phase) == {"online", "batch"}
    assert hand.history.phase.iloc[0] == "online" and hand.history.phase.iloc[-1] == "batch"
    assert hand.method == "online-then-batch" and hand.converged
    # the online phase's estimate of its log-likelihood is close to the exact one
    exact = online.network.log_likelihood(df)
    assert abs(online.log_likelihood - exact) / len(df) < 0.01


def test_fading_statistics_are_the_discounted_sums_of_the_batches():
    """With a fading factor f, after k batches the statistics are sum_j f^(k-1-j) s_j,
    each s_j the E-step of batch j at the parameters before its update; for Gaussian
    moments this checks that sums taken about different centres are combined right."""
    df = _mixture_data(900)
    net = bnem.gaussian_mixture(COLS, 2, "full", hidden="component", weights=[0.5, 0.5],
                                means=[[0, 0, 0], [3, 3, 3]],
                                covariances=[np.eye(3), 0.5 * np.eye(3)])
    f = 0.8
    learner = bnem.OnlineEM(net, fading=f)  # init="network": starts from net's CPDs
    compiled = compile(net)
    each = []
    for i in range(0, 900, 300):
        batch = df.iloc[i:i + 300]
        params = learner.params
        data = AnalysedData(compiled, batch)
        try:
            each.append((data.stats(params), params))
        finally:
            data.close()
        learner.update(batch)
    k = len(each)
    counts = sum(f ** (k - 1 - j) * s.counts for j, (s, _) in enumerate(each))
    np.testing.assert_allclose(learner.statistics.counts, counts, rtol=1e-12)
    comp = compiled.structure.components[0]
    raw = [_raw_moments(s.moments[0], comp, p) for s, p in each]
    want = [sum(f ** (k - 1 - j) * r[i] for j, r in enumerate(raw)) for i in range(3)]
    got = _raw_moments(learner.statistics.moments[0], comp, None)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-8)


def _raw_moments(mom, comp, params):
    """Sums about 0: n, sum r x, sum r x x^T (from sums about the moments' centre)."""
    from bnem.inference.gaussian import joint_factors
    c = mom.centre if mom.centre is not None else joint_factors(comp, params.gaussians).mean
    c = np.broadcast_to(c, mom.m1.shape)
    s1 = mom.m1 + mom.n[:, None] * c
    s2 = mom.m2 + c[:, :, None] * mom.m1[:, None, :] + mom.m1[:, :, None] * c[:, None, :] \
        + mom.n[:, None, None] * c[:, :, None] * c[:, None, :]
    return mom.n, s1, s2


def test_online_reads_files_parts_and_dask_in_the_same_batches(tmp_path):
    net, df = _asia(2500)
    ref = bnem.fit(net, df, method="online", batch_rows=400, max_passes=2)
    df.to_csv(tmp_path / "a.csv", index=False, na_rep="")
    parts = [df.iloc[i:i + 700] for i in range(0, len(df), 700)]
    from_parts = bnem.fit(net, parts, method="online", batch_rows=400, max_passes=2)
    from_file = bnem.fit(net, str(tmp_path / "a.csv"), method="online", batch_rows=400,
                         max_passes=2)
    for other in (from_parts, from_file):
        assert _max_diff(other.network, ref.network) < 1e-12
        np.testing.assert_allclose(other.history.log_likelihood, ref.history.log_likelihood,
                                   rtol=1e-12)
    dd = pytest.importorskip("dask.dataframe")
    on_dask = bnem.fit(net, dd.from_pandas(df, npartitions=3), method="online",
                       batch_rows=400, max_passes=2)
    assert _max_diff(on_dask.network, ref.network) < 1e-12


def test_online_weights_history_file_and_cli(tmp_path):
    net, df = _asia(1200)
    w = np.random.default_rng(1).integers(1, 4, len(df)).astype(float)
    expanded = df.loc[df.index.repeat(w.astype(int))].reset_index(drop=True)
    weighted = bnem.fit(net, df, method="online", batch_rows=len(df), max_passes=3, step=1.0,
                        sample_weight=w)
    plain = bnem.fit(net, expanded, method="online", batch_rows=len(expanded), max_passes=3,
                     step=1.0)
    assert _max_diff(weighted.network, plain.network) < 1e-10
    res = bnem.fit(net, df, method="online", batch_rows=300, max_passes=2,
                   history_path=tmp_path / "h.csv")
    written = pd.read_csv(tmp_path / "h.csv")
    assert len(written) == 8 and list(written.columns) == list(res.history.columns)
    np.testing.assert_allclose(written.log_likelihood, res.history.log_likelihood)
    from bnem.cli.main import main
    bif = tmp_path / "asia.bif"
    bnem.write_bif(net, bif)
    df.to_csv(tmp_path / "d.csv", index=False, na_rep="")
    code = main(["-q", "fit", str(bif), str(tmp_path / "d.csv"), "-o", str(tmp_path / "o.bif"),
                 "--method", "online", "--batch-rows", "300", "--max-passes", "2",
                 "--step", "0.6,3", "--history", str(tmp_path / "h2.csv")])
    assert code == 0
    cli = bnem.fit(net, df, method="online", batch_rows=300, max_passes=2, step=(0.6, 3))
    assert _max_diff(bnem.read_bif(tmp_path / "o.bif"), cli.network) < 1e-6  # BIF digits
    assert len(pd.read_csv(tmp_path / "h2.csv")) == 8


def test_online_errors_and_warnings():
    net, df = _asia(600)
    with pytest.raises(BnemValueError, match="max_passes=2 needs data that can be read again"):
        bnem.fit(net, iter([df]), method="online")
    res = bnem.fit(net, iter([df.iloc[:300], df.iloc[300:]]), method="online", max_passes=1,
                   batch_rows=200)
    assert res.n_iter == 3
    with pytest.raises(BnemValueError, match="n_init=3 restarts need a random start"):
        bnem.fit(net, df, method="online", n_init=3, init="network")
    with pytest.raises(BnemValueError, match="resume= reads the data again"):
        bnem.fit(net, iter([df]), method="online", max_passes=1, resume=__file__)
    with pytest.raises(DataError, match=r"data part 1 has other columns than data part 0"):
        bnem.fit(net, [df, df.drop(columns="asia")], method="online")
    with pytest.warns(ConvergenceWarning, match="alpha <= 0.5"):
        bnem.fit(net, df, method="online", step=(0.4, 2), batch_rows=300)
    with pytest.warns(ConvergenceWarning, match="step=0.3 is constant"):
        bnem.fit(net, df, method="online", step=0.3, batch_rows=300)
    for bad, match in [((0, 2), "alpha > 0"), (1.5, "step"), ("fast", "step must be"),
                       ((0.7, -1), "t0")]:
        with pytest.raises((BnemValueError, bnem.BnemError), match=match):
            bnem.fit(net, df, method="online", step=bad)
    with pytest.raises(BnemValueError, match=r"step\(0\) returned 2"):
        bnem.fit(net, df, method="online", step=lambda t: 2, batch_rows=300)
    learner = bnem.OnlineEM(net, init="uniform")
    learner.update(df.iloc[:100])
    with pytest.raises(DataError, match=r"other columns than the first batch \(extra: \[\], "
                                        r"missing: \['asia'\]\)"):
        learner.update(df.iloc[100:200].drop(columns="asia"))
    with pytest.raises(BnemValueError, match="fading must be a number in"):
        bnem.OnlineEM(net, fading=1.5)
    with pytest.raises(BnemValueError, match="no batch has been learned yet"):
        bnem.OnlineEM(net, init="uniform", fading=1.0).network
    gm = bnem.GaussianMixture(5, random_state=0)
    with pytest.warns(ConvergenceWarning, match="fewer than the 5 states"):
        gm.partial_fit(_mixture_data(200).to_numpy()[:4])


def test_fading_one_keeps_plain_sums_and_tracks_nothing_else():
    """fading=1: every batch counts equally; with the parameters of the network kept
    (all nodes fixed), the statistics are the plain sum over the batches."""
    net, df = _asia(900, missing=0.0)
    fixed = net.fix(list(net.nodes))
    learner = bnem.OnlineEM(fixed, fading=1.0)
    for i in range(0, 900, 300):
        learner.update(df.iloc[i:i + 300])
    data = AnalysedData(compile(fixed), df)
    try:
        whole = data.stats(Parameters.of(fixed))
    finally:
        data.close()
    np.testing.assert_allclose(learner.statistics.counts, whole.counts, rtol=1e-12)
    assert _max_diff(learner.network, net) == 0.0


def test_review_fixes_short_batches_rare_states_and_the_hand_off(tmp_path):
    net = load("asia")
    df = net.sample(1001, seed=1)
    # a state the first batches lack stays possible (it gave ImpossibleRowError)
    ordered = pd.concat([df[df.asia == "no"], df[df.asia == "yes"]])
    res = bnem.fit(net, ordered, method="online", batch_rows=200)
    assert res.network.cpd("asia").values[0] > 0  # 'yes' learned from the last batch
    # a short last batch moves the parameters in proportion to its weight
    res = bnem.fit(net, df, method="online", batch_rows=1000, max_passes=1)
    first, last = res.history.step_size
    assert first == pytest.approx(2 ** -0.7) and last == pytest.approx(3 ** -0.7 / 1000)
    # the hand-off stops when the online phase was stopped, and its history file
    # holds both phases, with seconds running on
    stopped = bnem.fit(net, df, method="online-then-batch", batch_rows=200,
                       callback=lambda p: True)
    assert stopped.method == "online" and stopped.n_iter == 1
    both = bnem.fit(net, df, method="online-then-batch", batch_rows=200,
                    history_path=tmp_path / "h.csv")
    written = pd.read_csv(tmp_path / "h.csv")
    assert written.phase.value_counts().to_dict() == both.history.phase.value_counts().to_dict()
    assert both.history.seconds.is_monotonic_increasing
    with pytest.raises(BnemValueError, match="online-then-batch.*read again"):
        bnem.fit(net, iter([df]), method="online-then-batch", max_passes=1)


def test_partial_fit_after_fit_goes_on_from_the_fit():
    """A small batch after fit moves the fitted parameters a little (it replaced them:
    one 10-row batch moved the means by about 3)."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (500, 2)), rng.normal(5, 1, (500, 2))])
    rng.shuffle(X)
    gm = bnem.GaussianMixture(2, random_state=0).fit(X)
    means = gm.means_.copy()
    gm.partial_fit(X[:10])
    assert np.abs(gm.means_ - means).max() < 0.1


def test_a_symlink_to_the_output_is_not_a_second_output(tmp_path, capsys):
    from bnem.cli.main import main
    net = load("asia")
    bif = tmp_path / "asia.bif"
    bnem.write_bif(net, bif)
    net.sample(100, seed=1).to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "hl.csv").symlink_to(tmp_path / "out.bif")
    assert main(["fit", str(bif), str(tmp_path / "d.csv"), "-o", str(tmp_path / "out.bif"),
                 "--history", str(tmp_path / "hl.csv")]) == 2
    assert "--history and -o name the same file" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["discrete", "mixture"])
def test_online_checkpoint_and_resume_equal_an_uninterrupted_run(tmp_path, kind):
    if kind == "discrete":
        net = bnem.load_network("asia")
        df = net.sample(1200, seed=4, missing=0.2)
        options = dict(method="online", batch_rows=200, max_passes=2, seed=0, prior=1.0)
    else:
        rng = np.random.default_rng(5)
        df = pd.DataFrame(np.vstack([rng.normal(0, 1, (300, 2)), rng.normal(4, 1, (300, 2))]),
                          columns=["a", "b"])
        df.iloc[::9, 1] = np.nan
        net = bnem.gaussian_mixture(["a", "b"], 2)
        options = dict(method="online", batch_rows=100, max_passes=2, seed=0)
    full = bnem.fit(net, df, **options)
    ckpt = tmp_path / "online.ckpt"
    stop_at = {"n": 0}

    def stop(progress):  # stop during the second pass, after 8 batches in all
        stop_at["n"] += 1
        return stop_at["n"] == 8

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        part = bnem.fit(net, df, checkpoint=ckpt, callback=stop, **options)
    assert part.stopped and len(part.history) == 8
    learned = []  # the resumed run learns only the batches after the checkpoint
    resumed = bnem.fit(net, df, resume=ckpt, checkpoint=ckpt,
                       callback=lambda progress: learned.append(progress.iteration), **options)
    assert len(learned) == len(full.history) - 8
    cols = [c for c in full.history.columns if c != "seconds"]
    pd.testing.assert_frame_equal(resumed.history[cols], full.history[cols], rtol=1e-10)
    np.testing.assert_allclose(resumed.network.flat_params(), full.network.flat_params(),
                               rtol=1e-10)
    for node in net.continuous_nodes:
        np.testing.assert_allclose(resumed.network.cpd(node).variance,
                                   full.network.cpd(node).variance, rtol=1e-10)
    again = bnem.fit(net, df, resume=ckpt, **options)   # a finished run: nothing left
    np.testing.assert_allclose(again.network.flat_params(), full.network.flat_params(),
                               rtol=1e-10)
    assert len(again.history) == len(full.history)
    with pytest.raises(bnem.BnemError, match="with other options: batch_rows=50"):
        bnem.fit(net, df, resume=ckpt, **{**options, "batch_rows": 50})
    batch_ckpt = tmp_path / "batch.ckpt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bnem.fit(net, df, max_iter=2, checkpoint=batch_ckpt, seed=0)
    with pytest.raises(bnem.BnemError, match="batch EM checkpoint"):
        bnem.fit(net, df, resume=batch_ckpt, **options)
