"""The examples run in the suite, at small sizes, and say what they claim."""

import importlib.util
import pathlib
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import assert_monotone

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_alarm_missing_example():
    r = _load("alarm_missing").main(rows=3000, seed=1)
    assert r["missing_cells"] == pytest.approx(0.2, abs=0.01)
    # prior=1e-3: EM increases the log-posterior; the log-likelihood itself may dip
    assert r["history"]["log_posterior"].is_monotonic_increasing
    assert 0 < r["kl_mle_complete"] < r["kl_em_missing"] < 3 * r["kl_mle_complete"]


def test_latent_class_example_recovers_parameters():
    r = _load("latent_class").main(rows=4000, seed=2, n_init=3)
    assert_monotone(r["result"])
    np.testing.assert_allclose(r["sizes"], r["true_sizes"], atol=0.05)
    np.testing.assert_allclose(r["probs"], r["true_probs"], atol=0.08)
    assert np.allclose(r["posterior_head"].sum(axis=1), 1.0)


def test_label_matching_helper():
    mod = _load("latent_class")
    true = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    assert mod.match_labels(true, true[[2, 0, 1]]) == (1, 2, 0)


def test_aircraft_engines_example_flags_the_unusual_combination(tmp_path):
    out_csv = tmp_path / "scores.csv"
    r = _load("aircraft_engines").main(["--rows", "1500", "--seed", "3", "--n-init", "2",
                                        "--out", str(out_csv)])
    assert_monotone(r["result"])
    assert r["history"]["log_likelihood"].is_monotonic_increasing
    # the two elongated clusters are found: plant A thin in vibration, plant B in heat
    covs = {plant: r["covariances"][int(k)] for k, plant in r["plants"].items()}
    assert covs["A"][0, 0] < 0.05 * covs["A"][1, 1]
    assert np.sqrt(covs["B"][1, 1]) < 5 < np.sqrt(covs["A"][1, 1])
    # flagged: below the 1% quantile of the training scores, by a wide margin
    assert r["unusual"]["anomaly"]
    assert r["unusual"]["log_prob"] < r["threshold"] - 20
    assert r["fresh_flagged"] < 0.05  # new engines from the same plants are rarely flagged
    # ... while each reading alone is inside the training range, and not in its top 1%
    pct = r["percentiles"]
    assert pct["within_range"].all()
    assert (pct["percentile"] < 99).all()
    # with heat missing, vibration alone is scored (marginal density) and looks normal
    assert np.isfinite(r["missing"]["log_prob"]) and not r["missing"]["anomaly"]
    assert np.allclose(r["posterior"].sum(axis=1), 1.0)
    scores = pd.read_csv(out_csv, index_col="engine")
    assert scores.loc["unusual", "anomaly"] and len(scores) == 201
    assert r["plot"] is None


@pytest.mark.slow
def test_aircraft_engines_example_plot(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "engines.png"
    r = _load("aircraft_engines").main(["--rows", "800", "--n-init", "1", "--plot", str(png)])
    assert r["plot"] == png
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_aircraft_engines_example_runs_without_matplotlib(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    png = tmp_path / "engines.png"
    r = _load("aircraft_engines").main(["--rows", "800", "--n-init", "1", "--plot", str(png)])
    assert r["plot"] is None and not png.exists()
    assert r["unusual"]["anomaly"]
    assert "matplotlib is not installed" in capsys.readouterr().out


def test_parquet_and_dask_example_gives_the_same_fit_three_ways():
    pytest.importorskip("pyarrow")
    r = _load("parquet_and_dask").main(["--rows", "6000", "--parts", "3", "--iters", "4",
                                        "--memory-mb", "1"])
    names = ["in memory", "files"] + (["dask, 2 workers"] if "dask, 2 workers" in r else [])
    for name in names[1:]:
        assert r[name]["ll_rel_diff"] < 1e-10 and r[name]["cpd_diff"] < 1e-9
    for res in r["results"].values():
        assert res.history["log_likelihood"].is_monotonic_increasing


def test_raters_example_shares_and_fixes():
    r = _load("raters").main(rows=2000, seed=4, n_init=3)
    assert_monotone(r["result"])
    np.testing.assert_array_equal(r["clinician"], r["clinician2"])
    np.testing.assert_array_equal(r["lab"], r["truth"].cpd("lab").values)
    assert r["prevalence"] == pytest.approx(0.3, abs=0.05)
    np.testing.assert_allclose(r["clinician"], r["truth"].cpd("clinician1").values, atol=0.06)
    assert r["n_parameters"] == (3, 7)
    assert r["bic"][0] < r["bic"][1]  # the true constraints are the better model
    se = r["standard_errors"]
    assert se.loc[se.node == "lab", "se"].isna().all()
    assert (se.loc[se.node == "clinician1", "se"] > 0).all()


def test_latent_class_regression_example_recovers_the_slope():
    r = _load("latent_class_regression").main(rows=1500, seed=1)
    assert abs(r["slope"] - 0.06) < 3 * r["slope_se"] + 0.01
    assert r["model"].regression_history_["log_likelihood"].is_monotonic_increasing
    assert r["criteria"]["entropy_r2"] > 0.5 and r["plot"] is None


def test_hidden_markov_example_learns_and_decodes():
    r = _load("hidden_markov").main(logs=150, seed=2)
    np.testing.assert_allclose(r["transmat"], [[0.95, 0.05], [0.10, 0.90]], atol=0.06)
    np.testing.assert_allclose(r["emissions"], [[0.85, 0.12, 0.03], [0.20, 0.45, 0.35]],
                               atol=0.08)
    assert r["accuracy"] > 0.85
    assert r["hmm"].result_.history["log_likelihood"].is_monotonic_increasing
