"""Ways in and readable results: bundled networks, networks from edges and data, pgmpy
models passed to fit, CPDs as frames, the history per restart, the trace plot."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bnem
from conftest import assert_monotone


def test_bundled_networks_load_by_name_and_list():
    names = bnem.network_names()
    # bnem's own eight, and the bnlearn networks pgmpy installs
    assert {"asia", "alarm", "child", "insurance", "munin", "ecoli70"} <= set(names)
    asia = bnem.load_network("ASIA")
    assert asia.nodes[:3] == ("asia", "tub", "smoke")
    assert bnem.load_network("asia.bif") == asia
    assert bnem.load_network("ecoli70").continuous_nodes  # a Gaussian one, from JSON
    with pytest.raises(bnem.BnemError, match=r"named 'alram'; did you mean 'alarm'\?.*Available: "
                                             r"alarm, "):
        bnem.load_network("alram")
    with pytest.raises(TypeError, match="expected a network name"):
        bnem.load_network(3)


def test_from_edges_reads_kinds_and_states_from_the_data():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"smoke": rng.choice(["yes", "no"], 50),
                       "grade": rng.integers(1, 4, 50),
                       "height": rng.normal(170, 10, 50)})
    df.loc[3, "smoke"] = None
    net = bnem.BayesianNetwork.from_edges(
        [("H", "smoke"), ("H", "grade"), ("grade", "height")], df, latent={"H": 3})
    assert net.nodes == ("H", "smoke", "grade", "height")
    assert net.states("H") == ("0", "1", "2") and net.states("smoke") == ("no", "yes")
    assert net.states("grade") == ("1", "2", "3") and net.continuous_nodes == ("height",)
    res = bnem.fit(net, df, seed=0, n_init=2, max_iter=30)
    assert_monotone(res)
    # a categorical column keeps its declared categories, unseen ones included
    cat = df.assign(smoke=pd.Categorical(df["smoke"], ["yes", "no", "maybe"]))
    assert bnem.BayesianNetwork.from_edges([("smoke", "grade")], cat).states("smoke") == \
        ("yes", "no", "maybe")


@pytest.mark.parametrize("edges, kwargs, message", [
    ([("H", "smoke")], {}, r"node 'H' has no column in the data.*latent=\{'H': 2\}"),
    ([("height", "smoke")], {}, r"discrete node 'smoke' has parent\(s\) \['height'\].*"
                                r"discrete=\['height'\]"),
    ([("smoke", "grade")], {"latent": {"smoke": 2}}, "declared latent but the data has values"),
    ([("H", "smoke")], {"latent": {"H": 1}}, "at least 2 states"),
    ([("H", "smoke")], {"latent": {"H": "many"}}, "expected a number of states"),
    (["ab"], {}, r"a \(parent, child\) pair"),
    ([("smoke", "grade")], {"discrete": ["nope"]}, r"discrete= names \['nope'\]"),
    ([("empty", "grade")], {}, "'empty' has no observed value.*declare it latent"),
])
def test_from_edges_errors_say_what_to_do(edges, kwargs, message):
    df = pd.DataFrame({"smoke": ["yes", "no"], "grade": [1, 2], "height": [1.5, 1.7],
                       "empty": [None, None]})
    with pytest.raises(bnem.BnemError, match=message):
        bnem.BayesianNetwork.from_edges(edges, df, **kwargs)
    with pytest.raises(TypeError, match="expected the data as a pandas DataFrame"):
        bnem.BayesianNetwork.from_edges([("a", "b")], [[1, 2]])


def test_discrete_flag_turns_many_whole_numbers_into_states():
    df = pd.DataFrame({"age": np.arange(30) % 15, "y": ["a", "b"] * 15})
    with pytest.raises(bnem.NetworkError, match="discrete="):
        bnem.BayesianNetwork.from_edges([("age", "y")], df)
    net = bnem.BayesianNetwork.from_edges([("age", "y")], df, discrete=["age"])
    assert len(net.states("age")) == 15


def test_fit_takes_a_pgmpy_model_with_or_without_cpds():
    from pgmpy.models import DiscreteBayesianNetwork

    net = bnem.load_network("asia")
    df = net.sample(400, seed=0, missing=0.2)
    with_cpds = bnem.fit(net.to_pgmpy(), df, seed=0, max_iter=20)
    direct = bnem.fit(net, df, seed=0, max_iter=20)
    assert with_cpds.log_likelihood == pytest.approx(direct.log_likelihood, abs=1e-9)
    # a structure only: states from the data (sample gives categories in the
    # network's order; plain text would be sorted), tables learned
    bare = DiscreteBayesianNetwork(list(net.to_pgmpy().edges()))
    res = bnem.fit(bare, df, seed=0, max_iter=20)
    assert res.network.states("asia") == ("yes", "no")
    text = bnem.BayesianNetwork.from_pgmpy(bare, df.astype(object))
    assert text.states("asia") == ("no", "yes")
    assert_monotone(res)
    with pytest.raises(bnem.BnemError, match="init='network' starts from the model's CPDs"):
        bnem.fit(bare, df, init="network")
    # a latent node pgmpy declares: its number of states as pgmpy's latent_card
    hidden = DiscreteBayesianNetwork([("H", "smoke"), ("H", "lung")], latents={"H"})
    with pytest.raises(bnem.NetworkError, match=r"from_pgmpy\(model, data, latent=\{'H': 2\}\)"):
        bnem.fit(hidden, df)
    built = bnem.BayesianNetwork.from_pgmpy(hidden, df, latent={"H": 2})
    assert built.states("H") == ("0", "1")
    # a child's CPD names a parent's states, in the child's order
    model = net.to_pgmpy()
    model.remove_cpds(model.get_cpds("smoke"))
    partial = bnem.BayesianNetwork.from_pgmpy(model)
    assert partial.states("smoke") == net.states("smoke")
    np.testing.assert_array_equal(partial.cpd("lung").values, net.cpd("lung").values)


@pytest.mark.parametrize("bad, hint", [("asia.bif", "bnem.read_network"),
                                       ([("a", "b")], "from_edges"), ({"a": 1}, "")])
def test_a_wrong_network_type_names_the_remedy(bad, hint):
    df = pd.DataFrame({"a": ["x"]})
    with pytest.raises(TypeError, match=f"fit: network must be a bnem.BayesianNetwork.*{hint}"):
        bnem.fit(bad, df)


def test_cpd_frames_equal_the_values_with_labels():
    net = bnem.load_network("asia")
    either = net.cpd("either")
    frame = either.to_frame()
    assert frame.index.names == ["lung", "tub"] and list(frame.columns) == ["yes", "no"]
    np.testing.assert_array_equal(frame.to_numpy(), either.values.reshape(-1, 2))
    assert frame.loc[("no", "no"), "no"] == either.values[1, 1, 1]
    assert "P(either | lung, tub)" in str(either) and "<table" in either._repr_html_()
    root = net.cpd("asia").to_frame()
    np.testing.assert_array_equal(root.to_numpy(), net.cpd("asia").values[None, :])
    # learned CPDs (made by the M-step) are labelled too
    res = bnem.fit(net, net.sample(200, seed=1), max_iter=2, seed=0)
    assert list(res.network.cpd("xray").to_frame().columns) == ["yes", "no"]
    mix = bnem.gaussian_mixture(["x", "y"], 2)
    g = mix.cpd("y").to_frame()
    assert list(g.columns) == ["intercept", "weight[x]", "variance"]
    np.testing.assert_array_equal(g["variance"], mix.cpd("y").variance)
    assert list(net.to_frame().columns) == ["kind", "states", "parents", "fixed"]
    assert "<table" in net._repr_html_() and "<table" in res._repr_html_()


def test_history_per_restart_has_its_own_seconds_and_esteps():
    net = bnem.load_network("asia")
    df = net.sample(300, seed=2, missing=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.ConvergenceWarning)
        res = bnem.fit(net, df, n_init=3, seed=0, max_iter=8)
    h = res.histories
    assert list(h.columns[:2]) == ["restart", "iteration"] and set(h["restart"]) == {0, 1, 2}
    for r, rows in h.groupby("restart"):
        assert rows["iteration"].iloc[0] == 0 and rows["n_estep"].iloc[0] == 1
        assert rows["seconds"].is_monotonic_increasing
        assert rows["log_likelihood"].iloc[-1] == res.restarts.loc[r, "log_likelihood"]
    assert h["n_estep"].groupby(h["restart"]).max().sum() == res.n_estep
    best = h[h["restart"] == res.best_restart].drop(columns="restart").reset_index(drop=True)
    pd.testing.assert_frame_equal(best, res.history)
    assert res.restarts["log_likelihood"].idxmax() == res.best_restart


def test_plot_shows_every_restart_without_the_start():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    net = bnem.load_network("asia")
    df = net.sample(300, seed=2, missing=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.ConvergenceWarning)
        res = bnem.fit(net, df, n_init=2, seed=0, max_iter=5)
    ax = res.plot()
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {f"restart {res.best_restart} (best)", f"restart {1 - res.best_restart}"}
    best = lines[f"restart {res.best_restart} (best)"]
    np.testing.assert_array_equal(best.get_xdata(), res.history["iteration"].iloc[1:])
    np.testing.assert_allclose(best.get_ydata(), res.history["log_likelihood"].iloc[1:])
    assert len(res.plot(restarts=False).get_lines()) == 1
    import matplotlib.pyplot as plt
    plt.close("all")


def test_review_followups_on_ways_in(tmp_path):
    from pgmpy.factors.discrete import TabularCPD as PgmpyCPD
    from pgmpy.models import DiscreteBayesianNetwork

    # a node's own CPD names its states, even when a child lists them in another order
    model = DiscreteBayesianNetwork([("A", "B"), ("B", "C")])
    model.add_cpds(PgmpyCPD("A", 2, [[0.7], [0.3]], state_names={"A": ["a0", "a1"]}),
                   PgmpyCPD("B", 2, [[0.9, 0.2], [0.1, 0.8]], evidence=["A"], evidence_card=[2],
                            state_names={"B": ["b0", "b1"], "A": ["a1", "a0"]}))
    net = bnem.BayesianNetwork.from_pgmpy(model, pd.DataFrame({"C": ["c0", "c1"]}))
    assert net.states("A") == ("a0", "a1") and net.cpd("A").values[0] == pytest.approx(0.7)
    assert net.cpd("B").to_frame().loc["a1", "b0"] == pytest.approx(0.9)
    # numbers read as text (read_table) are numbers
    csv = tmp_path / "hy.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"g": ["a", "b"] * 50, "y": rng.normal(size=100)}).to_csv(csv, index=False)
    net = bnem.BayesianNetwork.from_edges([("H", "g"), ("H", "y")], bnem.read_table(csv),
                                          latent={"H": 2})
    assert net.continuous_nodes == ("y",)
    # a CPD pickled before CPDs carried state names still works
    cpd = bnem.load_network("asia").cpd("lung")
    del cpd.state_names
    assert bnem.load_network("asia").cpd("lung").to_frame().shape == (2, 2)


def test_select_cardinality_of_an_estimator_refuses_fit_options():
    X = pd.DataFrame({"q0": ["a", "b"] * 20, "q1": ["a", "a", "b", "b"] * 10})
    lca = bnem.LatentClassModel(2, n_init=1)
    with pytest.raises(bnem.BnemError, match=r"got \['n_init'\]"):
        bnem.select_cardinality(lca, X, [1, 2], n_init=50)


def test_kmeans_is_scikit_learns_name_for_the_k_means_start():
    mix = bnem.gaussian_mixture(["x", "y"], 2)
    rng = np.random.default_rng(0)
    df = pd.DataFrame(np.vstack([rng.normal(0, 1, (100, 2)), rng.normal(5, 1, (100, 2))]),
                      columns=["x", "y"])
    a = bnem.fit(mix, df, init="kmeans", seed=3, max_iter=5)
    b = bnem.fit(mix, df, init="k-means++", seed=3, max_iter=5)
    np.testing.assert_array_equal(a.history["log_likelihood"], b.history["log_likelihood"])
