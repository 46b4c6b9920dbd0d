"""Online EM with restarts (n_init > 1) and checkpoints of the online-then-batch
hand-off."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import bnem
from bnem.errors import BnemValueError

ONLINE = dict(method="online", init="random", seed=1, batch_rows=400, max_passes=2,
              prior=1.0)
HAND_OFF = dict(ONLINE, method="online-then-batch", accelerate="none", tol=1e-9, max_iter=25)


def _data(n=2000, seed=3):
    net = bnem.load_network("asia")
    return net, net.sample(n, seed=seed, missing=0.2)


def _no_seconds(frame):
    return frame[[c for c in frame.columns if c != "seconds"]]


def _by_hand(net, df, n_init):
    """Each start learned through OnlineEM itself: the next start is the learner's
    fresh() copy, which draws from the same random stream."""
    learner = bnem.OnlineEM(net, init="random", seed=1, prior=1.0)
    batches = [df.iloc[i:i + 400] for i in range(0, len(df), 400)]
    out = []
    for k in range(n_init):
        if k:
            learner = learner.fresh()
        for _ in range(2):  # passes: the second is scaled to the first pass's weight
            reference = None if learner.n_batches < len(batches) else float(len(df))
            last = [learner.update(b, reference_weight=reference) for b in batches]
        out.append((sum(r.log_likelihood for r in last), learner.network))
    return out


def test_restarts_keep_the_start_with_the_best_last_pass():
    net, df = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bnem.fit(net, df, n_init=3, **ONLINE)
        one = bnem.fit(net, df, n_init=1, **ONLINE)
        starts = _by_hand(net, df, 3)
    objectives = [o for o, _ in starts]
    assert len(set(np.round(objectives, 6))) == 3, "the three starts should differ"
    np.testing.assert_allclose(res.restarts["objective"], objectives, rtol=1e-12)
    best = int(np.argmax(objectives))
    assert res.best_restart == best
    assert res.log_likelihood == pytest.approx(objectives[best], rel=1e-12)
    np.testing.assert_allclose(res.network.flat_params(), starts[best][1].flat_params(),
                               rtol=1e-10, atol=1e-14)
    # every start's history, the kept one's as the history
    assert list(res.histories["restart"].unique()) == [0, 1, 2]
    kept = res.histories[res.histories.restart == best].drop(columns="restart")
    pd.testing.assert_frame_equal(_no_seconds(kept.reset_index(drop=True)),
                                  _no_seconds(res.history))
    assert res.n_estep == 3 * len(res.history)
    # the first start is the single-start fit
    first = res.histories[res.histories.restart == 0].drop(columns="restart")
    pd.testing.assert_frame_equal(_no_seconds(first.reset_index(drop=True)),
                                  _no_seconds(one.history))
    assert one.restarts["objective"].iloc[0] == pytest.approx(objectives[0], rel=1e-12)


def test_restarts_resume_from_a_checkpoint_within_the_second_start(tmp_path):
    net, df = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = bnem.fit(net, df, n_init=3, **ONLINE)
        ckpt, live = tmp_path / "r.ckpt", tmp_path / "h.csv"
        seen = {"n": 0}

        def stop(progress):  # the second start's 7th batch (each start has 10)
            seen["n"] += 1
            return seen["n"] == 17

        part = bnem.fit(net, df, n_init=3, checkpoint=ckpt, checkpoint_every=0,
                        history_path=live, callback=stop, **ONLINE)
        assert part.stopped
        # stopped part-way through a later start: the finished first start is kept; the
        # stopped one is listed (as batch EM lists its stopped restart), not compared
        assert part.best_restart == 0 and len(part.restarts) == 2
        assert np.isnan(part.restarts["objective"].iloc[1])
        assert part.restarts["n_iter"].tolist() == [10, 7] and part.n_estep == 17
        assert len(part.histories) == 17
        pd.testing.assert_frame_equal(_no_seconds(part.history),
                                      _no_seconds(full.histories[full.histories.restart == 0]
                                                  .drop(columns="restart")
                                                  .reset_index(drop=True)))
        meta = json.loads(str(np.load(ckpt)["meta"]))
        assert meta["position"]["start"] == 1 and meta["best"] is not None
        resumed = bnem.fit(net, df, n_init=3, checkpoint=ckpt, resume=ckpt,
                           history_path=live, **ONLINE)
    pd.testing.assert_frame_equal(_no_seconds(resumed.histories), _no_seconds(full.histories),
                                  rtol=1e-10)
    np.testing.assert_allclose(resumed.network.flat_params(), full.network.flat_params(),
                               rtol=1e-10, atol=1e-14)
    assert resumed.best_restart == full.best_restart
    written = pd.read_csv(live)
    assert list(written.columns[:2]) == ["restart", "pass"]
    assert len(written) == len(full.histories)
    with pytest.raises(BnemValueError, match="with other options: n_init=2"):
        bnem.fit(net, df, **{**ONLINE, "n_init": 2}, resume=ckpt)


def test_a_stopped_first_start_gives_what_it_learned():
    net, df = _data(800)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bnem.fit(net, df, n_init=3, callback=lambda p: p.iteration == 2, **ONLINE)
    assert res.stopped and len(res.history) == 2 and res.best_restart == 0
    assert len(res.restarts) == 1


@pytest.mark.parametrize("stop_at", [6, 19])  # in the online phase, in the batch phase
def test_hand_off_resumes_from_one_checkpoint(tmp_path, stop_at):
    net, df = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = bnem.fit(net, df, **HAND_OFF)
        phases = full.history["phase"].value_counts()
        assert phases["online"] == 10 and phases["batch"] > 10
        ckpt = tmp_path / "h.ckpt"
        seen = {"n": 0}

        def stop(progress):
            seen["n"] += 1
            return seen["n"] == stop_at

        part = bnem.fit(net, df, checkpoint=ckpt, checkpoint_every=0, callback=stop,
                        **HAND_OFF)
        assert part.stopped and len(part.history) == stop_at
        meta = json.loads(str(np.load(ckpt)["meta"]))
        assert ("online_phase" in meta) == (stop_at > 10)
        resumed = bnem.fit(net, df, checkpoint=ckpt, resume=ckpt, **HAND_OFF)
    pd.testing.assert_frame_equal(_no_seconds(resumed.history), _no_seconds(full.history),
                                  rtol=1e-10)
    np.testing.assert_allclose(resumed.network.flat_params(), full.network.flat_params(),
                               rtol=1e-10, atol=1e-14)
    assert resumed.n_estep == full.n_estep
    assert resumed.method == "online-then-batch"


def test_hand_off_checkpoint_errors(tmp_path):
    net, df = _data(800)
    batch = tmp_path / "batch.ckpt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bnem.fit(net, df, max_iter=2, checkpoint=batch, seed=0)
        with pytest.raises(BnemValueError, match="checkpoint of batch EM, not of "
                                                 "method='online-then-batch'"):
            bnem.fit(net, df, resume=batch, **HAND_OFF)
        with pytest.raises(BnemValueError, match="does not exist"):
            bnem.fit(net, df, resume=tmp_path / "none.ckpt", **HAND_OFF)
        done = tmp_path / "done.ckpt"
        first = bnem.fit(net, df, checkpoint=done, **HAND_OFF)
        with pytest.raises(BnemValueError, match="with other options"):
            bnem.fit(net, df, resume=done, **{**HAND_OFF, "prior": 2.0})
        again = bnem.fit(net, df, resume=done, **HAND_OFF)  # finished: at once
    np.testing.assert_allclose(again.network.flat_params(), first.network.flat_params(),
                               rtol=1e-12)


def test_hand_off_with_restarts_starts_batch_em_from_the_kept_start():
    net, df = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        online = bnem.fit(net, df, n_init=2, **ONLINE)
        both = bnem.fit(net, df, n_init=2, **HAND_OFF)
        batch = bnem.fit(online.network, df, init="network", accelerate="none", tol=1e-9,
                         max_iter=25, prior=1.0)
    np.testing.assert_allclose(both.network.flat_params(), batch.network.flat_params(),
                               rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("stop_at", [1, 10, 20, 30])
def test_a_stop_on_a_start_s_last_batch_keeps_that_start(tmp_path, stop_at):
    # batch 10, 20 and 30 end starts 1, 2 and 3 (2 passes of 5 batches each); batch 1
    # is in the first pass (its weight not yet known)
    net, df = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = bnem.fit(net, df, n_init=3, **ONLINE)
        seen = {"n": 0}

        def stop(progress):
            seen["n"] += 1
            return seen["n"] == stop_at

        ckpt = tmp_path / "s.ckpt"
        part = bnem.fit(net, df, n_init=3, callback=stop, checkpoint=ckpt, **ONLINE)
        finished = stop_at // 10
        assert len(part.restarts) == finished + (stop_at % 10 != 0)
        if finished:
            objectives = full.restarts["objective"].to_numpy()[:finished]
            np.testing.assert_allclose(part.restarts["objective"].to_numpy()[:finished],
                                       objectives, rtol=1e-12)
            assert part.best_restart == int(np.argmax(objectives))
        resumed = bnem.fit(net, df, n_init=3, checkpoint=ckpt, resume=ckpt, **ONLINE)
    pd.testing.assert_frame_equal(_no_seconds(resumed.histories), _no_seconds(full.histories),
                                  rtol=1e-10)
    np.testing.assert_allclose(resumed.network.flat_params(), full.network.flat_params(),
                               rtol=1e-10, atol=1e-14)


def test_restart_and_hand_off_review_findings(tmp_path):
    net, df = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(BnemValueError, match=r"n_init=3 \(each start reads the data\)"):
            bnem.fit(net, iter([df.iloc[:1000], df.iloc[1000:]]),
                     **dict(ONLINE, n_init=3, max_passes=1))
        # the hand-off lists every online start; the kept one goes on in batch EM
        live = tmp_path / "h.csv"
        both = bnem.fit(net, df, n_init=3, history_path=live, **HAND_OFF)
        assert len(both.restarts) == 3 and both.best_restart == int(
            np.argmax(both.restarts["objective"]))
        phases = both.histories.groupby("phase")["restart"].unique()
        assert sorted(phases["online"]) == [0, 1, 2]
        assert list(phases["batch"]) == [both.best_restart]
        written = pd.read_csv(live)
        assert len(written) == len(both.histories) and "restart" in written.columns
        # the batch phase's seconds count from the fit's start: after every online start
        online_end = both.histories.loc[both.histories.phase == "online", "seconds"]
        batch_seconds = both.history.loc[both.history.phase == "batch", "seconds"]
        starts_total = both.histories[both.histories.phase == "online"].groupby(
            "restart")["seconds"].max().sum()
        assert batch_seconds.min() >= starts_total * (1 - 1e-9) >= online_end.max() * 0.999
        # a batch-phase checkpoint of the hand-off refuses other online options
        ckpt = tmp_path / "b.ckpt"
        seen = {"n": 0}

        def stop(progress):
            seen["n"] += 1
            return seen["n"] == 34  # 30 online batches, then the batch phase

        bnem.fit(net, df, n_init=3, checkpoint=ckpt, checkpoint_every=0, callback=stop,
                 **HAND_OFF)
        assert "online_phase" in json.loads(str(np.load(ckpt)["meta"]))
        for other in ({"n_init": 2}, {"step": (0.9, 1.0)}, {"batch_rows": 500}):
            with pytest.raises(BnemValueError, match="with other options"):
                bnem.fit(net, df, resume=ckpt, **{**HAND_OFF, "n_init": 3, **other})
        with pytest.raises(BnemValueError, match="batch phase of method='online-then-batch'"):
            bnem.fit(net, df, resume=ckpt, **dict(ONLINE, n_init=3))
        resumed = bnem.fit(net, df, n_init=3, resume=ckpt, **HAND_OFF)
    pd.testing.assert_frame_equal(_no_seconds(resumed.histories), _no_seconds(both.histories),
                                  rtol=1e-10)
    assert resumed.seconds >= resumed.history["seconds"].iloc[-1] * 0.999
