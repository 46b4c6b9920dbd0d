"""Network model: variables, DAG validation, CPD validation, sampling."""

import numpy as np
import pandas as pd
import pytest

import bnem
from conftest import load


def test_variable_rules():
    v = bnem.Variable("x", ["a", "b"])
    assert v.card == 2 and v.index("b") == 1
    with pytest.raises(ValueError, match="repeats state name"):
        bnem.Variable("x", ["a", "a"])
    with pytest.raises(ValueError, match="at least one state"):
        bnem.Variable("x", [])
    with pytest.raises(ValueError, match="'c' is not a state of 'x'"):
        v.index("c")


def test_cycle_is_rejected_and_named():
    with pytest.raises(bnem.CycleError, match=r"directed cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)"):
        bnem.BayesianNetwork({"a": ["0", "1"], "b": ["0", "1"], "c": ["0", "1"]},
                             {"b": ["a"], "c": ["b"], "a": ["c"]})


@pytest.mark.parametrize("parents, match", [
    ({"b": ["z"]}, "has parent 'z', which is not a node"),
    ({"z": ["a"]}, "parents given for 'z', which is not a node"),
    ({"b": ["a", "a"]}, "lists a parent twice"),
    ({"a": ["a"]}, "directed cycle: a -> a"),
])
def test_bad_structure(parents, match):
    with pytest.raises(bnem.NetworkError, match=match):
        bnem.BayesianNetwork({"a": ["0", "1"], "b": ["0", "1"]}, parents)


def test_cpd_not_normalised_names_node_and_configuration():
    with pytest.raises(bnem.NetworkError,
                       match=r"CPD of 'b' is not normalised: the distribution for parents "
                             r"\(a=yes\) sums to 0.9"):
        bnem.BayesianNetwork({"a": ["yes", "no"], "b": ["0", "1"]}, {"b": ["a"]},
                             {"b": [[0.5, 0.4], [0.5, 0.5]]})


@pytest.mark.parametrize("table, match", [
    ([[0.5, 0.5, 0.0]], r"must have shape \(2, 2\)"),
    ([[1.5, -0.5], [0.5, 0.5]], "invalid entry -0.5"),
    ([[np.nan, 1.0], [0.5, 0.5]], "invalid entry nan"),
    ([["x", "y"], [0.5, 0.5]], "values are not numeric"),
])
def test_bad_cpd(table, match):
    with pytest.raises(bnem.NetworkError, match=match):
        bnem.BayesianNetwork({"a": ["yes", "no"], "b": ["0", "1"]}, {"b": ["a"]}, {"b": table})


def test_near_normalised_tables_are_made_exact_and_exact_ones_kept():
    net = bnem.BayesianNetwork({"a": ["x", "y", "z"]}, {}, {"a": [0.3333333, 0.3333333, 0.3333333]})
    assert net.cpd("a").values.sum() == pytest.approx(1.0, abs=1e-15)
    exact = [0.1, 0.2, 0.7]
    net2 = bnem.BayesianNetwork({"a": ["x", "y", "z"]}, {}, {"a": exact})
    assert net2.cpd("a").values.tolist() == exact


def test_cpd_for_unknown_node_and_wrong_parents():
    with pytest.raises(bnem.NetworkError, match="CPDs given for unknown node"):
        bnem.BayesianNetwork({"a": ["0", "1"]}, {}, {"q": [0.5, 0.5]})
    cpd = bnem.TabularCPD("b", [], [0.5, 0.5])
    with pytest.raises(bnem.NetworkError, match="conditioned on"):
        bnem.BayesianNetwork({"a": ["0", "1"], "b": ["0", "1"]}, {"b": ["a"]}, {"b": cpd})


def test_structure_only_network_gets_uniform_tables_and_counts_parameters():
    net = bnem.BayesianNetwork({"a": ["0", "1", "2"], "b": ["0", "1"]}, {"b": ["a"]})
    np.testing.assert_allclose(net.cpd("b").values, 0.5)
    assert net.n_parameters == 2 + 3
    assert net.edges == [("a", "b")]
    assert net.children("a") == ("b",)
    with pytest.raises(bnem.NetworkError, match="'zz' is not a node"):
        net.parents("zz")


def test_sampling_is_seeded_and_matches_the_cpds():
    net = load("asia")
    a = net.sample(20_000, seed=5)
    b = net.sample(20_000, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(net.sample(20_000, seed=6))
    # P(smoke) = 0.5, P(lung=yes | smoke=yes) = 0.1
    assert (a["smoke"] == "yes").mean() == pytest.approx(0.5, abs=0.015)
    lung = a.loc[a["smoke"] == "yes", "lung"]
    assert (lung == "yes").mean() == pytest.approx(0.1, abs=0.01)
    # deterministic node: either = lung or tub
    either = (a["lung"] == "yes") | (a["tub"] == "yes")
    assert ((a["either"] == "yes") == either).all()


def test_sampling_missing_and_hide():
    net = load("asia")
    df = net.sample(10_000, seed=1, missing=0.25, hide=["either"])
    assert "either" not in df.columns and df.shape[1] == 7
    assert df.isna().to_numpy().mean() == pytest.approx(0.25, abs=0.01)
    with pytest.raises(bnem.NetworkError, match="cannot hide 'nope'"):
        net.sample(10, hide=["nope"])
    with pytest.raises(ValueError, match="missing must be <= 1"):
        net.sample(10, missing=1.5)
    with pytest.raises(TypeError, match="n must be an integer"):
        net.sample("ten")


def test_with_cpds_and_equality():
    net = load("cancer")
    other = net.with_cpds({"Pollution": [0.5, 0.5]})
    assert other != net
    assert net.with_cpds({}) == net


def test_parents_given_as_string_or_none_and_states_as_string():
    net = bnem.BayesianNetwork({"rain": ["y", "n"], "wet": ["y", "n"]}, {"wet": "rain", "rain": None})
    assert net.edges == [("rain", "wet")]
    with pytest.raises(TypeError, match="must be a sequence of state names, got the string 'yn'"):
        bnem.BayesianNetwork({"rain": "yn"})
    with pytest.raises(TypeError, match="parents must be a mapping"):
        bnem.BayesianNetwork({"rain": ["y", "n"]}, [("rain", "wet")])


@pytest.mark.parametrize("seed, error, match", [
    (-1, ValueError, "seed must be >= 0"),
    ("a", TypeError, "seed must be None, an integer"),
    (1.5, TypeError, "seed must be None, an integer"),
])
def test_bad_seeds(seed, error, match):
    net = load("asia")
    with pytest.raises(error, match=match):
        net.sample(3, seed=seed)
    with pytest.raises(error, match=match):
        bnem.fit(net, net.sample(20, seed=0), seed=seed)


def test_network_from_flat_parameters_equals_a_checked_construction():
    """A fit's networks are copies of the template sharing its structure: equal to the
    network built from scratch with the same CPDs, the template untouched, tables
    still checked, and a Gaussian CPD of other parents still refused."""
    from bnem.errors import NetworkError
    from bnem.network.gaussian import GaussianCPD
    from bnem.network.parameters import Parameters
    net = bnem.gaussian_mixture(["a", "b"], 2)
    theta = np.array([0.3, 0.7])
    cpds = {n: GaussianCPD(n, c.discrete_parents, c.continuous_parents, c.intercept + 1.0,
                           c.weights, c.variance * 2.0)
            for n, c in net.gaussian_cpds.items()}
    new = Parameters(theta, cpds).to_network(net)
    built = bnem.BayesianNetwork(list(net.variables.values()),
                                 {n: net.parents(n) for n in net.nodes},
                                 {**cpds, new.discrete_nodes[0]: theta}, name=net.name)
    assert new == built and new != net
    assert net.cpd(net.discrete_nodes[0]).values.tolist() == [0.5, 0.5]  # template kept
    assert not net.cards.flags.writeable  # the shared structure cannot change
    with pytest.raises(NetworkError, match="not normalised"):
        Parameters(np.array([0.3, 0.3]), cpds).to_network(net)
    wrong = {**cpds, "b": GaussianCPD("b", [], [], 0.0, None, 1.0)}
    with pytest.raises(NetworkError, match="parents"):
        Parameters(theta, wrong).to_network(net)
    like = net.cpd("a")  # values that only the unchecked constructor lets through
    for b0, var, match in (([0.0, np.nan], [1.0, 1.0], "intercept must be finite"),
                           ([0.0, 0.0], [1.0, -2.0], "variance must be > 0"),
                           ([0.0, 0.0], [1.0, np.inf], "variance must be finite")):
        bad = GaussianCPD.fitted(like, np.array(b0), np.zeros((2, 0)), np.array(var))
        with pytest.raises(NetworkError, match=match):
            Parameters(theta, {**cpds, "a": bad}).to_network(net)
