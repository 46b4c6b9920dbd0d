"""SQUAREM: the same optimum as plain EM in fewer E-steps, a history that never drops."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bnem
from conftest import assert_monotone, load


def _coords(network, min_variance, prior=0.0):
    """SQUAREM's coordinates of ``network``'s families."""
    from bnem.em.accelerate import _Coordinates
    from bnem.em.families import Context, families_for
    from bnem.em.mstep import Maximizer
    from bnem.inference.structure import Structure
    return _Coordinates(families_for(Context(network, Structure.of(network), Maximizer(network),
                                             prior, min_variance)))


def _fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.ConvergenceWarning)
        warnings.simplefilter("ignore", bnem.DegenerateWarning)
        return bnem.fit(*args, **kwargs)


def test_latent_node_same_optimum_in_fewer_e_steps():
    net = load("child")
    df = net.sample(2000, seed=1, hide=["Disease"])
    plain = _fit(net, df, max_iter=3000, tol=1e-9, seed=0, accelerate="none")
    fast = _fit(net, df, max_iter=3000, tol=1e-9, seed=0, accelerate="squarem")
    assert plain.converged and fast.converged
    assert_monotone(fast)
    assert fast.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-7)
    assert fast.n_estep < plain.n_estep / 1.5
    h = fast.history
    assert list(h.columns) == ["iteration", "log_likelihood", "delta", "seconds", "n_estep", "step"]
    assert h.step.iloc[0] == "start" and set(h.step.iloc[1:]) <= {"em", "squarem"}
    assert (h.step == "squarem").any()
    assert h.n_estep.iloc[-1] == fast.n_estep
    assert np.all(np.diff(h.n_estep.to_numpy()) == 3)  # three E-steps per iteration
    np.testing.assert_allclose(fast.network.flat_params(), plain.network.flat_params(),
                               atol=2e-3)


def test_map_objective_and_missing_cells():
    net = load("asia")
    df = net.sample(1500, seed=3, missing=0.4)
    plain = _fit(net, df, max_iter=2000, tol=1e-10, seed=2, prior=0.5, accelerate="none")
    fast = _fit(net, df, max_iter=2000, tol=1e-10, seed=2, prior=0.5, accelerate="squarem")
    assert_monotone(fast)  # on history.log_posterior
    assert "log_posterior" in fast.history.columns
    assert fast.history.log_posterior.iloc[-1] == pytest.approx(
        plain.history.log_posterior.iloc[-1], rel=1e-8)


def test_gaussian_mixture_with_missing_cells():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal([0, 0, 0], 1.0, (300, 3)), rng.normal([2.5, 1, -1], 0.7, (300, 3))])
    df = pd.DataFrame(x, columns=["a", "b", "c"]).mask(rng.random((600, 3)) < 0.15)
    gm = bnem.gaussian_mixture(["a", "b", "c"], 2, covariance="full")
    plain = _fit(gm, df, max_iter=3000, tol=1e-10, seed=1, accelerate="none")
    fast = _fit(gm, df, max_iter=3000, tol=1e-10, seed=1, accelerate="squarem")
    assert_monotone(fast)
    assert fast.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-8)
    assert fast.n_estep < plain.n_estep
    for node, cpd in plain.network.gaussian_cpds.items():  # the same optimum, up to labels
        mine = fast.network.cpd(node)
        np.testing.assert_allclose(np.sort(np.ravel(mine.variance)),
                                   np.sort(np.ravel(cpd.variance)), rtol=1e-3)


def test_structural_zeros_stay_zero():
    truth = bnem.BayesianNetwork(
        {"H": ["a", "b"], "x": ["0", "1", "2"], "y": ["0", "1"]},
        {"x": ["H"], "y": ["H"]},
        {"H": [0.4, 0.6], "x": [[0.7, 0.3, 0.0], [0.1, 0.5, 0.4]], "y": [[0.9, 0.1], [0.2, 0.8]]})
    df = truth.sample(1000, seed=2, hide=["H"])
    start = truth.with_cpds({"x": [[0.5, 0.5, 0.0], [0.2, 0.4, 0.4]]})
    fast = _fit(start, df, init="network", max_iter=300, tol=1e-10, accelerate="squarem")
    assert_monotone(fast)
    assert fast.network.cpd("x").values[0, 2] == 0.0


@pytest.mark.parametrize("kwargs, match", [
    ({"accelerate": "fast"}, "accelerate must be one of 'auto', 'none', 'squarem'; got 'fast'"),
    ({"accelerate": "squarem", "hard": True}, "accelerate='squarem' needs soft EM"),
])
def test_bad_options(kwargs, match):
    with pytest.raises(bnem.BnemError, match=match):
        bnem.fit(load("asia"), load("asia").sample(10, seed=0), **kwargs)


def test_cli_accelerate(tmp_path, capsys):
    from bnem.cli.main import main
    net = load("asia")
    net.sample(300, seed=1, missing=0.3).to_csv(tmp_path / "d.csv", index=False)
    bnem.write_bif(net, tmp_path / "asia.bif")
    assert main(["-q", "fit", str(tmp_path / "asia.bif"), str(tmp_path / "d.csv"), "-o",
                 str(tmp_path / "o.bif"), "--accelerate", "squarem", "--history",
                 str(tmp_path / "h.csv")]) == 0
    h = pd.read_csv(tmp_path / "h.csv")
    assert "step" in h.columns and h.step.iloc[0] == "start"


def test_variance_floor_keeps_squarem_monotone():
    """An extrapolated variance below min_variance would let the stabilising (floored)
    M-step lower the objective; proposals are held at the floor like the M-step's."""
    import pathlib
    df = pd.read_csv(pathlib.Path(__file__).parent / "data" / "squarem_floor.csv")
    gm = bnem.gaussian_mixture(["c0"], 4)
    for seed in (32, 36):
        res = _fit(gm, df, seed=seed, max_iter=400, tol=1e-9, min_variance=0.3,
                   accelerate="squarem")
        assert_monotone(res)
        variances = np.asarray(res.network.cpd("c0").variance)
        assert (variances >= 0.3).all()


@pytest.mark.slow
def test_barren_cells_summed_out_keep_the_fixed_points():
    """sum_out_barren changes EM's path, not its fixed points: started at plain EM's
    converged parameters it stays there, and the likelihood of every E-step is exact."""
    net = load("alarm")
    df = net.sample(2000, seed=4, missing=0.4)
    plain = _fit(net, df, max_iter=3000, tol=1e-11, seed=1, accelerate="none")
    assert plain.converged
    again = _fit(plain.network, df, init="network", max_iter=20, tol=0, sum_out_barren=True)
    assert_monotone(again)
    assert again.history.log_likelihood.iloc[0] == pytest.approx(plain.log_likelihood,
                                                                 rel=1e-13)
    assert again.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-8)
    fitted = _fit(net, df, max_iter=3000, tol=1e-11, seed=1, sum_out_barren=True)
    assert_monotone(fitted)
    back = _fit(fitted.network, df, init="network", max_iter=20, tol=0)
    assert back.log_likelihood == pytest.approx(fitted.log_likelihood, rel=1e-8)


def test_barren_option_is_checked():
    with pytest.raises(bnem.BnemError, match="sum_out_barren must be True or False"):
        bnem.fit(load("asia"), load("asia").sample(10, seed=0), sum_out_barren="yes")


def test_step_length_metric_is_the_complete_data_information_per_row():
    """SQUAREM measures its step in a metric of the complete-data information per row,
    on the data's scale: a table entry by sqrt((count + prior) / rows), a Gaussian
    intercept by sqrt(P(u)) / s (``s`` the node's standard deviation within
    configurations), a slope that times its parent's ``s``, a log variance by
    sqrt(P(u) / 2) -- not by the conditional variance, which a collapsing
    configuration drives to 0 (that weighed it without bound: 50x more E-steps and a
    worse optimum on a random CLG network)."""
    from bnem.inference.stats import Moments, Stats
    from bnem.network.parameters import Parameters

    gm = bnem.gaussian_mixture(["a", "b"], 2, covariance="full")
    params = Parameters(gm.flat_params(), dict(gm.gaussian_cpds))
    n = np.array([3.0, 1.0])
    m1 = np.array([[0.5, -1.0], [0.2, 0.4]])
    m2 = np.array([[[4.0, 1.0], [1.0, 3.0]], [[2.0, 0.5], [0.5, 1.5]]])
    counts = np.array([3.0, 1.0])
    stats = Stats(counts, (Moments(n, m1, m2),), 0.0, None, 4.0)
    got = _coords(gm, 1e-6, prior=0.5).metric(params, stats)
    sd = np.sqrt(((np.einsum("kii->ki", m2) - m1 ** 2 / n[:, None]).sum(axis=0)) / n.sum())
    share = n / 4.0
    want = np.concatenate([np.sqrt((counts + 0.5) / 4.0),
                           np.sqrt(share) / sd[0], np.sqrt(share / 2),                 # a
                           np.sqrt(share) / sd[1], np.sqrt(share) / sd[1] * sd[0],     # b
                           np.sqrt(share / 2)])
    assert list(gm.gaussian_cpds) == ["a", "b"] and gm.cpd("b").continuous_parents == ("a",)
    np.testing.assert_allclose(got, want, rtol=1e-14)
    x, _ = _coords(gm, 1e-6).to_vector(params)
    assert x.shape == got.shape
    # the weights do not depend on the conditional variances (guards against dividing
    # by them again: a collapsing configuration then weighed without bound)
    tiny = {node: bnem.GaussianCPD(node, cpd.discrete_parents, cpd.continuous_parents,
                                   cpd.intercept, cpd.weights, [1e-12, 1.0])
            for node, cpd in gm.gaussian_cpds.items()}
    again = _coords(gm, 1e-6, prior=0.5).metric(Parameters(params.theta, tiny), stats)
    np.testing.assert_array_equal(again, got)


@pytest.mark.parametrize("spoil", ["lower", "impossible"])
def test_rejected_proposals_leave_plain_em(monkeypatch, spoil):
    """A constructed extrapolation that lowers the objective (a state seen in the data
    given probability 1e-300), or that gives an observed row probability 0, is
    rejected: every cycle is then two plain EM steps (the same parameters as plain EM
    after twice the iterations), and still costs its three E-steps."""
    from bnem.em.accelerate import Squarem
    from bnem.network.parameters import Parameters

    net = load("asia")
    df = net.sample(400, seed=5, missing=0.3)
    seen = []

    def spoiled(self, p0, p1, p2, metric, step_max):
        theta = p2.theta.copy()
        theta[:2] = [1e-300, 1.0] if spoil == "lower" else [0.0, 1.0]  # asia's first table
        seen.append(theta)
        return Parameters(theta, p2.gaussians), 1.0

    assert net.nodes[0] == "asia" and net.cpd("asia").values.shape == (2,)
    assert df["asia"].eq(net.states("asia")[0]).any()  # the spoiled state is observed
    monkeypatch.setattr(Squarem, "_extrapolate", spoiled)
    fast = _fit(net, df, max_iter=6, tol=0, seed=3, accelerate="squarem")
    plain = _fit(net, df, max_iter=12, tol=0, seed=3, accelerate="none")
    assert len(seen) == 6
    assert_monotone(fast)
    assert list(fast.history.step) == ["start"] + ["em"] * 6
    assert fast.n_estep == 1 + 3 * 6
    assert fast.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-13)
    np.testing.assert_allclose(fast.network.flat_params(), plain.network.flat_params(),
                               rtol=1e-10, atol=1e-13)


def test_proposals_stay_on_the_simplex():
    """Whatever the extrapolated vector, its tables are distributions and structural
    zeros stay zero; variances stay at or above the floor; a vector whose variances
    would overflow is no network (it crashed the fit before)."""
    from bnem.network.parameters import Parameters

    gm = bnem.gaussian_mixture(["a", "b"], 3, covariance="full")
    coords = _coords(gm, 0.25)
    theta = np.array([0.5, 0.5, 0.0])
    x, zero = coords.to_vector(Parameters(theta, dict(gm.gaussian_cpds)))
    rng = np.random.default_rng(0)
    for scale in (1.0, 20.0, 80.0, 1e300):
        y = x + rng.normal(0.0, scale, x.size)
        p = coords.to_params(y, zero, Parameters(theta, dict(gm.gaussian_cpds)))
        if scale > 80:  # variances beyond floating point: no network, the EM point is taken
            assert p is None
            continue
        assert p is not None and np.all(p.theta >= 0) and p.theta[2] == 0.0
        assert p.theta.sum() == pytest.approx(1.0, abs=1e-15)
        for cpd in p.gaussians.values():
            assert np.all(np.asarray(cpd.variance) >= 0.25)


def _random_latent():
    from conftest import random_network
    net = random_network(np.random.default_rng(4), 6, max_parents=2)
    hide = [max(net.nodes, key=lambda n: len(net.children(n)))]
    return net, net.sample(3000, seed=4, missing=0.15, hide=hide), 4


def _random_clg():
    from hybrid_oracle import random_hybrid
    net = random_hybrid(np.random.default_rng(101))  # a configuration's variance collapses
    return net, net.sample(1500, seed=1, missing=0.2), 1


def _mixture():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal([0, 0, 0], 1.0, (300, 3)), rng.normal([2.5, 1, -1], 0.7, (300, 3))])
    df = pd.DataFrame(x, columns=["a", "b", "c"]).mask(rng.random((600, 3)) < 0.15)
    return bnem.gaussian_mixture(["a", "b", "c"], 2, covariance="full"), df, 0


@pytest.mark.parametrize("case", [_random_latent, _random_clg, _mixture])
def test_same_optimum_as_plain_em_from_the_same_start(case):
    """From the same start, SQUAREM and plain EM reach the same optimum: the
    log-likelihood to 1e-8 relative and every parameter to 1e-5 (on these identified
    models; where a latent model is nearly unidentified, plain EM's parameters creep
    along a ridge long after the likelihood has converged, and agree only to ~1e-3)."""
    net, df, seed = case()
    plain = _fit(net, df, max_iter=20000, tol=1e-13, seed=seed, accelerate="none")
    fast = _fit(net, df, max_iter=20000, tol=1e-13, seed=seed, accelerate="squarem")
    assert plain.converged and fast.converged
    assert_monotone(fast)
    assert fast.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-8)
    np.testing.assert_allclose(fast.network.flat_params(), plain.network.flat_params(),
                               rtol=0, atol=1e-5)
    for node, cpd in plain.network.gaussian_cpds.items():
        mine = fast.network.cpd(node)
        for part in ("intercept", "weights", "variance"):
            np.testing.assert_allclose(getattr(mine, part), getattr(cpd, part), rtol=0,
                                       atol=1e-5, err_msg=f"{node} {part}")


def test_a_column_constant_within_configurations_keeps_the_steps():
    """A column with no spread (here constant, after continuous parents) weighed its
    slopes to inf, which turned every extrapolation into NaN: SQUAREM silently ran
    plain EM at three E-steps per two EM steps. Its spread is now floored at the
    M-step's own floor."""
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal([0, 0, 0], [10, 1, 1], (300, 3)),
                   rng.normal([12, 1, -1], [7, .7, .7], (300, 3))])
    df = pd.DataFrame(x, columns=["a", "b", "c"]).mask(rng.random((600, 3)) < 0.15)
    df["k"] = 5.0
    gm = bnem.gaussian_mixture(["a", "b", "c", "k"], 2, covariance="full")
    plain = _fit(gm, df, max_iter=5000, tol=1e-10, seed=1, accelerate="none")
    fast = _fit(gm, df, max_iter=5000, tol=1e-10, seed=1, accelerate="squarem")
    assert (fast.history.step == "squarem").sum() >= 5
    assert fast.n_estep < plain.n_estep / 2
    assert fast.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-8)


@pytest.mark.parametrize("value", [1e200, -1e300])
def test_proposals_with_huge_coefficients_are_rejected(monkeypatch, value):
    """Finite but huge extrapolated coefficients make the joint covariances overflow
    (a singular-matrix error in the trial E-step, a crash before): the proposal is
    rejected and the plain EM point taken."""
    from bnem.em.accelerate import Squarem
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal([0, 0, 0], 1.0, (300, 3)), rng.normal([2.5, 1, -1], 0.7, (300, 3))])
    df = pd.DataFrame(x, columns=["a", "b", "c"]).mask(rng.random((600, 3)) < 0.15)
    gm = bnem.gaussian_mixture(["a", "b", "c"], 2, covariance="full")

    def huge(self, p0, p1, p2, metric, step_max):
        gaussians = {n: bnem.GaussianCPD(n, c.discrete_parents, c.continuous_parents,
                                         c.intercept, np.full(np.shape(c.weights), value),
                                         c.variance)
                     for n, c in p2.gaussians.items()}
        return type(p2)(p2.theta, gaussians), 1.0

    monkeypatch.setattr(Squarem, "_extrapolate", huge)
    fast = _fit(gm, df, max_iter=3, tol=0, seed=0, accelerate="squarem")
    plain = _fit(gm, df, max_iter=6, tol=0, seed=0, accelerate="none")
    assert list(fast.history.step) == ["start", "em", "em", "em"]
    assert fast.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-12)


def _slow_mixture() -> tuple:
    """Four full-covariance components in 5-D, 20% of cells missing: from seed 1, plain
    EM crosses a slow stretch where one EM step gains less than 1e-8 nats per row."""
    rng = np.random.default_rng(5)
    centres = rng.normal(0.0, 2.5, (4, 5))
    mixing = np.array([rng.normal(size=(5, 5)) / 2 + np.eye(5) for _ in range(4)])
    z = rng.integers(0, 4, 5000)
    x = centres[z] + np.einsum("rij,rj->ri", mixing[z], rng.normal(size=(5000, 5)))
    cols = list("abcde")
    df = pd.DataFrame(x, columns=cols).mask(rng.random((5000, 5)) < 0.2)
    return bnem.gaussian_mixture(cols, 4, covariance="full"), df


def test_squarem_stops_on_the_gain_of_a_whole_cycle():
    """SQUAREM's stopping test is the gain of a whole cycle, not of its first EM step:
    on a slow stretch where one EM step gains less than ``tol`` per row (plain EM stops
    there), the extrapolation still climbs. From this start SQUAREM at ``tol=1e-8``
    ends within 1e-7 nats per row of where a ``tol=1e-12`` fit ends, and above plain
    EM's stopping point by far more than ``tol``; stopping at the first small EM step
    would end below plain EM's."""
    net, df = _slow_mixture()
    fast = _fit(net, df, max_iter=2000, tol=1e-8, seed=1, accelerate="squarem")
    plain = _fit(net, df, max_iter=2000, tol=1e-8, seed=1, accelerate="none")
    tight = _fit(net, df, max_iter=2000, tol=1e-12, seed=1, accelerate="squarem")
    assert fast.converged and plain.converged and tight.converged
    assert_monotone(fast)
    n = len(df)
    assert (fast.log_likelihood - plain.log_likelihood) / n > 100 * 1e-8
    assert 0 <= (tight.log_likelihood - fast.log_likelihood) / n < 1e-7
    assert fast.history.delta.iloc[-1] <= 1e-8 * n < fast.history.delta.iloc[-2]
