"""The examples run in the suite, at small sizes, and say what they claim."""

import importlib.util
import pathlib

import numpy as np
import pytest

from conftest import assert_monotone

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_alarm_missing_example():
    r = _load("alarm_missing").main(rows=3000, seed=1)
    assert r["missing_cells"] == pytest.approx(0.2, abs=0.01)
    assert r["history"]["log_likelihood"].is_monotonic_increasing
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
