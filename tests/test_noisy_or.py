"""Noisy-OR nodes: the table form, the M-step against its decomposition and an optimiser,
recovery from sampled data, counting, files and the errors users can meet."""

import itertools
import json
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize

import bnem
from bnem.em import noisy_or as nem
from bnem.errors import BnemValueError, NetworkError
from bnem.io.json_checks import JSONFormatError
from bnem.network.noisy_or import NoisyOr, is_noisy_or, links_of, table
from conftest import curvature_errors

S = ["no", "yes"]
STATES = {"a": S, "b": ["yes", "no"], "c": ["none", "mild", "severe"]}
LINKS = {"a": 0.8, "b": 0.4, "c": {"mild": 0.3, "severe": 0.9}}


def base(**extra):
    return bnem.BayesianNetwork({**STATES, "x": S, **extra}, {"x": ["a", "b", "c"]},
                                {"a": [0.6, 0.4], "b": [0.3, 0.7], "c": [0.5, 0.3, 0.2]})


def truth():
    return base().noisy_or("x", links=LINKS, leak=0.05)


def test_table_is_the_noisy_or_formula_and_links_read_back():
    net = truth()
    t = net.cpd("x").values  # (a, b, c, x); b's absent state "no" is its second
    for ia, ib, ic in itertools.product(range(2), range(2), range(3)):
        q = 0.95 * (0.2 if ia == 1 else 1) * (0.6 if ib == 0 else 1) * [1, 0.7, 0.1][ic]
        assert t[ia, ib, ic].tolist() == pytest.approx([q, 1 - q], abs=1e-15)
    links = net.links_of("x")
    assert links.to_dict() == pytest.approx({("a", "yes"): 0.8, ("b", "yes"): 0.4,
                                             ("c", "mild"): 0.3, ("c", "severe"): 0.9,
                                             ("leak", ""): 0.05}, abs=1e-12)
    spec = net.constraints.forms["x"]
    assert spec.absent == (0, 1, 0, 0) and spec.leak  # "no", "no", "none", "no"


def test_absent_states_are_chosen_by_name_or_given():
    net = base().noisy_or("x", absent={"c": "mild"})
    assert net.constraints.forms["x"].absent == (0, 1, 1, 0)
    with pytest.raises(NetworkError, match="absent state 'maybe' of 'c' is not one of"):
        base().noisy_or("x", absent={"c": "maybe"})
    with pytest.raises(NetworkError, match=r"\['z'\] are not 'x' or its parents"):
        base().noisy_or("x", absent={"z": "no"})


def test_free_parameters_are_the_links_and_the_leak():
    plain = base()
    assert plain.n_parameters == 1 + 1 + 2 + 12
    assert truth().n_parameters == 1 + 1 + 2 + (1 + 1 + 2 + 1)
    assert base().noisy_or("x", leak=False).n_parameters == 1 + 1 + 2 + 4
    assert truth().fix("x").n_parameters == 4


def decomposed(links, leak):
    """The noisy-OR written out: a mechanism per parent (absent with the parent's absent
    state: held), a leak node, and x the fixed deterministic OR of them."""
    var = {**STATES, "za": S, "zb": S, "zc": S, "l": S, "x": S}
    parents = {"za": ["a"], "zb": ["b"], "zc": ["c"], "x": ["za", "zb", "zc", "l"]}
    orx = np.zeros((2,) * 5)
    for z in itertools.product(range(2), repeat=4):
        orx[z + (int(any(z)),)] = 1
    p_c = links["c"]
    cpds = {"a": [0.6, 0.4], "b": [0.3, 0.7], "c": [0.5, 0.3, 0.2],
            "za": [[1, 0], [1 - links["a"], links["a"]]],
            "zb": [[1 - links["b"], links["b"]], [1, 0]],
            "zc": [[1, 0], [1 - p_c["mild"], p_c["mild"]], [1 - p_c["severe"], p_c["severe"]]],
            "l": [1 - leak, leak], "x": orx}
    net = bnem.BayesianNetwork(var, parents, cpds).fix("x")
    held = {"za": [[True] * 2, [False] * 2], "zb": [[False] * 2, [True] * 2],
            "zc": [[True] * 2, [False] * 2, [False] * 2]}
    for node, mask in held.items():
        net = net.hold(node, mask)
    return net


def test_one_mechanism_step_is_em_on_the_decomposed_network(monkeypatch):
    start_links = {"a": 0.6, "b": 0.5, "c": {"mild": 0.4, "severe": 0.7}}
    start = base().noisy_or("x", links=start_links, leak=0.2)
    dec = decomposed(start_links, 0.2)
    df = truth().sample(1500, seed=2, missing=0.3)
    monkeypatch.setattr(nem, "INNER_STEPS", 1)
    kw = dict(init="network", max_iter=6, tol=0, accelerate="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.ConvergenceWarning)
        ours, theirs = bnem.fit(start, df, **kw), bnem.fit(dec, df, **kw)
    assert np.allclose(ours.history.log_likelihood, theirs.history.log_likelihood,
                       rtol=1e-12, atol=0)
    n = theirs.network
    written_out = [n.cpd("za").values[1, 1], n.cpd("zb").values[0, 1],
                   *n.cpd("zc").values[1:, 1], n.cpd("l").values[1]]
    assert ours.network.links_of("x").to_numpy() == pytest.approx(written_out, abs=1e-12)
    # the default M-step climbs further per E-step and reaches the same optimum
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.ConvergenceWarning)
        monkeypatch.setattr(nem, "INNER_STEPS", 100)
        full = bnem.fit(start, df, init="network", tol=1e-10, max_iter=500)
        dec_full = bnem.fit(dec, df, init="network", tol=1e-10, max_iter=500)
    assert full.log_likelihood == pytest.approx(dec_full.log_likelihood, rel=1e-9)
    n = dec_full.network
    assert full.network.links_of("x").to_numpy() == pytest.approx(
        [n.cpd("za").values[1, 1], n.cpd("zb").values[0, 1], *n.cpd("zc").values[1:, 1],
         n.cpd("l").values[1]], abs=2e-4)


def expected_loglik(spec, counts, x):
    k = counts.ndim - 1
    sizes = counts.shape[:-1]
    links, pos = [], 0
    for i, c in enumerate(sizes):
        p = np.zeros(c)
        free = [j for j in range(c) if j != spec.absent[i]]
        p[free] = x[pos:pos + len(free)]
        pos += len(free)
        links.append(p)
    t = table(spec, links, x[pos] if spec.leak else 0.0, counts.shape)
    return float((counts * np.log(np.where(counts > 0, t, 1.0))).sum())


@pytest.mark.parametrize("leak", [True, False])
def test_the_m_step_climbs_to_the_maximum_an_optimiser_finds(leak):
    rng = np.random.default_rng(0)
    spec = NoisyOr(absent=(0, 1, 0, 0), leak=leak)
    counts = rng.gamma(2.0, 5.0, size=(2, 2, 3, 2))
    if not leak:
        counts[0, 1, 0, 1] = 0.0  # every parent absent: present is impossible
    start = table(spec, [np.array([0, .5]), np.array([.5, 0]), np.array([0, .5, .5])],
                  0.1 if leak else 0.0, counts.shape)
    values, t = [], start
    for _ in range(30):  # each mechanism step never lowers the objective
        values.append(expected_loglik(spec, counts, _vector(spec, t)))
        t = nem.maximize_links(spec, counts, t, steps=1)
    assert np.all(np.diff(values) >= -1e-9)
    best = nem.maximize_links(spec, counts, start, steps=20000)
    n = 4 + int(leak)
    opt = minimize(lambda x: -expected_loglik(spec, counts, x), np.full(n, 0.5),
                   method="L-BFGS-B", bounds=[(1e-9, 1 - 1e-9)] * n,
                   options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10000})
    ours = expected_loglik(spec, counts, _vector(spec, best))
    assert ours >= -opt.fun - 1e-8
    assert _vector(spec, best) == pytest.approx(opt.x, abs=1e-4)


def _vector(spec, t):
    links, leak = links_of(spec, t)
    free = [np.delete(p, a) for p, a in zip(links, spec.absent)]
    return np.concatenate(free + ([np.array([leak])] if spec.leak else []))


def test_em_recovers_the_links_from_incomplete_samples():
    df = truth().sample(20000, seed=1, missing=0.2)
    res = bnem.fit(base().noisy_or("x"), df, seed=0)
    assert res.network.links_of("x").to_numpy() == pytest.approx(
        truth().links_of("x").to_numpy(), abs=0.03)


def test_random_starts_reach_the_optimum_of_the_true_start():
    # a start whose links sit at exactly 0 could never leave it (the update multiplies
    # by the link): random starts keep their links off 0 and 1
    s = ["no", "yes"]
    net = bnem.BayesianNetwork({"u": s, "w": s, "x": s}, {"x": ["u", "w"]},
                               {"u": [.5, .5], "w": [.5, .5]})
    true = net.noisy_or("x", links={"u": .7, "w": .4}, leak=.2)
    df = true.sample(2000, seed=0, missing=.2)
    best = bnem.fit(true, df, init="network").log_likelihood
    for seed in range(8):
        assert bnem.fit(net.noisy_or("x"), df, seed=seed).log_likelihood == \
            pytest.approx(best, abs=1e-6)


def test_a_hidden_cause_with_a_noisy_or_child():
    # a latent parent of two noisy-OR findings: EM with SQUAREM and plain EM agree
    net = bnem.BayesianNetwork({"d": S, "e": S, "f1": S, "f2": S},
                               {"f1": ["d", "e"], "f2": ["d", "e"]},
                               {"d": [0.7, 0.3], "e": [0.8, 0.2]})
    true = net.noisy_or("f1", links={"d": 0.9, "e": 0.5}, leak=0.1) \
        .noisy_or("f2", links={"d": 0.6, "e": 0.2}, leak=0.05)
    df = true.sample(2000, seed=4).drop(columns="d")
    start = net.noisy_or("f1").noisy_or("f2")
    fast = bnem.fit(start, df, seed=1, tol=1e-10, max_iter=2000)
    plain = bnem.fit(start, df, seed=1, tol=1e-10, max_iter=5000, accelerate="none")
    assert fast.log_likelihood == pytest.approx(plain.log_likelihood, abs=1e-4)
    from_truth = bnem.fit(true, df, init="network", tol=1e-10, max_iter=2000)
    assert fast.log_likelihood == pytest.approx(from_truth.log_likelihood, abs=1e-4)
    # the complete-case start draws the links of a latent parent's child at random (a
    # start from the complete cases alone would have them all alike, at 0)
    cc = bnem.fit(start, df, init="complete-case", seed=1, tol=1e-10, max_iter=2000)
    assert cc.log_likelihood == pytest.approx(from_truth.log_likelihood, abs=1e-4)
    assert fast.network.n_parameters == 1 + 1 + 3 + 3  # d, e, and two links + leak each
    assert fast.network.noisy_or_nodes == ("f1", "f2")


def test_no_leak_keeps_its_structural_zero_and_a_prior_stays_finite():
    start = base().noisy_or("x", leak=False)
    df = base().noisy_or("x", links=LINKS, leak=False).sample(3000, seed=5, missing=0.2)
    res = bnem.fit(start, df, prior=1.0, seed=0)
    t = res.network.cpd("x").values
    assert t[0, 1, 0, 1] == 0.0 and t[0, 1, 0, 0] == 1.0
    assert np.isfinite(res.history.log_posterior).all()
    assert res.network.links_of("x")[("leak", "")] == 0.0
    assert res.network.links_of("x").to_numpy()[:-1] == pytest.approx(
        [0.8, 0.4, 0.3, 0.9], abs=0.06)


def test_a_fixed_noisy_or_node_keeps_its_table():
    net = truth().fix("x")
    res = bnem.fit(net, net.sample(500, seed=0, missing=0.3), seed=0)
    assert np.array_equal(res.network.cpd("x").values, net.cpd("x").values)


def test_shared_noisy_or_tables_pool_their_counts():
    net = bnem.BayesianNetwork({"a": S, "x1": S, "x2": S}, {"x1": ["a"], "x2": ["a"]},
                               {"a": [0.5, 0.5]})
    shared = net.share("item", ["x1", "x2"]).noisy_or("x1")
    assert shared.noisy_or_nodes == ("x1", "x2") and shared.n_parameters == 1 + 2
    true = net.share("item", ["x1", "x2"]).noisy_or("x1", links={"a": 0.7}, leak=0.1)
    res = bnem.fit(shared, true.sample(4000, seed=3, missing=0.2), seed=0)
    assert np.array_equal(res.network.cpd("x1").values, res.network.cpd("x2").values)
    assert res.network.links_of("x2").to_numpy() == pytest.approx([0.7, 0.1], abs=0.04)


def test_online_em_keeps_the_noisy_or_form():
    df = truth().sample(4000, seed=6, missing=0.2)
    res = bnem.fit(base().noisy_or("x"), df, method="online", batch_rows=1000,
                   max_passes=2, seed=0)
    batch = bnem.fit(base().noisy_or("x"), df, seed=0)
    assert res.network.links_of("x").to_numpy() == pytest.approx(
        batch.network.links_of("x").to_numpy(), abs=0.05)


def test_json_round_trips_and_bif_warns(tmp_path):
    net = truth()
    path = tmp_path / "n.json"
    bnem.write_json(net, path)
    doc = json.loads(path.read_text())
    assert doc["noisy_or"] == {"x": {"absent": {"a": "no", "b": "no", "c": "none",
                                                "x": "no"}, "leak": True}}
    back = bnem.read_json(path)
    assert back == net and back.n_parameters == net.n_parameters
    doc["nodes"][-1]["cpd"][0][0][0] = [0.5, 0.5]  # no longer a noisy-OR table
    with pytest.raises(JSONFormatError, match=r"noisy_or\['x'\].*not a noisy-OR table"):
        bnem.read_json(json.dumps(doc))
    with pytest.warns(bnem.FormatWarning, match="noisy-OR form of x"):
        bnem.write_bif(net, tmp_path / "n.bif")


def test_cli_info_names_noisy_or_nodes(tmp_path, capsys):
    from bnem.cli.main import main
    path = tmp_path / "n.json"
    bnem.write_json(truth(), path)
    assert main(["info", str(path)]) == 0
    assert "noisy-OR: x (absent: a=no, b=no, c=none, x=no; with leak)" in capsys.readouterr().out


def test_errors_say_what_was_expected():
    net = base()
    three = bnem.BayesianNetwork({"a": S, "x": ["lo", "mid", "hi"]}, {"x": ["a"]})
    with pytest.raises(NetworkError, match="two states.*'x' has 3.*noisy-MAX"):
        three.noisy_or("x")
    with pytest.raises(NetworkError, match="the table given is not a noisy-OR table"):
        odd = np.full((2, 2, 3, 2), [0.2, 0.8])
        odd[1] = [0.9, 0.1]  # a present parent that makes x less likely: no OR
        truth().with_cpds({"x": odd})
    with pytest.raises(NetworkError, match="cannot hold entries of 'x'.*noisy-OR"):
        truth().hold("x", np.eye(2, dtype=bool)[[0] * 12].reshape(2, 2, 3, 2))
    with pytest.raises(NetworkError, match=r"no link probability for parent\(s\) \['c'\]"):
        net.noisy_or("x", links={"a": 0.5, "b": 0.5})
    with pytest.raises(NetworkError, match=r"link of a is a probability in \[0, 1\], got 1.5"):
        net.noisy_or("x", links={"a": 1.5, "b": 0.5, "c": 0.5})
    with pytest.raises(NetworkError, match="'none' is not a present state of 'c'"):
        net.noisy_or("x", links={"a": 0.5, "b": 0.5, "c": {"none": 0.1}})
    with pytest.raises(bnem.BnemError, match=r"absent=\.\.\.\): a mapping .* got 'no'"):
        net.noisy_or("x", absent="no")
    with pytest.raises(NetworkError, match="leak=0.*leak=False means no leak"):
        net.noisy_or("x", leak=0)
    with pytest.raises(NetworkError, match="'a' is not a noisy-OR node"):
        truth().links_of("a")
    with pytest.raises(BnemValueError, match="'opg' does not cover Poisson rates or noisy"):
        bnem.standard_errors(truth(), truth().sample(50, seed=0), method="opg")


def test_standard_errors_of_links_equal_the_log_likelihood_s_curvature():
    import warnings

    net = bnem.BayesianNetwork({"a": ["no", "yes"], "b": ["no", "mild", "severe"],
                                "x": ["no", "yes"]}, {"x": ["a", "b"]})
    true_ = net.with_cpds({"a": [0.6, 0.4], "b": [0.5, 0.3, 0.2]}).noisy_or(
        "x", links={"a": 0.7, "b": {"mild": 0.3, "severe": 0.8}}, leak=0.1)
    df = true_.sample(800, seed=3, missing=0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = bnem.fit(true_.noisy_or("x"), df, tol=1e-12, init="network").network
    se = bnem.standard_errors(fitted, df)
    rows = se[se.node == "x"]
    assert list(rows.state) == ["link", "link", "link", "leak"]
    assert list(rows.parents) == ["a=yes", "b=mild", "b=severe", ""]
    links = fitted.links_of("x").to_numpy()
    np.testing.assert_allclose(rows.estimate, links, rtol=1e-12)

    def loglik(v):  # a's and b's free entries, the three links, the leak
        other = fitted.with_cpds({"a": [v[0], 1 - v[0]], "b": [v[1], v[2], 1 - v[1] - v[2]]})
        return other.noisy_or("x", links={"a": v[3], "b": {"mild": v[4], "severe": v[5]}},
                              leak=v[6]).log_likelihood(df)

    x0 = np.r_[fitted.cpd("a").values[0], fitted.cpd("b").values[:2], links]
    expect = curvature_errors(loglik, x0, 1e-4 * np.minimum(x0, 1 - x0))
    got = np.r_[se[(se.node == "a") & (se.state == "no")].se,
                se[(se.node == "b") & se.state.isin(["no", "mild"])].se, rows.se]
    np.testing.assert_allclose(got, expect, rtol=2e-3)


def test_select_cardinality_keeps_noisy_or_children_of_the_latent_node():
    net = bnem.BayesianNetwork({"d": S, "f1": S, "f2": S, "f3": S},
                               {f: ["d"] for f in ("f1", "f2", "f3")}, {"d": [0.6, 0.4]})
    true = net
    for f, p in (("f1", 0.9), ("f2", 0.7), ("f3", 0.5)):
        true = true.noisy_or(f, links={"d": p}, leak=0.1)
    start = net.noisy_or("f1").noisy_or("f2").noisy_or("f3")
    table = bnem.select_cardinality(start, true.sample(600, seed=2).drop(columns="d"),
                                    "d", ks=[2, 3], n_init=2)
    fits = table.attrs["fits"]
    assert [f.network.noisy_or_nodes for f in fits.values()] == [("f1", "f2", "f3")] * 2
    # d with 3 states: each finding has 2 links and a leak; d itself 2 parameters
    assert table.set_index("k").loc[3, "n_parameters"] == 2 + 3 * 3


def test_fit_and_cli_declare_noisy_or_nodes(tmp_path, capsys):
    from bnem.cli.main import main
    df = truth().sample(3000, seed=7, missing=0.1)
    res = bnem.fit(base(), df, noisy_or="x", seed=0)
    assert res.network.noisy_or_nodes == ("x",)
    assert res.network == bnem.fit(base().noisy_or("x"), df, seed=0).network
    bnem.write_json(base(), tmp_path / "net.json")
    df.to_csv(tmp_path / "d.csv", index=False)
    code = main(["fit", str(tmp_path / "net.json"), str(tmp_path / "d.csv"), "-o",
                 str(tmp_path / "out.json"), "--noisy-or", "x"])
    assert code == 0
    out = bnem.read_json(tmp_path / "out.json")
    assert out.noisy_or_nodes == ("x",) and out == res.network
    code = main(["fit", str(tmp_path / "net.json"), str(tmp_path / "d.csv"), "-o",
                 str(tmp_path / "o2.json"), "--noisy-or", "c"])
    assert code != 0
    assert "a noisy-OR node has two states" in capsys.readouterr().err


def test_fit_option_keeps_a_declared_noisy_or_node_as_it_is():
    declared = base().noisy_or("x", absent={"a": "yes"}, links=LINKS, leak=0.05)
    df = truth().sample(500, seed=9, missing=0.1)
    res = bnem.fit(declared, df, noisy_or="x", init="network", max_iter=2)
    assert res.network.constraints.forms["x"] == declared.constraints.forms["x"]


def test_a_noisy_or_without_links_or_leak_is_listed_as_its_table():
    states = ["no", "yes"]
    net = bnem.BayesianNetwork({"a": states, "n": states, "x": states}, {"x": ["a"]}) \
        .with_cpds({"a": [0.5, 0.5]}).noisy_or("n", leak=False) \
        .noisy_or("x", links={"a": 0.5}, leak=0.1)
    se = bnem.standard_errors(net, net.sample(100, seed=0))
    assert list(dict.fromkeys(se.node)) == ["a", "n", "x"]
    n = se[se.node == "n"]
    assert list(n.state) == ["no", "yes"] and n.se.isna().all()   # not free: no error
    assert list(se[se.node == "x"].state) == ["link", "leak"]
