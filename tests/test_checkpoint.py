"""Checkpoints: a fit that crashes and is resumed ends exactly as an uninterrupted one."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bnem
from conftest import assert_monotone, load


class Crash(Exception):
    pass


def _crash_at(restart, iteration):
    def callback(progress):
        if (progress.restart, progress.iteration) == (restart, iteration):
            raise Crash()
        return False
    return callback


def _quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bnem.fit(*args, **kwargs)


def _same(a, b):
    np.testing.assert_allclose(b.network.flat_params(), a.network.flat_params(), rtol=0,
                               atol=1e-12)
    for node, cpd in a.network.gaussian_cpds.items():
        other = b.network.cpd(node)
        for x, y in [(cpd.intercept, other.intercept), (cpd.weights, other.weights),
                     (cpd.variance, other.variance)]:
            np.testing.assert_allclose(y, x, rtol=1e-12, atol=1e-12)
    cols = [c for c in a.history.columns if c != "seconds"]
    pd.testing.assert_frame_equal(b.history[cols], a.history[cols], check_exact=True)
    pd.testing.assert_frame_equal(b.restarts, a.restarts, check_exact=True)
    assert (b.n_iter, b.converged, b.n_estep) == (a.n_iter, a.converged, a.n_estep)
    assert b.log_likelihood == a.log_likelihood


CASES = {
    "discrete": (lambda: load("child"),
                 lambda net: net.sample(800, seed=1, missing=0.1, hide=["Disease"]),
                 dict(max_iter=12, tol=0, seed=3)),
    "restarts": (lambda: load("asia"), lambda net: net.sample(500, seed=2, missing=0.3),
                 dict(max_iter=8, tol=0, seed=5, n_init=3, prior=0.1)),
    "hybrid": (lambda: bnem.gaussian_mixture(["a", "b"], 2, covariance="full"),
               lambda net: pd.DataFrame(np.random.default_rng(0).normal(size=(400, 2))
                                        * [1, 3]).set_axis(["a", "b"], axis=1)
               .mask(np.random.default_rng(1).random((400, 2)) < 0.2),
               dict(max_iter=10, tol=0, seed=1, n_init=2)),
    "squarem": (lambda: load("child"), lambda net: net.sample(800, seed=1, hide=["Disease"]),
                dict(max_iter=8, tol=0, seed=4, accelerate="squarem")),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("every", [0.0, 1e-9])
def test_resume_after_a_crash_equals_an_uninterrupted_fit(case, every, tmp_path):
    make_net, make_data, options = CASES[case]
    net = make_net()
    df = make_data(net)
    whole = _quiet(net, df, **options)
    ckpt = tmp_path / "run.ckpt"
    crash_restart = options.get("n_init", 1) - 1
    with pytest.raises(Crash):
        _quiet(net, df, checkpoint=ckpt, checkpoint_every=every,
               callback=_crash_at(crash_restart, 5), **options)
    resumed = _quiet(net, df, resume=ckpt, checkpoint=ckpt, **options)
    _same(whole, resumed)
    assert_monotone(resumed)


def test_resume_with_other_data_network_or_options_is_refused(tmp_path):
    net = load("asia")
    df = net.sample(300, seed=1, missing=0.2)
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(Crash):
        _quiet(net, df, checkpoint=ckpt, max_iter=20, tol=0, callback=_crash_at(0, 3))
    with pytest.raises(bnem.BnemError, match="written for another data"):
        bnem.fit(net, df.iloc[1:], resume=ckpt, max_iter=20, tol=0)
    with pytest.raises(bnem.BnemError, match="written for another network"):
        bnem.fit(load("asia").with_cpds({"asia": [0.5, 0.5]}), df, resume=ckpt,
                 init="random", max_iter=20, tol=0)
    with pytest.raises(bnem.BnemError, match=r"with other options: prior=0.5 \(checkpoint: 0.0\)"):
        bnem.fit(net, df, resume=ckpt, max_iter=20, tol=0, prior=0.5)
    (tmp_path / "junk.ckpt").write_text("not a checkpoint")
    with pytest.raises(bnem.BnemError, match="not a readable bnem checkpoint"):
        bnem.fit(net, df, resume=tmp_path / "junk.ckpt")
    with pytest.raises(bnem.BnemError, match="resume must be a file path, got int"):
        bnem.fit(net, df, resume=3)


def test_resume_may_extend_max_iter(tmp_path):
    net = load("asia")
    df = net.sample(300, seed=1, missing=0.3)
    whole = _quiet(net, df, max_iter=15, tol=0, seed=2)
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(Crash):
        _quiet(net, df, checkpoint=ckpt, max_iter=10, tol=0, seed=2, callback=_crash_at(0, 6))
    longer = _quiet(net, df, resume=ckpt, max_iter=15, tol=0, seed=2)
    _same(whole, longer)


@pytest.mark.slow
def test_kill_9_then_resume_from_the_command_line(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    net = load("child")
    bnem.write_bif(net, tmp_path / "child.bif")
    net.sample(3000, seed=1, missing=0.1, hide=["Disease"]).to_csv(tmp_path / "d.csv",
                                                                     index=False)
    base = [sys.executable, "-m", "bnem.cli.main", "fit", str(tmp_path / "child.bif"),
            str(tmp_path / "d.csv"), "--max-iter", "60", "--tol", "0", "--seed", "7"]
    subprocess.run(base + ["-o", str(tmp_path / "whole.bif"), "--history",
                           str(tmp_path / "whole.csv")], check=True, capture_output=True)
    proc = subprocess.Popen(base + ["-o", str(tmp_path / "o.bif"), "--checkpoint",
                                    str(tmp_path / "run.ckpt")], stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 60
    for line in proc.stderr:
        if "iteration 20:" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert (tmp_path / "run.ckpt").exists() and not (tmp_path / "o.bif").exists()
    subprocess.run(base + ["-o", str(tmp_path / "o.bif"), "--resume", str(tmp_path / "run.ckpt"),
                           "--history", str(tmp_path / "resumed.csv")], check=True,
                   capture_output=True)
    a, b = bnem.read_bif(tmp_path / "whole.bif"), bnem.read_bif(tmp_path / "o.bif")
    np.testing.assert_allclose(b.flat_params(), a.flat_params(), rtol=0, atol=1e-12)
    ha = pd.read_csv(tmp_path / "whole.csv").drop(columns="seconds")
    hb = pd.read_csv(tmp_path / "resumed.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(hb, ha)


def test_the_live_history_grows_one_line_per_iteration(tmp_path):
    net = load("asia")
    df = net.sample(300, seed=1, missing=0.3)
    path = tmp_path / "trace.csv"
    seen = []

    def callback(progress):
        seen.append(len(pd.read_csv(path)))  # readable while the fit runs
        if progress.iteration == 4:
            raise Crash()
        return False

    with pytest.raises(Crash):
        bnem.fit(net, df, max_iter=50, tol=0, history_path=path, callback=callback)
    assert seen == [1, 2, 3, 4, 5]
    assert list(pd.read_csv(path).iteration) == [0, 1, 2, 3, 4]  # every finished iteration


def test_live_history_with_restarts_and_resume_matches_the_result(tmp_path):
    net = load("asia")
    df = net.sample(300, seed=1, missing=0.3)
    whole = _quiet(net, df, max_iter=6, tol=0, n_init=2, prior=0.2,
                   history_path=tmp_path / "a.csv")
    live = pd.read_csv(tmp_path / "a.csv")
    assert list(live.columns) == ["restart", "iteration", "log_likelihood", "log_posterior",
                                  "delta", "seconds", "n_estep", "step"]
    best = int(whole.restarts.objective.idxmax())
    mine = live[live.restart == best].drop(columns="restart").reset_index(drop=True)
    pd.testing.assert_frame_equal(mine.drop(columns="seconds"),
                                  whole.history.drop(columns="seconds"))
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(Crash):
        _quiet(net, df, max_iter=6, tol=0, n_init=2, prior=0.2, checkpoint=ckpt,
               history_path=tmp_path / "b.csv", callback=_crash_at(1, 3))
    _quiet(net, df, max_iter=6, tol=0, n_init=2, prior=0.2, resume=ckpt,
           history_path=tmp_path / "b.csv")
    resumed = pd.read_csv(tmp_path / "b.csv")
    pd.testing.assert_frame_equal(resumed.drop(columns="seconds"), live.drop(columns="seconds"))


def test_later_restarts_draw_from_the_saved_random_state(tmp_path):
    net = load("asia")
    df = net.sample(400, seed=1, missing=0.3)
    whole = _quiet(net, df, max_iter=6, tol=0, n_init=3, seed=11)
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(Crash):
        _quiet(net, df, max_iter=6, tol=0, n_init=3, seed=11, checkpoint=ckpt,
               callback=_crash_at(0, 3))
    _same(whole, _quiet(net, df, max_iter=6, tol=0, n_init=3, seed=11, resume=ckpt))


@pytest.mark.parametrize("stop", ["ctrl-c", "max_time", "callback"])
def test_a_fit_stopped_early_resumes_where_it_stopped(stop, tmp_path):
    import os
    import signal
    net = load("child")
    df = net.sample(600, seed=1, hide=["Disease"])
    whole = _quiet(net, df, max_iter=15, tol=0, n_init=2, seed=3)
    ckpt = tmp_path / "run.ckpt"

    def stopper(progress):
        if (progress.restart, progress.iteration) == (0, 5):
            if stop == "ctrl-c":
                os.kill(os.getpid(), signal.SIGINT)
            return stop == "callback"
        return False

    first = _quiet(net, df, max_iter=15, tol=0, n_init=2, seed=3, checkpoint=ckpt,
                   callback=stopper, max_time=0.0 if stop == "max_time" else None)
    assert first.n_iter < 15
    _same(whole, _quiet(net, df, max_iter=15, tol=0, n_init=2, seed=3, resume=ckpt))


def test_timed_checkpoints_are_throttled(tmp_path):
    import json
    net = load("asia")
    df = net.sample(300, seed=1, missing=0.3)
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(Crash):
        _quiet(net, df, max_iter=20, tol=0, checkpoint=ckpt, checkpoint_every=3600,
               callback=_crash_at(0, 6))
    with np.load(ckpt) as archive:
        meta = json.loads(str(archive["meta"]))
    assert meta["current"]["iteration"] == 0  # the first save only, within the hour
    whole = _quiet(net, df, max_iter=20, tol=0)
    _same(whole, _quiet(net, df, max_iter=20, tol=0, resume=ckpt))


def test_bad_checkpoint_paths_are_clear_errors(tmp_path, capsys):
    from bnem.cli.main import main
    net = load("asia")
    df = net.sample(100, seed=1, missing=0.2)
    ckpt = tmp_path / "run.ckpt"
    _quiet(net, df, max_iter=3, tol=0, checkpoint=ckpt)
    ckpt.write_bytes(ckpt.read_bytes()[:200])  # truncated
    with pytest.raises(bnem.BnemError, match="not a readable bnem checkpoint"):
        bnem.fit(net, df, resume=ckpt)
    with pytest.raises(bnem.BnemError, match="checkpoint file does not exist"):
        bnem.fit(net, df, resume=tmp_path / "nope.ckpt")
    with pytest.raises(bnem.BnemError, match="folder .* does not exist"):
        bnem.fit(net, df, checkpoint=tmp_path / "no" / "run.ckpt")
    with pytest.raises(bnem.BnemError, match="history_path names the checkpoint file"):
        bnem.fit(net, df, checkpoint=ckpt, history_path=ckpt)
    bnem.write_bif(net, tmp_path / "asia.bif")
    df.to_csv(tmp_path / "d.csv", index=False)
    code = main(["fit", str(tmp_path / "asia.bif"), str(tmp_path / "d.csv"), "-o",
                 str(tmp_path / "o.bif"), "--checkpoint", str(tmp_path / "d.csv")])
    assert code == 2 and "is an input file" in capsys.readouterr().err
    assert len(pd.read_csv(tmp_path / "d.csv")) == 100  # the data are intact


def test_resume_with_max_iter_below_the_checkpoint_is_refused(tmp_path):
    net = load("asia")
    df = net.sample(300, seed=1, missing=0.3)
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(Crash):
        _quiet(net, df, max_iter=20, tol=0, checkpoint=ckpt, callback=_crash_at(0, 8))
    with pytest.raises(bnem.BnemError, match="max_iter=5 but the checkpoint is at iteration 7"):
        bnem.fit(net, df, max_iter=5, tol=0, resume=ckpt)


@pytest.mark.filterwarnings("ignore::bnem.ConvergenceWarning")
def test_options_that_may_change_on_resume_come_from_the_table(tmp_path):
    """The checkpoint compares every option but those OPTIONS declares resumable; a
    spill folder (a temporary place for encoded rows) cannot change the result."""
    from bnem.em.checkpoint import IGNORED
    from bnem.em.options import OPTIONS
    assert set(IGNORED) == {o.name for o in OPTIONS if o.resumable}
    assert "spill_dir" in IGNORED and "seed" not in IGNORED and "fixed" not in IGNORED
    net = load("asia")
    net.sample(300, seed=1, missing=0.2).to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    calls = []
    bnem.fit(net, tmp_path / "d.csv", seed=0, max_iter=6, tol=0, checkpoint=tmp_path / "c.ckpt",
             spill_dir=tmp_path / "a", callback=lambda p: calls.append(p) or len(calls) == 3)
    whole = bnem.fit(net, tmp_path / "d.csv", seed=0, max_iter=6, tol=0)
    resumed = bnem.fit(net, tmp_path / "d.csv", seed=0, max_iter=6, tol=0,
                       resume=tmp_path / "c.ckpt", spill_dir=tmp_path / "b")
    np.testing.assert_allclose(resumed.history.log_likelihood, whole.history.log_likelihood,
                               rtol=1e-12)


def _edited(path, edit):
    """The checkpoint at ``path`` with ``edit(meta, arrays)`` applied, written back."""
    import json
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(str(arrays.pop("meta")))
    meta = edit(meta, arrays) or meta
    arrays["meta"] = np.array(json.dumps(meta))
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _set(path_keys, value):
    def edit(meta, arrays):
        target = meta
        for k in path_keys[:-1]:
            target = target[k]
        target[path_keys[-1]] = value
    return edit


def _array(name, change):
    def edit(meta, arrays):
        key = f"current.{name}"
        if change is None:
            del arrays[key]
        else:
            arrays[key] = change(arrays[key])
    return edit


HAND_EDITS = {
    "metadata as a list": (lambda m, a: ["not", "a", "dict"], "not a bnem checkpoint"),
    "no fingerprint": (lambda m, a: m.pop("fingerprint") and None, "lacks \\['fingerprint'\\]"),
    "iteration as text": (_set(["current", "iteration"], "six"), "'current.iteration' is 'six'"),
    "negative iteration": (_set(["current", "iteration"], -5), "'current.iteration' is -5"),
    "restart 99": (_set(["current", "restart"], 99), "'current.restart' is 99"),
    "nothing to resume": (lambda m, a: m.update(current=None, runs=[]),
                          "neither a finished restart nor one in progress"),
    "n_estep as text": (_set(["n_estep"], "many"), "'n_estep' is 'many'"),
    "random state names numpy.random.seed": (_set(["rng", "bit_generator"], "seed"),
                                             "random state names 'seed'"),
    "random state fields": (_set(["rng", "state"], "x"), "not a state of PCG64"),
    "step unknown": (_set(["current", "point", "step"], "magic"), "step is 'magic'"),
    "step state": (_set(["current", "step_state"], {"step_max": -1}), "step_state"),
    "negative seconds": (_set(["seconds"], -1.0), "'seconds' is -1.0"),
    "history cut": (lambda m, a: m["current"].update(rows=m["current"]["rows"][:1]),
                    "history has 1 rows"),
    "tables scaled": (_array("theta", lambda t: t * 2), "does not sum to 1"),
    "tables NaN": (_array("theta", lambda t: t * np.nan), "negative or non-finite"),
    "tables negated": (_array("theta", lambda t: -t), "negative or non-finite"),
    "tables cut": (_array("theta", lambda t: t[:-1]), "missing or not 2 numbers"),
    "tables as text": (_array("theta", lambda t: t.astype(str)), "missing or not 2 numbers"),
    "counts missing": (_array("counts", None), "expected counts"),
    "variance negative": (_array("g0.var", lambda v: -v), "Gaussian CPD of 'x'"),
    "weights reshaped": (_array("g1.w", lambda w: w.ravel()), "Gaussian CPD of 'y'"),
}


@pytest.mark.filterwarnings("ignore::bnem.ConvergenceWarning")
@pytest.mark.parametrize("name", list(HAND_EDITS))
def test_a_hand_edited_checkpoint_is_refused_by_name(tmp_path, name):
    """Edits that keep the file a valid .npz: a clear error naming what is wrong, never
    a traceback from inside, a wrong fit, or the data blamed."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame(np.vstack([rng.normal(0, 1, (80, 2)), rng.normal(1, 1, (80, 2))]),
                      columns=["x", "y"])
    net = bnem.gaussian_mixture(["x", "y"], 2)
    path = tmp_path / "c.ckpt"
    calls = []
    kw = dict(seed=0, max_iter=50, tol=0, accelerate="none")
    bnem.fit(net, df, checkpoint=path, callback=lambda p: calls.append(p) or len(calls) == 4,
             **kw)
    edit, match = HAND_EDITS[name]
    _edited(path, edit)
    with pytest.raises(bnem.BnemError, match=match):
        bnem.fit(net, df, resume=path, **kw)


@pytest.mark.filterwarnings("ignore::bnem.ConvergenceWarning")
def test_an_intact_checkpoint_still_resumes_after_the_checks(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(np.vstack([rng.normal(0, 1, (80, 2)), rng.normal(1, 1, (80, 2))]),
                      columns=["x", "y"])
    net = bnem.gaussian_mixture(["x", "y"], 2)
    calls = []
    kw = dict(seed=0, max_iter=12, tol=0, accelerate="none")
    whole = bnem.fit(net, df, **kw)
    bnem.fit(net, df, checkpoint=tmp_path / "c.ckpt",
             callback=lambda p: calls.append(p) or len(calls) == 4, **kw)
    assert not bnem.fit(net, df, max_iter=4, tol=0, seed=0, accelerate="none").converged
    resumed = bnem.fit(net, df, resume=tmp_path / "c.ckpt", **kw)
    np.testing.assert_allclose(resumed.history.log_likelihood, whole.history.log_likelihood,
                               rtol=1e-12)
