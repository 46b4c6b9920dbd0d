"""Shared tables, fixed CPDs and held entries (bnem.network.constraints, the M-step)."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

import bnem
from bnem.em.mstep import Maximizer
from bnem.em.options import OPTIONS
from bnem.errors import BnemTypeError, BnemValueError, NetworkError
from bnem.inference.bruteforce import brute_force
from bnem.io.json_checks import JSONFormatError

from conftest import assert_monotone

STATES = ["s0", "s1", "s2"]


def latent_class(seed: int = 0) -> bnem.BayesianNetwork:
    """z (2 states) -> x1, x2, x3 (3 states each), random tables."""
    rng = np.random.default_rng(seed)
    return bnem.BayesianNetwork(
        {"z": ["a", "b"], "x1": STATES, "x2": STATES, "x3": STATES},
        {"x1": ["z"], "x2": ["z"], "x3": ["z"]},
        {"z": rng.dirichlet([2, 2]), **{x: rng.dirichlet(np.ones(3), size=2)
                                        for x in ("x1", "x2", "x3")}})


def sample_items(n: int, seed: int, missing: float = 0.2) -> pd.DataFrame:
    truth = latent_class(100).share("item", ["x1", "x2"])
    df = truth.sample(n, seed=seed, missing=missing)
    return df.drop(columns="z")


def _codes(net: bnem.BayesianNetwork, df: pd.DataFrame) -> np.ndarray:
    codes = np.full((len(df), len(net.nodes)), -1)
    for j, node in enumerate(net.nodes):
        if node in df:
            states = list(net.states(node))
            codes[:, j] = [-1 if pd.isna(v) else states.index(v) for v in df[node]]
    return codes


def brute_force_em(net: bnem.BayesianNetwork, df: pd.DataFrame, n_iter: int,
                   groups: list[list[str]]) -> tuple[bnem.BayesianNetwork, list[float]]:
    """EM written out by hand: family posteriors by enumerating the joint, counts of
    each group of nodes summed, every member given the normalised sum."""
    codes = _codes(net, df)
    lls = []
    for it in range(n_iter + 1):
        log_p, posts = brute_force(net, codes)
        lls.append(float(log_p.sum()))
        if it == n_iter:
            break
        counts = {node: posts[i].sum(axis=0) for i, node in enumerate(net.nodes)}
        for g in groups:
            pooled = sum(counts[n] for n in g)
            counts.update({n: pooled for n in g})
        net = net.with_cpds({n: c / c.sum(axis=-1, keepdims=True) for n, c in counts.items()})
    return net, lls


# -- declaring -----------------------------------------------------------------------
def test_share_copies_the_first_table_and_counts_it_once():
    net = latent_class()
    tied = net.share("item", ["x1", "x2"])
    np.testing.assert_array_equal(tied.cpd("x2").values, net.cpd("x1").values)
    assert tied.shared_groups == {"item": ("x1", "x2")}
    assert net.n_parameters == 1 + 3 * 4 and tied.n_parameters == 1 + 2 * 4
    assert net.shared_groups == {}  # the original is unchanged


def test_fix_and_hold_count_free_parameters():
    net = latent_class()
    assert net.fix(["x1", "x3"]).n_parameters == 1 + 4
    mask = np.array([[True, False, False], [False, False, False]])
    held = net.hold("x1", mask)
    assert held.n_parameters == net.n_parameters - 1
    np.testing.assert_array_equal(held.held_mask("x1"), mask)
    assert held.fixed_nodes == () and net.fix("z").fixed_nodes == ("z",)


@pytest.mark.parametrize("call, error, match", [
    (lambda n: n.share("item", ["x1"]), NetworkError, "at least two distinct"),
    (lambda n: n.share("item", ["x1", "z"]), NetworkError, r"one shape.*'z' has \(2,\)"),
    (lambda n: n.share("item", ["x1", "nope"]), NetworkError, "'nope' is not a node"),
    (lambda n: n.share("item", ["x1", "x2"]).share("item", ["x3", "x1"]), NetworkError,
     "exists already"),
    (lambda n: n.share("a", ["x1", "x2"]).share("b", ["x2", "x3"]), NetworkError,
     "already share"),
    (lambda n: n.share(3, ["x1", "x2"]), BnemTypeError, "non-empty string"),
    (lambda n: n.fix("nope"), NetworkError, "'nope' is not a node"),
    (lambda n: n.fix([1]), BnemTypeError, "node names"),
    (lambda n: n.hold("x1", [True, False, True]), NetworkError, r"shape \(3,\).*\(2, 3\)"),
    (lambda n: n.hold("x1", [[1, 0, 0], [0, 0, 0]]), BnemTypeError, "True/False"),
    (lambda n: n.hold("x1", np.eye(2, 3, dtype=bool)).share("g", ["x1", "x2"]), NetworkError,
     "hold different entries"),
])
def test_bad_declarations_say_what_was_expected(call, error, match):
    with pytest.raises(error, match=match):
        call(latent_class())


def test_a_placeholder_cpd_cannot_be_fixed():
    net = bnem.BayesianNetwork({"a": ["y", "n"], "b": ["y", "n"]}, {"b": ["a"]},
                               {"a": [0.3, 0.7]})
    assert net.fix("a").fixed_nodes == ("a",)
    with pytest.raises(NetworkError, match=r"cannot fix \['b'\].*without CPD values"):
        net.fix("b")
    with pytest.raises(NetworkError, match=r"cannot fix \['b'\]"):
        bnem.fit(net, pd.DataFrame({"a": ["y"], "b": ["n"]}), fixed=["b"])


# -- the M-step's closed forms ---------------------------------------------------------
def test_shared_tables_equal_one_table_fitted_on_pooled_counts():
    net = latent_class().share("item", ["x1", "x2"])
    df = pd.DataFrame({"z": ["a", "a", "b", "a"], "x1": ["s0", "s1", "s2", "s0"],
                       "x2": ["s0", "s0", "s2", "s2"], "x3": ["s1", "s1", "s1", "s0"]})
    res = bnem.fit(net, df, max_iter=1, init="uniform", accelerate="none")
    # z=a: x1 gives s0, s1, s0 and x2 gives s0, s0, s2 -> s0: 4, s1: 1, s2: 1 of 6
    expected = np.array([[4 / 6, 1 / 6, 1 / 6], [0.0, 0.0, 1.0]])
    for node in ("x1", "x2"):
        np.testing.assert_allclose(res.network.cpd(node).values, expected, atol=1e-15)
    np.testing.assert_allclose(res.network.cpd("x3").values[0], [1 / 3, 2 / 3, 0.0])


def test_prior_is_added_once_to_the_pooled_counts():
    net = latent_class().share("item", ["x1", "x2"])
    m = Maximizer(net)
    counts = np.arange(net.offsets[-1], dtype=float)
    theta, _ = m.maximize(counts, prior=0.5)
    lo1, hi1 = net.offsets[1], net.offsets[2]
    lo2, hi2 = net.offsets[2], net.offsets[3]
    pooled = (counts[lo1:hi1] + counts[lo2:hi2]).reshape(2, 3) + 0.5
    np.testing.assert_allclose(theta[lo1:hi1].reshape(2, 3),
                               pooled / pooled.sum(axis=1, keepdims=True), rtol=1e-15)
    np.testing.assert_array_equal(theta[lo1:hi1], theta[lo2:hi2])


def test_held_entries_keep_their_values_and_the_rest_is_the_lagrange_maximum():
    values = np.array([[0.1, 0.3, 0.6], [0.25, 0.25, 0.5]])
    net = latent_class().with_cpds({"x1": values})
    mask = np.array([[True, False, False], [False, True, True]])
    held = net.hold("x1", mask)
    m = Maximizer(held)
    counts = np.zeros(net.offsets[-1])
    lo = net.offsets[1]
    counts[lo:lo + 6] = [5.0, 2.0, 6.0, 7.0, 1.0, 1.0]
    theta, empty = m.maximize(counts)
    got = theta[lo:lo + 6].reshape(2, 3)
    # row 0: 0.1 held, 0.9 shared 2:6; row 1: all but one held, the last takes the rest
    np.testing.assert_allclose(got, [[0.1, 0.9 * 2 / 8, 0.9 * 6 / 8], [0.25, 0.25, 0.5]],
                               rtol=1e-15)
    assert not empty[1:3].any()  # x1's two distributions (z's and the others' are empty)
    # a distribution without counts: its free entries share the free mass equally
    theta, empty = m.maximize(np.zeros_like(counts))
    np.testing.assert_allclose(theta[lo:lo + 3], [0.1, 0.45, 0.45], rtol=1e-15)


def test_held_zero_and_lagrange_with_em_on_complete_data():
    """A held entry of any value: one EM step on complete data is the constrained MLE."""
    values = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])
    net = latent_class().with_cpds({"x3": values}).hold(
        "x3", np.array([[False, True, False], [True, False, False]]))
    df = latent_class(7).sample(500, seed=3)
    res = bnem.fit(net, df, max_iter=1, init="uniform", accelerate="none")
    got = res.network.cpd("x3").values
    for k, (h, v) in enumerate([(1, 0.3), (0, 0.6)]):
        n = df.loc[df.z == ["a", "b"][k], "x3"].value_counts().reindex(STATES, fill_value=0)
        free = [j for j in range(3) if j != h]
        expected = np.empty(3)
        expected[h] = v
        expected[free] = (1 - v) * n.to_numpy()[free] / n.to_numpy()[free].sum()
        np.testing.assert_allclose(got[k], expected, rtol=1e-13)


# -- EM with constraints against EM written out by hand ------------------------------------
def test_em_with_shared_tables_equals_brute_force_em():
    start = latent_class(3).share("item", ["x1", "x2"])
    df = sample_items(60, seed=5)
    res = bnem.fit(start, df, max_iter=6, tol=0, init="network", accelerate="none")
    expected, lls = brute_force_em(start, df, 6, [["x1", "x2"]])
    np.testing.assert_allclose(res.history.log_likelihood, lls, rtol=1e-12)
    for node in start.nodes:
        np.testing.assert_allclose(res.network.cpd(node).values, expected.cpd(node).values,
                                   rtol=1e-10, atol=1e-13)
    np.testing.assert_array_equal(res.network.cpd("x1").values, res.network.cpd("x2").values)
    assert res.network.shared_groups == {"item": ("x1", "x2")}


def test_em_with_all_but_one_cpd_fixed_is_the_closed_form_em_of_that_one():
    """Only the class weights free: EM's update is the mean posterior of the class."""
    net = latent_class(2)
    df = sample_items(80, seed=1)
    res = bnem.fit(net, df, max_iter=5, tol=0, init="network", accelerate="none",
                   fixed=["x1", "x2", "x3"])
    codes = _codes(net, df)
    weights = net.cpd("z").values
    for _ in range(5):
        _, posts = brute_force(net.with_cpds({"z": weights}), codes)
        weights = posts[0].mean(axis=0)
    np.testing.assert_allclose(res.network.cpd("z").values, weights, rtol=1e-12)
    for node in ("x1", "x2", "x3"):
        np.testing.assert_array_equal(res.network.cpd(node).values, net.cpd(node).values)
    assert set(res.network.fixed_nodes) == {"x1", "x2", "x3"}


@pytest.mark.parametrize("init", ["random", "uniform", "complete-case", "random-resp"])
def test_every_start_respects_the_constraints(init):
    values = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])
    net = latent_class().with_cpds({"x3": values}).share("item", ["x1", "x2"]).hold(
        "x3", np.array([[False, True, False], [False, False, False]])).fix("z")
    df = sample_items(100, seed=2)

    def first(progress):
        seen.append(progress)
        return True  # stop at the start

    seen: list = []
    res = bnem.fit(net, df, init=init, callback=first, max_iter=3)
    got = res.network
    np.testing.assert_array_equal(got.cpd("x1").values, got.cpd("x2").values)
    np.testing.assert_array_equal(got.cpd("z").values, net.cpd("z").values)
    assert got.cpd("x3").values[0, 1] == 0.3
    np.testing.assert_allclose(got.cpd("x3").values.sum(axis=1), 1.0, rtol=1e-14)
    assert len(seen) == 1


def test_squarem_restarts_and_map_keep_the_constraints_and_climb():
    net = latent_class(4).share("item", ["x1", "x2"]).fix("x3")
    df = sample_items(300, seed=9)
    res = bnem.fit(net, df, n_init=3, seed=1, prior=0.5, max_iter=100, tol=1e-9)
    assert_monotone(res)
    got = res.network
    np.testing.assert_array_equal(got.cpd("x1").values, got.cpd("x2").values)
    np.testing.assert_array_equal(got.cpd("x3").values, net.cpd("x3").values)
    plain = bnem.fit(net, df, n_init=3, seed=1, prior=0.5, max_iter=2000, tol=1e-12,
                     accelerate="none")
    assert abs(plain.history.log_posterior.iloc[-1] - res.history.log_posterior.iloc[-1]) \
        < 1e-5 * len(df)


def test_fixed_gaussian_cpd_never_changes_and_the_fit_climbs():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal([0, 4], 1.0, (150, 2)), rng.normal([4, 0], 0.5, (150, 2))])
    df = pd.DataFrame(x, columns=["u", "v"])
    df.iloc[::7, 0] = np.nan
    gm = bnem.gaussian_mixture(["u", "v"], 2, covariance="full")
    fitted = bnem.fit(gm, df, seed=0, n_init=2).network
    known = fitted.cpd("v")
    start = gm.with_cpds({"v": {"intercept": known.intercept, "weights": known.weights,
                                "variance": known.variance}})
    res = bnem.fit(start, df, seed=3, n_init=2, fixed=["v"])
    assert_monotone(res)
    assert res.network.cpd("v") == start.cpd("v")
    assert res.network.n_parameters == gm.n_parameters - known.n_parameters


def test_fit_is_keyword_only_and_its_options_are_the_table():
    sig = inspect.signature(bnem.fit)
    options = [p for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]
    assert [p.name for p in sig.parameters.values()][:2] == ["network", "data"]
    assert sorted(p.name for p in options) == sorted(o.name for o in OPTIONS)
    defaults = {o.name: o.default for o in OPTIONS}
    for p in options:
        if p.name != "init":  # None in the table: chosen by the network's kind
            assert p.default == defaults[p.name], p.name
    with pytest.raises(TypeError, match="positional"):
        bnem.fit(latent_class(), sample_items(5, 0), 10)  # type: ignore[misc]


def test_files_and_checkpoint_resume_equal_the_in_memory_fit(tmp_path):
    net = latent_class(4).share("item", ["x1", "x2"]).fix("x3")
    df = sample_items(400, seed=11)
    kw = dict(seed=2, n_init=2, max_iter=30, tol=1e-10)
    whole = bnem.fit(net, df, **kw)
    df.iloc[:150].to_csv(tmp_path / "a.csv", index=False)
    df.iloc[150:].to_csv(tmp_path / "b.csv", index=False)
    from_files = bnem.fit(net, [tmp_path / "a.csv", tmp_path / "b.csv"], **kw)
    np.testing.assert_allclose(from_files.history.log_likelihood, whole.history.log_likelihood,
                               rtol=1e-10)
    np.testing.assert_allclose(from_files.network.flat_params(), whole.network.flat_params(),
                               rtol=1e-9, atol=1e-12)
    ckpt = tmp_path / "run.ckpt"
    calls = []

    def stop_early(progress):
        calls.append(progress)
        return len(calls) == 5  # mid-way through the first restart

    bnem.fit(net, df, checkpoint=ckpt, callback=stop_early, **kw)
    resumed = bnem.fit(net, df, resume=ckpt, **kw)
    np.testing.assert_allclose(resumed.history.log_likelihood, whole.history.log_likelihood,
                               rtol=1e-10)
    np.testing.assert_allclose(resumed.network.flat_params(), whole.network.flat_params(),
                               rtol=1e-9, atol=1e-12)
    with pytest.raises(BnemValueError, match="network"):
        bnem.fit(latent_class(4).fix("x3"), df, resume=ckpt, **kw)  # sharing dropped


# -- files -------------------------------------------------------------------------------
def constrained_network() -> bnem.BayesianNetwork:
    values = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])
    return latent_class().with_cpds({"x3": values}).share("item", ["x1", "x2"]).hold(
        "x1", np.array([[False, False, True], [False, False, False]])).hold(
        "x3", np.array([[False, True, False], [False, False, False]])).fix("z")


def test_json_round_trips_shared_and_held_blocks(tmp_path):
    net = constrained_network()
    bnem.write_json(net, tmp_path / "net.json")
    back = bnem.read_json(tmp_path / "net.json")
    assert back == net
    assert back.shared_groups == {"item": ("x1", "x2")} and back.fixed_nodes == ("z",)
    np.testing.assert_array_equal(back.held_mask("x2"), net.held_mask("x1"))
    plain = latent_class()
    bnem.write_json(plain, tmp_path / "plain.json")
    assert '"shared"' not in (tmp_path / "plain.json").read_text()


@pytest.mark.parametrize("extra, match", [
    ('"shared": ["x1", "x2"]', "'shared' must be an object"),
    ('"held": {"x1": "yes"}', r"held\['x1'\]: expected true or nested arrays"),
    ('"held": {"x1": [[1, 0, 0], [0, 0, 0]]}', "true/false"),
    ('"held": {"x1": [true, false]}', r"shape \(2,\)"),
    ('"shared": {"g": ["x1", "x9"]}', "'x9' is not a node"),
    ('"shared": {"g": ["x1", "x3"]}', r"CPDs of \['x1', 'x3'\] differ"),
])
def test_bad_blocks_in_json_are_named(tmp_path, extra, match):
    text = bnem.io.json_format.format_json(latent_class())
    bad = text.rstrip().rstrip("}") + "," + extra + "}"
    with pytest.raises(JSONFormatError, match=match):
        bnem.io.json_format.parse_json(bad, "net.json")


def test_bif_writes_the_values_and_warns_once_what_is_lost(tmp_path):
    net = constrained_network()
    with pytest.warns(bnem.FormatWarning) as caught:
        bnem.write_bif(net, tmp_path / "net.bif")
    assert len(caught) == 1
    text = str(caught[0].message)
    for part in ("shared table 'item' (x1, x2)", "fixed CPD(s) of z",
                 "held entries of x1, x2, x3", "write_json"):
        assert part in text, part
    back = bnem.read_bif(tmp_path / "net.bif")
    np.testing.assert_array_equal(back.flat_params(), net.flat_params())
    assert back.shared_groups == {} and back.fixed_nodes == ()


def test_cli_fixed_keeps_the_named_cpds(tmp_path, capsys):
    from bnem.cli.main import main
    net = latent_class(5)
    bnem.write_json(net, tmp_path / "net.json")
    sample_items(200, seed=4).to_csv(tmp_path / "d.csv", index=False)
    code = main(["fit", str(tmp_path / "net.json"), str(tmp_path / "d.csv"), "-o",
                 str(tmp_path / "out.json"), "--fixed", "x1, x3", "--init", "network"])
    assert code == 0
    out = bnem.read_json(tmp_path / "out.json")
    assert out.fixed_nodes == ("x1", "x3")
    for node in ("x1", "x3"):
        np.testing.assert_array_equal(out.cpd(node).values, net.cpd(node).values)
    assert not np.array_equal(out.cpd("x2").values, net.cpd("x2").values)
    code = main(["fit", str(tmp_path / "net.json"), str(tmp_path / "d.csv"), "-o",
                 str(tmp_path / "o2.json"), "--fixed", "x7"])
    assert code != 0
    assert "'x7' is not a node" in capsys.readouterr().err


# -- standard errors ---------------------------------------------------------------------
def _unpack(phi: np.ndarray, v: float) -> dict:
    """The CPDs of the shared model from its free parameters (see the test below)."""
    z = [phi[0], 1 - phi[0]]
    item = [[phi[1], phi[2], 1 - phi[1] - phi[2]], [phi[3], phi[4], 1 - phi[3] - phi[4]]]
    x3 = [[phi[5], v, 1 - v - phi[5]], [phi[6], phi[7], 1 - phi[6] - phi[7]]]
    return {"z": z, "x1": item, "x2": item, "x3": x3}


def test_standard_errors_of_shared_and_held_parameters_equal_finite_differences():
    """The observed information in the free parameters (a shared table's once, held
    entries none) by second differences of the log-likelihood itself."""
    item = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]
    truth = latent_class().with_cpds({"z": [0.4, 0.6], "x1": item, "x2": item, "x3": [
        [0.5, 0.3, 0.2], [0.2, 0.2, 0.6]]}).share("item", ["x1", "x2"])
    df = truth.sample(1000, seed=8, missing=0.1).drop(columns="z")
    v = float(truth.cpd("x3").values[0, 1])
    net = truth.hold("x3", np.array([[False, True, False], [False, False, False]]))
    res = bnem.fit(net, df, seed=0, n_init=3, tol=1e-13, max_iter=5000)
    fitted = res.network
    phi = np.array([fitted.cpd("z").values[0], *fitted.cpd("x1").values[:, :2].ravel(),
                    fitted.cpd("x3").values[0, 0], *fitted.cpd("x3").values[1, :2]])

    def ll(p):
        return fitted.with_cpds(_unpack(p, v)).log_likelihood(df)

    np.testing.assert_allclose(ll(phi), res.log_likelihood, rtol=1e-12)
    h, k = 1e-4, phi.size
    hess = np.empty((k, k))
    for a in range(k):
        for b in range(k):
            e_a, e_b = np.eye(k)[a] * h, np.eye(k)[b] * h
            hess[a, b] = (ll(phi + e_a + e_b) - ll(phi + e_a - e_b) - ll(phi - e_a + e_b)
                          + ll(phi - e_a - e_b)) / (4 * h * h)
    cov = np.linalg.inv(-hess)
    expected = np.sqrt(np.diagonal(cov))
    table = res.standard_errors(df)
    se = {(r.node, r.parents, r.state): r.se for r in table.itertuples()}
    got = [se[("z", "", "a")], se[("x1", "z=a", "s0")], se[("x1", "z=a", "s1")],
           se[("x1", "z=b", "s0")], se[("x1", "z=b", "s1")], se[("x3", "z=a", "s0")],
           se[("x3", "z=b", "s0")], se[("x3", "z=b", "s1")]]
    np.testing.assert_allclose(got, expected, rtol=2e-3)
    for state in STATES:  # the shared table: one set of errors for both members
        assert se[("x2", "z=b", state)] == se[("x1", "z=b", state)]
    assert np.isnan(se[("x3", "z=a", "s1")])  # held: not estimated
    # the last free entry of a distribution with a held one: by the delta method
    np.testing.assert_allclose(se[("x3", "z=a", "s2")], expected[5], rtol=2e-3)


def test_info_names_the_blocks(tmp_path, capsys):
    from bnem.cli.main import main
    bnem.write_json(constrained_network(), tmp_path / "net.json")
    assert main(["info", str(tmp_path / "net.json")]) == 0
    out = capsys.readouterr().out
    assert "shared 'item': x1, x2" in out and "fixed: z" in out
    assert "held entries: x1 (1), x2 (1), x3 (1)" in out
    assert f"{constrained_network().n_parameters} free parameters" in out


def test_select_cardinality_keeps_the_blocks_and_counts_free_parameters():
    net = latent_class().with_cpds({"x3": [[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]]})
    net = net.share("item", ["x1", "x2"])
    df = sample_items(300, seed=6)
    table = bnem.select_cardinality(net, df, "z", [1, 2, 3], n_init=2)
    for k, row in zip([1, 2, 3], table.itertuples()):
        fitted = table.attrs["fits"][k].network
        assert fitted.shared_groups == {"item": ("x1", "x2")}
        assert row.n_parameters == (k - 1) + 2 * (2 * k) == fitted.n_parameters
        np.testing.assert_array_equal(fitted.cpd("x1").values, fitted.cpd("x2").values)
    with pytest.raises(BnemValueError, match=r"cannot vary the states of 'z'.*\['x3'\]"):
        bnem.select_cardinality(net.fix("x3"), df, "z", [2, 3])


def test_pgmpy_conversion_warns_what_it_loses():
    net = constrained_network()
    with pytest.warns(bnem.FormatWarning, match="pgmpy cannot express.*shared table 'item'"):
        model = net.to_pgmpy()
    back = bnem.BayesianNetwork.from_pgmpy(model)
    np.testing.assert_allclose(back.flat_params(), net.flat_params(), rtol=1e-12)


# -- found by review -------------------------------------------------------------------
def _xy(x_table):
    return bnem.BayesianNetwork({"z": ["a", "b"], "x": ["0", "1", "2", "3"][:len(x_table[0])],
                                 "y": ["0", "1"]}, {"x": ["z"], "y": ["z"]},
                                {"z": [0.5, 0.5], "x": x_table, "y": [[0.8, 0.2], [0.3, 0.7]]})


def test_entries_held_to_the_whole_mass_leave_nothing_free():
    """Held entries summing to 1 force the free ones to 0: not free parameters, no prior
    term, no degenerate-configuration warning, a finite MAP objective."""
    import warnings as w
    net = _xy([[0.6, 0.4, 0.0], [0.2, 0.3, 0.5]])
    held = net.hold("x", np.array([[True, True, False], [False] * 3]))
    assert held.n_parameters == net.n_parameters - 2
    four = _xy([[0.5, 0.5, 0.0, 0.0], [0.25] * 4]).hold(
        "x", np.array([[True, True, False, False], [False] * 4]))
    assert four.n_parameters == 1 + 3 + 2  # z, x | z=b, y
    df = net.sample(300, seed=0, hide=["z"])
    with w.catch_warnings():
        w.simplefilter("error", bnem.DegenerateWarning)
        res = bnem.fit(held, df, prior=1.0, seed=0, max_iter=500)
    assert res.converged and np.isfinite(res.history.log_posterior).all()
    np.testing.assert_array_equal(res.network.cpd("x").values[0], [0.6, 0.4, 0.0])


def test_a_seen_configuration_with_unseen_free_entries_is_not_called_empty():
    net = _xy([[0.6, 0.2, 0.2], [0.2, 0.3, 0.5]]).hold(
        "x", np.array([[True, False, False], [False] * 3]))
    df = pd.DataFrame({"z": ["a"] * 50 + ["b"] * 50, "x": ["0"] * 50 + ["2"] * 50,
                       "y": ["0", "1"] * 50})
    res = bnem.fit(net, df, max_iter=2, init="uniform", accelerate="none")
    assert res.empty_configurations == []
    np.testing.assert_allclose(res.network.cpd("x").values[0], [0.6, 0.2, 0.2])


def test_select_cardinality_takes_fixed_nodes_with_their_values():
    base = bnem.BayesianNetwork({"z": ["a", "b"], "s": ["0", "1"], "x": ["0", "1"]},
                                {"x": ["z", "s"]}, {"s": [0.3, 0.7]})
    df = base.with_cpds({"x": np.random.default_rng(0).dirichlet([1, 1], (2, 2))}).sample(
        300, seed=1, hide=["z"])
    table = bnem.select_cardinality(base, df, "z", [1, 2], n_init=2, fixed=["s"])
    for k in (1, 2):
        np.testing.assert_array_equal(table.attrs["fits"][k].network.cpd("s").values,
                                      [0.3, 0.7])


def test_with_cpds_keeps_every_block_consistent():
    net = latent_class().share("item", ["x1", "x2"])
    with pytest.raises(NetworkError, match=r"share the block 'item'.*\['x2'\] were given"):
        net.with_cpds({"x1": np.full((2, 3), 1 / 3), "x2": [[0.5, 0.25, 0.25]] * 2})
    same = net.with_cpds({"x1": np.full((2, 3), 1 / 3), "x2": np.full((2, 3), 1 / 3)})
    np.testing.assert_array_equal(same.cpd("x2").values, np.full((2, 3), 1 / 3))
    gm = bnem.gaussian_mixture(["a", "b", "c"], 2, "spherical")
    moved = gm.with_cpds({"b": {"intercept": [1.0, 2.0], "variance": [5.0, 7.0]}})
    for node in ("a", "c"):  # the shared variance moves with it; their means stay
        np.testing.assert_array_equal(moved.cpd(node).variance, [5.0, 7.0])
        np.testing.assert_array_equal(moved.cpd(node).intercept, gm.cpd(node).intercept)
    tied = bnem.gaussian_mixture(["a", "b"], 2, "tied")
    with pytest.raises(NetworkError, match="'a' has a tied covariance"):
        tied.with_cpds({"a": {"intercept": [0.0, 1.0], "variance": [1.0, 4.0]}})


def test_a_fitted_tied_mixture_round_trips_json_exactly():
    rng = np.random.default_rng(2)
    df = pd.DataFrame(rng.normal(size=(150, 3)), columns=list("abc"))
    fitted = bnem.fit(bnem.gaussian_mixture(list("abc"), 3, "tied"), df, seed=0).network
    from bnem.io.json_format import format_json, parse_json
    assert parse_json(format_json(fitted)) == fitted


def test_a_shared_placeholder_cannot_be_held_through_another_member():
    net = bnem.BayesianNetwork({"z": ["a", "b"], "x1": ["0", "1"], "x2": ["0", "1"]},
                               {"x1": ["z"], "x2": ["z"]}).share("i", ["x1", "x2"])
    for node in ("x1", "x2"):
        with pytest.raises(NetworkError, match="without CPD values"):
            net.hold(node, np.array([[True, False], [False, False]]))


def test_a_stop_at_the_converging_iteration_ends_a_finished_run(tmp_path):
    net = latent_class(4).share("item", ["x1", "x2"])
    df = sample_items(300, seed=11)
    kw = dict(seed=2, max_iter=200, tol=1e-6)
    whole = bnem.fit(net, df, **kw)
    last = int(whole.history.iteration.iloc[-1])
    stopped = bnem.fit(net, df, checkpoint=tmp_path / "c.ckpt",
                       callback=lambda p: p.iteration == last, **kw)
    assert stopped.converged and stopped.n_iter == last
    resumed = bnem.fit(net, df, resume=tmp_path / "c.ckpt", **kw)
    np.testing.assert_allclose(resumed.history.log_likelihood, whole.history.log_likelihood,
                               rtol=1e-12)
