"""The most probable explanation (max-product) against enumeration of every completion."""

import itertools

import numpy as np
import pandas as pd
import pytest

import bnem
from bnem.errors import BnemValueError, ImpossibleRowError


def enumerated(net, df):
    """Per row: max over its missing cells' joint states of log P(completed row), by
    trying every completion (the network's own log_prob of complete rows)."""
    nodes = list(net.discrete_nodes)
    out = np.empty(len(df))
    for i in range(len(df)):
        row = df.iloc[i]
        missing = [n for n in nodes if n not in df.columns or pd.isna(row.get(n))]
        grid = list(itertools.product(*[net.states(n) for n in missing]))
        full = pd.DataFrame([{**{n: row[n] for n in nodes if n not in missing},
                              **dict(zip(missing, g))} for g in grid])[nodes]
        out[i] = net.log_prob(full).max()
    return out


@pytest.mark.parametrize("name, missing, rows", [("asia", 0.5, 60), ("child", 0.12, 40)])
def test_the_maximum_is_the_best_completion_and_the_states_attain_it(name, missing, rows):
    net = bnem.load_network(name)
    df = net.sample(rows, seed=3, missing=missing)
    completed, best = bnem.most_probable(net, df)
    np.testing.assert_allclose(best, enumerated(net, df), rtol=1e-12, atol=1e-12)
    # the states returned attain it, and keep every observed cell
    np.testing.assert_allclose(net.log_prob(completed.astype(str)), best, rtol=1e-12)
    seen = df.notna()
    assert (completed[df.columns].astype(str).where(seen, "")
            == df.astype(str).where(seen, "")).all().all()


def test_latent_nodes_are_explained_too_and_impute_fills_the_joint_mode():
    net = bnem.load_network("asia")
    df = net.sample(300, seed=4, missing=0.3).drop(columns=["either", "tub"])
    completed, best = bnem.most_probable(net, df)
    assert list(completed.columns) == list(net.discrete_nodes)
    np.testing.assert_allclose(net.log_prob(completed.astype(str)), best, rtol=1e-12)
    np.testing.assert_allclose(best[:40], enumerated(net, df.iloc[:40]), rtol=1e-12)
    # a pgmpy model is taken as the network, as by fit
    np.testing.assert_allclose(bnem.most_probable(net.to_pgmpy(), df.iloc[:40])[1],
                               best[:40], rtol=1e-12)
    filled = net.impute(df, method="mpe")
    assert list(filled.columns) == list(df.columns) and not filled.isna().any().any()
    assert (filled.astype(str) == completed[df.columns].astype(str)).all().all()


def test_on_an_hmm_without_missing_cells_it_is_viterbi():
    hmm = bnem.hidden_markov_network(3, {"y": ["a", "b", "c"]}, length=12)
    hmm = hmm.with_cpds({"state[0]": [0.5, 0.3, 0.2],
                         "state[1]": [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]],
                         "y[0]": [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]]})
    wide = hmm.sample(50, seed=5).filter(like="y[")
    path, logp = bnem.viterbi(hmm, wide)
    completed, best = bnem.most_probable(hmm, wide)
    np.testing.assert_allclose(best, logp, rtol=1e-12)
    assert (completed[list(path.columns)].astype(str) == path.astype(str)).all().all()


def test_errors():
    net = bnem.BayesianNetwork({"a": ["x", "y"], "b": ["x", "y"]}, {"b": ["a"]},
                               {"a": [1.0, 0.0], "b": [[0.5, 0.5], [0.5, 0.5]]})
    with pytest.raises(ImpossibleRowError, match="row 1 .* no most probable explanation"):
        bnem.most_probable(net, pd.DataFrame({"a": ["x", "y"], "b": [None, "x"]}))
    # impossible only once the missing parent is maximised over
    det = bnem.BayesianNetwork({"a": ["x", "y"], "b": ["x", "y", "z"]}, {"b": ["a"]},
                               {"a": [0.5, 0.5], "b": [[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]})
    with pytest.raises(ImpossibleRowError, match="row 2 .* no most probable explanation"):
        bnem.most_probable(det, pd.DataFrame({"b": ["x", "y", "z"]}))
    mix = bnem.BayesianNetwork({"z": ["0", "1"], "x": "continuous"}, {"x": ["z"]})
    with pytest.raises(BnemValueError, match="covers discrete networks; .* Give nodes="):
        bnem.most_probable(mix, pd.DataFrame({"x": [0.1]}))


def test_cli_impute_mpe(tmp_path):
    from bnem.cli.main import main
    net = bnem.load_network("asia")
    df = net.sample(80, seed=6, missing=0.3)
    df.to_csv(tmp_path / "d.csv", index=False)
    assert main(["impute", "asia", str(tmp_path / "d.csv"), "-o", str(tmp_path / "f.csv"),
                 "--method", "mpe"]) == 0
    filled = pd.read_csv(tmp_path / "f.csv", dtype=str)
    expected = net.impute(df, method="mpe").astype(str)
    assert (filled == expected).all().all()
