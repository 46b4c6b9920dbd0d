"""Fits on a Dask cluster (LocalCluster, 2 worker processes): the same history and CPDs
as in memory, whatever the partitioning; a worker killed mid-fit changes nothing."""

from __future__ import annotations

import os
import signal
import threading
import warnings

import numpy as np
import pandas as pd
import pytest

import bnem
from bnem.errors import BnemTypeError, BnemValueError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=50)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def asia():
    return bnem.read_bif("networks/asia.bif")


@pytest.fixture(scope="module")
def table(asia):
    return asia.sample(4000, seed=1, missing=0.2).drop(columns=["either"])


def fit(net, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.ConvergenceWarning)
        return bnem.fit(net, data, **{"max_iter": 12, "seed": 4, **kw})


def same_fit(a, b):
    np.testing.assert_allclose(a.history.log_likelihood, b.history.log_likelihood,
                               rtol=1e-10, atol=0)
    np.testing.assert_allclose(a.network.flat_params(), b.network.flat_params(),
                               rtol=1e-9, atol=1e-12)
    assert a.n_rows == b.n_rows and a.n_iter == b.n_iter


@pytest.mark.parametrize("npartitions", [1, 3, 8])
def test_dask_fit_equals_in_memory(client, asia, table, npartitions):
    ddf = dd.from_pandas(table, npartitions=npartitions)
    same_fit(fit(asia, table), fit(asia, ddf))
    same_fit(fit(asia, table), fit(asia, ddf, client=client, memory_mb=0.01))


def test_restarts_and_squarem_on_dask(client, asia, table):
    ddf = dd.from_pandas(table, npartitions=4)
    kw = dict(n_init=3, accelerate="squarem")
    a, b = fit(asia, table, **kw), fit(asia, ddf, **kw)
    same_fit(a, b)
    assert a.n_estep == b.n_estep
    np.testing.assert_allclose(a.restarts.objective, b.restarts.objective, rtol=1e-10)


def test_gaussian_mixture_on_dask(client):
    net = bnem.gaussian_mixture(["x", "y"], 3)
    rng = np.random.default_rng(1)
    df = pd.DataFrame(rng.normal(size=(1500, 2)) + np.repeat([[0, 0], [4, 0], [0, 4]], 500,
                                                             axis=0), columns=["x", "y"])
    df = df.mask(rng.random(df.shape) < 0.1)
    same_fit(fit(net, df), fit(net, dd.from_pandas(df, npartitions=5)))


def test_weights_column_on_dask(client, asia):
    freq = asia.sample(500, seed=3, missing=0.3).value_counts(dropna=False).rename("n")
    freq = freq.reset_index()
    same_fit(fit(asia, freq, sample_weight="n"),
             fit(asia, dd.from_pandas(freq, npartitions=3), sample_weight="n"))


def test_a_worker_killed_mid_fit_changes_nothing(client, asia, table):
    ddf = dd.from_pandas(table, npartitions=6)
    pids = list(client.run(os.getpid).values())
    killed = []

    def kill_during_next_estep(progress):
        if progress.iteration == 3 and not killed:
            killed.append(pids[0])
            threading.Timer(0.01, os.kill, (pids[0], signal.SIGKILL)).start()

    base = fit(asia, table, max_iter=25)
    again = fit(asia, ddf, max_iter=25, callback=kill_during_next_estep)
    assert killed
    same_fit(base, again)
    client.wait_for_workers(2, timeout=60)
    assert pids[0] not in client.run(os.getpid).values()  # the worker was really replaced


def test_per_row_results_keep_the_partitioning(client, asia, table):
    ddf = dd.from_pandas(table, npartitions=4)
    lp = asia.log_prob(ddf)
    assert lp.npartitions == 4
    np.testing.assert_allclose(lp.compute().to_numpy(), asia.log_prob(table), rtol=1e-12)
    post = asia.posterior(ddf, "either")
    np.testing.assert_allclose(post.compute().to_numpy(),
                               asia.posterior(table, "either").to_numpy(), rtol=1e-12)
    assert asia.log_likelihood(ddf) == pytest.approx(asia.log_likelihood(table), rel=1e-12)


def test_errors_name_the_partition(client, asia, table):
    bad = table.astype(object)
    bad.loc[3500, "smoke"] = "often"
    with pytest.raises(bnem.DataError, match=r"Dask partition 3: .*'often'.*row 3500"):
        bnem.fit(asia, dd.from_pandas(bad, npartitions=4))
    with pytest.raises(BnemValueError, match="client= runs the E-steps of a Dask DataFrame"):
        bnem.fit(asia, table, client=client)
    with pytest.raises(BnemTypeError, match="client must be a dask.distributed Client"):
        bnem.fit(asia, dd.from_pandas(table, npartitions=2), client="tcp://nowhere:1")


def test_cli_workers_and_scheduler(client, asia, table, tmp_path, capsys):
    from bnem.cli.main import main

    for k in range(3):
        table.iloc[k::3].to_parquet(tmp_path / f"p{k}.parquet")
    pattern = str(tmp_path / "*.parquet")
    args = ["fit", "networks/asia.bif", pattern, "--max-iter", "6", "--seed", "2"]
    assert main(args + ["-o", str(tmp_path / "here.json")]) == 0
    assert main(args + ["-o", str(tmp_path / "sched.json"),
                        "--scheduler", client.scheduler.address]) == 0
    assert main(args + ["-o", str(tmp_path / "local.json"), "--workers", "1"]) == 0
    assert "Dask dashboard: http" in capsys.readouterr().err
    here = bnem.read_network(tmp_path / "here.json").flat_params()
    for name in ("sched.json", "local.json"):
        np.testing.assert_allclose(bnem.read_network(tmp_path / name).flat_params(), here,
                                   rtol=1e-9, atol=1e-12)
    table.to_csv(tmp_path / "d.csv", index=False, na_rep="?")
    assert main(["fit", "networks/asia.bif", str(tmp_path / "d.csv"), "--max-iter", "6",
                 "--seed", "2", "-o", str(tmp_path / "csv.json"),
                 "--scheduler", client.scheduler.address]) == 0
    np.testing.assert_allclose(bnem.read_network(tmp_path / "csv.json").flat_params(), here,
                               rtol=1e-9, atol=1e-12)
    assert main(args + ["-o", str(tmp_path / "x.json"), "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def _scheduler_tasks(client):
    return client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))


def _assert_nothing_held(client):
    import gc
    import time

    gc.collect()
    for _ in range(50):  # the scheduler forgets cancelled tasks asynchronously
        if _scheduler_tasks(client) == 0:
            break
        time.sleep(0.1)
    assert _scheduler_tasks(client) == 0


def test_a_failed_fit_leaves_nothing_on_the_cluster(client, asia, table):
    bad = table.astype(object)
    bad.loc[10, "smoke"] = "often"
    with pytest.raises(bnem.DataError):
        bnem.fit(asia, dd.from_pandas(bad, npartitions=4))
    net = bnem.BayesianNetwork({"a": ["x", "y"]}, cpds={"a": [1.0, 0.0]})
    with pytest.raises(bnem.ImpossibleRowError, match="Dask partition"):
        bnem.fit(net, dd.from_pandas(pd.DataFrame({"a": ["x", "y"] * 20}), npartitions=3),
                 init="network")
    _assert_nothing_held(client)


def test_scores_on_dask(client, asia, table):
    ddf = dd.from_pandas(table, npartitions=3)
    assert bnem.bic(asia, ddf) == pytest.approx(bnem.bic(asia, table), rel=1e-12)
    assert bnem.anomaly_threshold(asia, ddf) == pytest.approx(
        bnem.anomaly_threshold(asia, table), rel=1e-12)
    with pytest.raises(BnemTypeError, match="flag_anomalies returns one row per input row"):
        bnem.flag_anomalies(asia, ddf)


def test_files_on_dask_read_like_files_in_process(client, asia, tmp_path):
    from bnem.em.distributed import files_to_dask

    states = {n: list(asia.states(n)) for n in asia.nodes}
    df = asia.sample(600, seed=5, missing=0.2)
    df.iloc[:300].to_csv(tmp_path / "a.csv", index=False, na_rep="?")
    df.iloc[300:].to_csv(tmp_path / "b.tsv", index=False, sep="\t", na_rep="?")
    spec = bnem.files([tmp_path / "a.csv", tmp_path / "b.tsv"])
    same_fit(fit(asia, spec), fit(asia, files_to_dask(spec, states)))
    df.iloc[300:].drop(columns="xray").to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(bnem.DataError, match=r"c\.csv' has other columns than data file"):
        files_to_dask(bnem.files([tmp_path / "a.csv", tmp_path / "c.csv"]), states)
    df.iloc[:300].to_parquet(tmp_path / "p.parquet")
    df.iloc[300:].drop(columns="xray").to_parquet(tmp_path / "q.parquet")
    with pytest.raises(bnem.DataError, match=r"q\.parquet' has other columns"):
        files_to_dask(bnem.files(str(tmp_path / "*.parquet")), states)


def test_shared_and_fixed_blocks_on_dask_equal_in_memory(client, asia, table):
    net = asia.share("infection", ["tub", "lung"]).fix("smoke")
    in_memory = fit(net, table)
    on_dask = fit(net, dd.from_pandas(table, npartitions=3), client=client)
    same_fit(in_memory, on_dask)
    assert on_dask.network.shared_groups == {"infection": ("tub", "lung")}
    np.testing.assert_array_equal(on_dask.network.cpd("smoke").values, asia.cpd("smoke").values)


@pytest.mark.parametrize("kind", ["tied", "spherical"])
def test_tied_and_spherical_mixtures_on_dask_equal_in_memory(client, kind):
    rng = np.random.default_rng(1)
    df = pd.DataFrame(np.vstack([rng.normal(0, 1, (300, 2)), rng.normal(3, 0.5, (300, 2))]),
                      columns=["x", "y"])
    df.iloc[::9, 1] = np.nan
    net = bnem.gaussian_mixture(["x", "y"], 2, kind)
    in_memory = fit(net, df)
    on_dask = fit(net, dd.from_pandas(df, npartitions=3), client=client)
    np.testing.assert_allclose(on_dask.history.log_likelihood,
                               in_memory.history.log_likelihood, rtol=1e-10)
    for node in ("x", "y"):
        a, b = in_memory.network.cpd(node), on_dask.network.cpd(node)
        for field in ("intercept", "weights", "variance"):
            np.testing.assert_allclose(getattr(b, field), getattr(a, field), rtol=1e-9,
                                       atol=1e-12)


@pytest.mark.parametrize("npartitions", [1, 3, 7])
def test_online_e_steps_on_workers_equal_in_memory(client, asia, table, npartitions):
    # batches of 300 rows cross the partitions' edges: joined on a worker, the same
    # batches (and the same steps) as from the frame in memory
    options = dict(method="online", batch_rows=300, max_passes=2, seed=2, init="random",
                   prior=1.0, n_init=2)
    ref = fit(asia, table, **options)
    on_workers = fit(asia, dd.from_pandas(table, npartitions=npartitions), client=client,
                     **options)
    cols = ["pass", "batch", "rows", "log_likelihood", "step_size"]
    pd.testing.assert_frame_equal(on_workers.histories[["restart"] + cols],
                                  ref.histories[["restart"] + cols], rtol=1e-10)
    np.testing.assert_allclose(on_workers.network.flat_params(), ref.network.flat_params(),
                               rtol=1e-10, atol=1e-14)


def test_online_on_workers_weights_hand_off_and_errors(client, asia, table):
    weighted = table.assign(w=np.random.default_rng(0).uniform(0.5, 2, len(table)))
    options = dict(method="online-then-batch", batch_rows=500, max_passes=1, seed=2,
                   sample_weight="w", max_iter=5)
    ref = fit(asia, weighted, **options)
    on_workers = fit(asia, dd.from_pandas(weighted, npartitions=3), client=client, **options)
    pd.testing.assert_frame_equal(on_workers.history.drop(columns="seconds"),
                                  ref.history.drop(columns="seconds"), rtol=1e-10)
    impossible = bnem.BayesianNetwork({"a": ["x", "y"]}, cpds={"a": [1.0, 0.0]})
    rows = dd.from_pandas(pd.DataFrame({"a": ["x"] * 40 + ["y"] * 20}), npartitions=3)
    with pytest.raises(bnem.ImpossibleRowError, match="rows 41-50"):
        fit(impossible, rows, method="online", init="network", batch_rows=10, max_passes=1,
            client=client)
    with pytest.raises(BnemValueError, match="client= runs online EM's E-steps"):
        fit(asia, table, method="online", client=client)


def test_online_on_workers_refuses_bad_input_and_leaves_nothing_held(client, asia, table):
    da = pytest.importorskip("dask.array")
    with pytest.raises(bnem.BnemError, match="online EM reads a Dask DataFrame"):
        fit(asia, da.zeros((10, 3), chunks=5), method="online", client=client)
    with pytest.raises(bnem.BnemError, match="sample_weight must name a column"):
        fit(asia, dd.from_pandas(table, npartitions=3), method="online", client=client,
            sample_weight=np.ones(len(table)))
    bad = table.astype(object)
    bad.loc[3500, "smoke"] = "often"
    for _ in range(2):
        with pytest.raises(bnem.DataError, match="often"):
            fit(asia, dd.from_pandas(bad, npartitions=4), method="online", batch_rows=300,
                max_passes=1, client=client)
    _assert_nothing_held(client)
