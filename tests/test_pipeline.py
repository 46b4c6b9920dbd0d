"""The compiled network, the one data path, additive statistics and the option table."""

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest

import bnem
from bnem.em.options import OPTIONS
from bnem.inference.budget import MemoryBudget
from bnem.inference.dataset import AnalysedData
from bnem.network.parameters import Parameters
from conftest import assert_monotone, load


def _quiet_fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.ConvergenceWarning)
        return bnem.fit(*args, **kwargs)


def test_compile_describes_its_plan():
    net = load("alarm")
    compiled = bnem.compile(net)
    d = compiled.describe()
    assert d["cliques"] == len(compiled.plan.cliques)
    assert d["total_size"] == sum(compiled.plan.clique_sizes) == sum(d["clique_sizes"])
    assert d["largest"] == max(compiled.plan.clique_sizes) == d["clique_sizes"][0]
    assert d["parameters"] == net.offsets[-1] and d["components"] == []
    assert repr(compiled) == (f"CompiledNetwork('unknown': 37 discrete nodes, {d['cliques']} "
                              f"cliques, total size {d['total_size']}, largest {d['largest']})")


def test_compile_describes_continuous_components():
    gm = bnem.gaussian_mixture(["a", "b", "c"], 3, covariance="diag")
    d = bnem.compile(gm).describe()
    assert d["components"] == [{"nodes": ["a", "b", "c"], "interface": ["component"],
                                "configurations": 3}]
    assert "3 Gaussian nodes in 1 component(s)" in repr(bnem.compile(gm))


def test_compile_refuses_other_objects():
    with pytest.raises(bnem.BnemError, match="network must be a bnem.BayesianNetwork, got dict"):
        bnem.compile({"a": ["0", "1"]})


def test_compiled_network_is_immutable():
    compiled = bnem.compile(load("asia"))
    with pytest.raises(AttributeError):
        compiled.plan = None
    with pytest.raises(AttributeError):
        compiled.plan.cliques[0].factors = ()
    with pytest.raises(AttributeError):
        compiled.plan.cliques.clear()  # a tuple
    with pytest.raises(ValueError, match="read-only"):
        compiled.structure.cards[0] = 7


def test_chunk_statistics_add_up_to_the_whole():
    """Stats of many small chunks, summed, equal those of one chunk."""
    net = load("child")
    df = net.sample(900, seed=2, missing=0.3, hide=["Disease"])
    compiled = bnem.compile(net)
    params = Parameters.of(net)
    one = AnalysedData(compiled, df).stats(params)
    many = AnalysedData(compiled, df, MemoryBudget(chunk_rows=37))
    assert many.n_chunks > 10
    parts = [compiled.estep(many.chunk(k), compiled.prepare(params)) for k in range(many.n_chunks)]
    total = bnem.inference.stats.Stats.total(parts)
    np.testing.assert_allclose(total.counts, one.counts, rtol=1e-12, atol=1e-9)
    assert total.log_likelihood == pytest.approx(one.log_likelihood, rel=1e-13)
    assert total.weight == one.weight == 900
    assert one.log_likelihood == pytest.approx(net.log_likelihood(df), rel=1e-12)


def test_moments_add_up_over_chunks():
    gm = bnem.gaussian_mixture(["x", "y"], 2, covariance="full",
                               weights=[0.3, 0.7], means=[[0, 0], [3, 1]],
                               covariances=[np.eye(2), [[2.0, 0.5], [0.5, 1.0]]])
    df = gm.sample(500, seed=1, hide=["component"])
    df.iloc[::7, 0] = np.nan
    compiled = bnem.compile(gm)
    params = Parameters.of(gm)
    one = AnalysedData(compiled, df).stats(params)
    many = AnalysedData(compiled, df, MemoryBudget(chunk_rows=50)).stats(params)
    for a, b in zip(one.moments, many.moments):
        np.testing.assert_allclose(a.n, b.n, rtol=1e-12)
        np.testing.assert_allclose(a.m1, b.m1, rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(a.m2, b.m2, rtol=1e-10, atol=1e-9)
    assert one.log_likelihood == pytest.approx(many.log_likelihood, rel=1e-12)


def test_adding_soft_and_hard_statistics_is_refused():
    from bnem.inference.stats import Stats
    with pytest.raises(ValueError, match="hard-EM and soft-EM"):
        Stats(np.zeros(2), classification=1.0) + Stats(np.zeros(2))


def test_an_iterable_of_frames_gives_the_same_fit_as_one_frame():
    net = load("asia")
    df = net.sample(1200, seed=5, missing=0.3)
    parts = [df.iloc[:500], df.iloc[500:900], df.iloc[900:]]
    a = _quiet_fit(net, df, max_iter=15, seed=3)
    b = _quiet_fit(net, iter(parts), max_iter=15, seed=3)  # a one-shot generator is fine
    assert_monotone(b)
    np.testing.assert_allclose(b.history["log_likelihood"], a.history["log_likelihood"],
                               rtol=1e-10)
    np.testing.assert_allclose(b.network.flat_params(), a.network.flat_params(), atol=1e-10)
    np.testing.assert_allclose(net.log_prob(parts), net.log_prob(df), rtol=1e-12)
    post = net.posterior(parts, "lung")
    assert post.index.equals(df.index)
    np.testing.assert_allclose(post.to_numpy(), net.posterior(df, "lung").to_numpy(), atol=1e-12)


def test_an_iterable_of_frames_for_a_hybrid_network():
    gm = bnem.gaussian_mixture(["x", "y"], 2, covariance="full",
                               weights=[0.4, 0.6], means=[[0, 0], [2, 2]],
                               covariances=[np.eye(2), np.eye(2)])
    df = gm.sample(600, seed=2, hide=["component"])
    df.iloc[::5, 1] = np.nan
    a = _quiet_fit(gm, df, init="network", max_iter=8, tol=0)
    b = _quiet_fit(gm, [df.iloc[:250], df.iloc[250:]], init="network", max_iter=8, tol=0)
    np.testing.assert_allclose(b.history["log_likelihood"], a.history["log_likelihood"],
                               rtol=1e-10)


@pytest.mark.parametrize("data, error, match", [
    ([], bnem.DataError, "yielded no DataFrame"),
    ("data.csv", bnem.DataError, "data file 'data.csv' does not exist"),
    (42, bnem.BnemError, "list, tuple or iterator of DataFrames, or data files .* got int"),
    (42, bnem.BnemError, "got int"),
    ({"asia": ["yes"]}, bnem.BnemError, "got dict"),
    (pd.Series(["yes"], name="asia"), bnem.BnemError, "got Series"),
    (np.array([["yes"]]), bnem.BnemError, "got ndarray"),
    ([pd.DataFrame({"asia": []}), pd.DataFrame({"asia": []})], bnem.DataError,
     r"every part of the data source is empty \(0 rows; 'data part 0', 'data part 1'\)"),
    ([pd.DataFrame({"asia": ["yes"]}), {"asia": ["no"]}], bnem.BnemError,
     "data part 1 is a dict"),
    ([pd.DataFrame({"asia": ["yes"]}), pd.DataFrame({"smoke": ["no"]})], bnem.DataError,
     r"data part 1 has other columns than data part 0 \(extra: \['smoke'\], missing: "
     r"\['asia'\]\)"),
    ([pd.DataFrame({"asia": ["yes"]}), pd.DataFrame({"asia": ["maybe"]})], bnem.DataError,
     "data part 1: column 'asia': value 'maybe'"),
])
def test_bad_sources_are_clear_errors(data, error, match):
    with pytest.raises(error, match=match):
        bnem.fit(load("asia"), data, max_iter=1)


def test_many_small_parts_are_encoded_together_and_errors_name_the_part():
    net = load("asia")
    df = net.sample(3000, seed=2, missing=0.2)
    parts = [df.iloc[k:k + 10] for k in range(0, 3000, 10)]
    data = AnalysedData(bnem.compile(net), parts)
    assert len(data.source.parts) == 1 and data.n_rows == 3000
    np.testing.assert_allclose(data.stats(Parameters.of(net)).log_likelihood,
                               net.log_likelihood(df), rtol=1e-12)
    bad = [p.copy() for p in parts]
    bad[123] = bad[123].astype(object)
    bad[123].iloc[4, 0] = "maybe"
    with pytest.raises(bnem.DataError, match="data part 123: column 'asia': value 'maybe'"):
        bnem.fit(net, bad, max_iter=1)


def test_empty_parts_are_skipped():
    net = load("asia")
    df = net.sample(100, seed=2, missing=0.2)
    parts = [df.iloc[:0], df.iloc[:60], df.iloc[60:60], df.iloc[60:]]
    np.testing.assert_allclose(net.log_prob(parts), net.log_prob(df), rtol=1e-12)


def test_an_impossible_row_is_named_with_its_part():
    net = load("asia")
    df = net.sample(50, seed=0).astype(object)
    df.loc[20, ["tub", "lung", "either"]] = ["no", "no", "yes"]  # either = tub or lung
    parts = [df.iloc[:10], df.iloc[10:30], df.iloc[30:]]
    with pytest.raises(bnem.ImpossibleRowError, match=r"row 20 \(.*\) of data part 1 has "
                                                      "probability zero"):
        bnem.fit(net, parts, init="network", max_iter=1)


def test_hybrid_starts_do_not_depend_on_the_split():
    gm = bnem.gaussian_mixture(["x", "y"], 3, covariance="full")
    rng = np.random.default_rng(4)
    df = pd.DataFrame(rng.normal(size=(900, 2)) + rng.integers(0, 3, 900)[:, None] * 3,
                      columns=["x", "y"])
    df.iloc[::4, 0] = np.nan
    for init in ("k-means++", "random-rows", "random-resp"):
        a = _quiet_fit(gm, df, init=init, max_iter=5, tol=0, seed=7)
        b = _quiet_fit(gm, [df.iloc[:100], df.iloc[100:450], df.iloc[450:]], init=init,
                       max_iter=5, tol=0, seed=7)
        np.testing.assert_allclose(b.history["log_likelihood"], a.history["log_likelihood"],
                                   rtol=1e-10)


def test_scores_take_the_same_sources():
    net = load("asia")
    df = net.sample(400, seed=1, missing=0.2)
    parts = [df.iloc[:150], df.iloc[150:]]
    assert bnem.bic(net, parts) == pytest.approx(bnem.bic(net, df), rel=1e-12)
    assert bnem.bic(net, iter(parts)) == pytest.approx(bnem.bic(net, df), rel=1e-12)
    assert bnem.aic(net, iter(parts)) == pytest.approx(bnem.aic(net, df), rel=1e-12)
    flags = bnem.flag_anomalies(net, iter(parts), quantile=0.05)
    pd.testing.assert_frame_equal(flags, bnem.flag_anomalies(net, df, quantile=0.05))


@pytest.mark.parametrize("codes, weights, match", [
    (np.zeros((3, 7), int), None, r"codes must have shape \(rows, 8\)"),
    (np.zeros(8, int), None, r"codes must have shape \(rows, 8\)"),
    (np.full((2, 8), 0.5), None, "codes must be integer states"),
    (np.full((2, 8), 2), None, r"codes\[0, 0\] = 2 is not a state of 'asia' \(expected -1 .. 1\)"),
    (np.zeros((2, 8), int), np.array([1.0, -1.0]), "weights must be 2 finite numbers >= 0"),
])
def test_analyse_checks_its_arrays(codes, weights, match):
    with pytest.raises(bnem.BnemError, match=match):
        bnem.compile(load("asia")).analyse(codes, weights)


def test_fit_signature_follows_the_option_table():
    params = inspect.signature(bnem.fit).parameters
    table = {o.name: o.default for o in OPTIONS}
    assert {n: params[n].default for n in table} == table


def test_deprecated_keywords_still_work_and_say_so():
    net = load("asia")
    df = net.sample(200, seed=1, missing=0.2)
    with pytest.warns(DeprecationWarning, match="cache_mb is deprecated; use memory_mb"):
        a = _quiet_fit(net, df, max_iter=3, cache_mb=1.0)
    b = _quiet_fit(net, df, max_iter=3, memory_mb=1.0)
    np.testing.assert_allclose(a.history["log_likelihood"], b.history["log_likelihood"])
    with pytest.raises(bnem.BnemError, match=r"unknown option\(s\) \['max_iters'\]"):
        bnem.fit(net, df, max_iters=3)
    with pytest.raises(bnem.BnemError, match="cache_mb is the deprecated name of memory_mb"):
        bnem.fit(net, df, max_iter=3, memory_mb=100, cache_mb=1.0)


def test_cli_offers_every_fit_option_of_the_table(tmp_path, capsys):
    from bnem.cli.main import _parser
    fit_parser = _parser()._subparsers._group_actions[0].choices["fit"]
    flags = {a for action in fit_parser._actions for a in action.option_strings}
    assert {o.flag for o in OPTIONS if o.cli} <= flags
    assert "--memory-mb" in flags


def test_n_estep_counts_every_e_step():
    net = load("asia")
    df = net.sample(300, seed=1, missing=0.2)
    res = _quiet_fit(net, df, max_iter=4, tol=0, n_init=2, accelerate="none")
    assert res.n_estep == 2 * (4 + 1)
    fast = _quiet_fit(net, df, max_iter=4, tol=0, n_init=2)  # SQUAREM: 3 per iteration
    assert fast.n_estep == 2 * (3 * 4 + 1)


def test_tabular_cpd_maximize_matches_the_vectorised_m_step():
    from bnem.em.mstep import Maximizer
    net = load("asia")
    rng = np.random.default_rng(0)
    counts = rng.gamma(1.0, size=net.offsets[-1])
    counts[net.offsets[1]:net.offsets[1] + 2] = 0.0  # an empty parent configuration
    theta, _ = Maximizer(net).maximize(counts, prior=0.5)
    for i, node in enumerate(net.discrete_nodes):
        block = counts[net.offsets[i]:net.offsets[i + 1]].reshape(net.table_shapes[i])
        got = net.cpd(node).maximize(block, prior=0.5).values
        np.testing.assert_allclose(got.ravel(), theta[net.offsets[i]:net.offsets[i + 1]],
                                   rtol=1e-14)


def test_cli_memory_flags(tmp_path, capsys):
    from bnem.cli.main import main
    net = load("asia")
    net.sample(200, seed=1, missing=0.2).to_csv(tmp_path / "d.csv", index=False)
    bif = str(tmp_path / "asia.bif")
    bnem.write_bif(net, bif)
    out = str(tmp_path / "o.bif")
    assert main(["-q", "fit", bif, str(tmp_path / "d.csv"), "-o", out, "--memory-mb", "1",
                 "--max-iter", "2"]) == 0
    assert main(["-q", "fit", bif, str(tmp_path / "d.csv"), "-o", out, "--memory-mb", "1",
                 "--cache-mb", "2"]) == 2
    assert "--cache-mb is the deprecated name of --memory-mb" in capsys.readouterr().err
    assert main(["fit", bif, str(tmp_path / "d.csv"), "-o", out, "--cache-mb", "2",
                 "--max-iter", "2"]) == 0
    assert "--cache-mb is deprecated; use --memory-mb" in capsys.readouterr().err


def test_a_table_with_no_observed_cell_is_refused():
    net = load("asia")
    df = pd.DataFrame({n: [np.nan] * 5 for n in net.nodes})
    with pytest.raises(bnem.BnemError, match="the data have no observed cell"):
        bnem.fit(net, df)


def test_latent_nodes_nothing_depends_on_are_named():
    net = load("asia")
    df = net.sample(200, seed=1).drop(columns=["dysp", "xray"])  # two latent leaves
    with pytest.warns(bnem.DegenerateWarning,
                      match=r"2 latent node\(s\) \('xray', 'dysp'\) have no observed descendant"):
        bnem.fit(net, df, max_iter=2)
    gm = bnem.gaussian_mixture(["a", "b"], 2)
    with pytest.warns(bnem.DegenerateWarning, match=r"\('b'\) have no observed descendant"):
        bnem.fit(gm, pd.DataFrame({"a": np.arange(20.0), "b": np.nan}), max_iter=2)


def test_cli_checks_options_before_reading_the_data(tmp_path, capsys):
    from bnem.cli.main import main
    bif = tmp_path / "asia.bif"
    bnem.write_bif(load("asia"), bif)
    missing_data = str(tmp_path / "does-not-exist.csv")
    assert main(["fit", str(bif), missing_data, "-o", str(tmp_path / "o.bif"),
                 "--max-iter", "-1"]) == 2
    assert "max_iter must be >= 0, got -1" in capsys.readouterr().err  # not "does not exist"


def test_cli_loglik_names_an_impossible_row(tmp_path, capsys):
    from bnem.cli.main import main
    net = load("asia")
    df = net.sample(20, seed=0).astype(object)
    df.loc[7, ["tub", "lung", "either"]] = ["no", "no", "yes"]  # either = tub or lung
    df.to_csv(tmp_path / "d.csv", index=False)
    bnem.write_bif(net, tmp_path / "asia.bif")
    assert main(["loglik", str(tmp_path / "asia.bif"), str(tmp_path / "d.csv")]) == 0
    out = capsys.readouterr()
    assert "log-likelihood -inf" in out.out
    assert "data row 7 (counting from 0 after the header)" in out.err
    assert "probability zero" in out.err


def test_sizes_are_checked_before_allocating():
    variables = {f"p{i}": ["0", "1"] for i in range(50)}
    variables["child"] = ["0", "1"]
    with pytest.raises(bnem.NetworkError, match=r"the table of 'child' \(50 parent\(s\)\) would "
                                                r"have 2.25e\+15 entries"):
        bnem.BayesianNetwork(variables, {"child": [f"p{i}" for i in range(50)]})
    with pytest.raises(bnem.BnemError, match=r"sampling 1000000000000 rows of 8 nodes needs "
                                             r"about .* GiB, more than this machine's"):
        load("asia").sample(10 ** 12)


@pytest.mark.slow
def test_cli_warnings_are_one_line(tmp_path):
    import subprocess
    import sys
    net = load("asia")
    net.sample(300, seed=1, missing=0.3).drop(columns=["xray"]).to_csv(tmp_path / "d.csv",
                                                                      index=False)
    bnem.write_bif(net, tmp_path / "asia.bif")
    out = subprocess.run([sys.executable, "-m", "bnem.cli.main", "-q", "fit",
                          str(tmp_path / "asia.bif"), str(tmp_path / "d.csv"), "-o",
                          str(tmp_path / "o.bif"), "--max-iter", "2", "--tol", "0"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    lines = out.stderr.strip().splitlines()
    assert lines and all(line.startswith("bnem fit: ") for line in lines), out.stderr
    assert any("ConvergenceWarning: EM did not converge" in line for line in lines)
    assert ".py:" not in out.stderr
