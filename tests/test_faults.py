"""Faults lose nothing: atomic writes (a failed write leaves the old file and no debris),
and Ctrl-C stops a fit after its iteration with what it found."""

import errno
import os

import numpy as np
import pandas as pd
import pytest

import bnem
from bnem import atomic
from conftest import load


def _debris(folder):
    return [f for f in os.listdir(folder) if f.endswith(".tmp")]


@pytest.mark.parametrize("name", ["net.bif", "net.bif.gz", "net.json", "net.json.gz"])
def test_a_full_disk_leaves_the_old_network_file(tmp_path, monkeypatch, name):
    net = load("asia")
    path = tmp_path / name
    writer = bnem.write_json if ".json" in name else bnem.write_bif
    writer(net, path)
    before = path.read_bytes()

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", full)
    other = net.with_cpds({"asia": [0.5, 0.5]})
    with pytest.raises(OSError, match=rf"could not write .*{name}.*No space left.*unchanged"):
        writer(other, path)
    assert path.read_bytes() == before
    assert _debris(tmp_path) == []


def test_an_error_while_writing_removes_the_temporary_file(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic.atomic_open(path, "w") as handle:
            handle.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old\n" and _debris(tmp_path) == []


def test_cli_outputs_are_complete_and_leave_no_debris(tmp_path):
    from bnem.cli.main import main
    bif = tmp_path / "asia.bif"
    bnem.write_bif(load("asia"), bif)
    assert main(["-q", "sample", str(bif), "-n", "50", "-o", str(tmp_path / "d.csv")]) == 0
    assert main(["-q", "fit", str(bif), str(tmp_path / "d.csv"), "-o", str(tmp_path / "o.bif"),
                 "--history", str(tmp_path / "h.csv"), "--max-iter", "2"]) == 0
    assert main(["loglik", str(bif), str(tmp_path / "d.csv"), "--per-row",
                 str(tmp_path / "p.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "d.csv")) == 50
    assert len(pd.read_csv(tmp_path / "h.csv")) == 3
    assert len(pd.read_csv(tmp_path / "p.csv")) == 50
    assert _debris(tmp_path) == []


def test_written_files_get_the_usual_permissions(tmp_path):
    path = tmp_path / "n.bif"
    bnem.write_bif(load("asia"), path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    os.chmod(path, 0o640)
    bnem.write_bif(load("asia"), path)  # replacing a file keeps its mode
    assert path.stat().st_mode & 0o777 == 0o640


def _ctrl_c_at(iteration, times=1):
    import signal

    def callback(progress):
        if progress.iteration == iteration:
            for _ in range(times):
                os.kill(os.getpid(), signal.SIGINT)
        return False
    return callback


def test_ctrl_c_returns_the_fit_so_far_with_a_warning():
    net = load("child")
    df = net.sample(500, seed=1, hide=["Disease"])
    with pytest.warns(bnem.InterruptedWarning, match="interrupted \\(Ctrl-C\\)"):
        res = bnem.fit(net, df, max_iter=100, tol=0, seed=0, callback=_ctrl_c_at(3))
    assert res.interrupted and not res.converged and res.n_iter == 3
    assert len(res.history) == 4
    assert res.log_likelihood == pytest.approx(res.network.log_likelihood(df), rel=1e-12)
    assert "interrupted (Ctrl-C)" in res.summary()


def test_a_second_ctrl_c_aborts_at_once():
    net = load("asia")
    df = net.sample(200, seed=1, missing=0.3)
    with pytest.raises(KeyboardInterrupt):
        bnem.fit(net, df, max_iter=100, tol=0, callback=_ctrl_c_at(2, times=2))


def test_ctrl_c_in_the_cli_writes_what_it_has_and_exits_130(tmp_path, capsys, monkeypatch):
    import dataclasses

    import bnem.em.loop as loop
    from bnem.cli.main import main
    bif = tmp_path / "child.bif"
    bnem.write_bif(load("child"), bif)
    load("child").sample(300, seed=1, hide=["Disease"]).to_csv(tmp_path / "d.csv", index=False)
    real = loop.validate  # the CLI has no callback flag: Ctrl-C comes from one put in here
    monkeypatch.setattr(loop, "validate", lambda given, hybrid: dataclasses.replace(
        real(given, hybrid), callback=_ctrl_c_at(2)))
    code = main(["-q", "fit", str(bif), str(tmp_path / "d.csv"), "-o", str(tmp_path / "o.bif"),
                 "--history", str(tmp_path / "h.csv"), "--max-iter", "50", "--tol", "0"])
    assert code == 130
    err = capsys.readouterr().err
    assert "interrupted (Ctrl-C) after iteration 2: wrote" in err and "Traceback" not in err
    h = pd.read_csv(tmp_path / "h.csv", keep_default_na=False)
    assert list(h.status) == ["", "", "interrupted"]
    assert bnem.read_bif(tmp_path / "o.bif").nodes == load("child").nodes


def _signal_a_running_cli_fit(tmp_path, signum, extra=(), meanwhile=None):
    """Start `bnem fit` on child (Disease hidden) writing o.bif and h.csv into
    ``tmp_path``, send ``signum`` once EM is under way (after calling ``meanwhile(pid)``
    if given); the process and its stderr."""
    import subprocess
    import sys
    import time
    bif = tmp_path / "child.bif"
    bnem.write_bif(load("child"), bif)
    load("child").sample(3000, seed=1, hide=["Disease"]).to_csv(tmp_path / "d.csv", index=False)
    cmd = [sys.executable, "-m", "bnem.cli.main", "fit", str(bif), str(tmp_path / "d.csv"),
           "-o", str(tmp_path / "o.bif"), "--history", str(tmp_path / "h.csv"),
           "--max-iter", "100000", "--tol", "0", *extra]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    for line in proc.stderr:  # wait until EM is under way
        if "iteration 5:" in line or time.monotonic() > deadline:
            break
    try:
        if meanwhile is not None:
            meanwhile(proc.pid)
    finally:
        proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    return proc, err


@pytest.mark.slow
def test_sigint_to_a_running_cli_fit(tmp_path):
    """A real Ctrl-C to a `bnem fit` process: exit 130, no traceback, outputs complete."""
    import signal
    proc, err = _signal_a_running_cli_fit(tmp_path, signal.SIGINT)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted (Ctrl-C) after iteration" in err
    h = pd.read_csv(tmp_path / "h.csv", keep_default_na=False)
    assert h.status.iloc[-1] == "interrupted" and len(h) >= 6
    assert bnem.read_bif(tmp_path / "o.bif").nodes == load("child").nodes


@pytest.mark.slow
def test_a_write_cut_short_by_a_file_size_limit_keeps_the_old_file(tmp_path):
    import subprocess
    import sys

    from conftest import NETWORKS
    path = tmp_path / "net.bif"
    bnem.write_bif(load("asia"), path)
    before = path.read_bytes()
    code = (
        "import resource, signal, bnem\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG\n"
        "net = bnem.read_bif(%r)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))\n"
        "try:\n"
        "    bnem.write_bif(net, %r)\n"
        "except OSError as exc:\n"
        "    print('OSError', exc)\n" % (str(NETWORKS / "alarm.bif"), str(path)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert "OSError" in out.stdout and "could not write" in out.stdout, out
    assert path.read_bytes() == before
    assert _debris(tmp_path) == []


def test_max_time_stops_cleanly_with_a_warning():
    net = load("child")
    df = net.sample(500, seed=1, hide=["Disease"])
    with pytest.warns(bnem.ConvergenceWarning, match="stopped at max_time=0 s before converging"):
        res = bnem.fit(net, df, max_iter=50, tol=0, n_init=3, max_time=0.0)
    assert res.n_iter == 0 and not res.converged and len(res.restarts) == 1
    assert res.log_likelihood == pytest.approx(res.network.log_likelihood(df), rel=1e-12)
    full = bnem.fit(net, df, max_iter=5, tol=0, max_time=1e9)
    assert full.n_iter == 5
    with pytest.raises(bnem.BnemError, match="max_time must be >= 0.0, got -1.0"):
        bnem.fit(net, df, max_time=-1.0)


def test_cli_json_log_lines(tmp_path, capsys):
    import json

    from bnem.cli.main import main
    bif = tmp_path / "asia.bif"
    bnem.write_bif(load("asia"), bif)
    load("asia").sample(200, seed=1, missing=0.3).to_csv(tmp_path / "d.csv", index=False)
    assert main(["fit", str(bif), str(tmp_path / "d.csv"), "-o", str(tmp_path / "o.bif"),
                 "--max-iter", "3", "--tol", "0", "--log-format", "json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
             if line.startswith('{"restart"')]
    assert [r["iteration"] for r in lines] == [0, 1, 2, 3]
    assert set(lines[0]) == {"restart", "iteration", "log_likelihood", "objective", "delta",
                             "seconds", "n_estep", "step", "elapsed"}
    assert lines[0]["delta"] is None and lines[-1]["n_estep"] == 3 * 3 + 1  # SQUAREM: 3 a step
    assert main(["fit", str(bif), str(tmp_path / "d.csv"), "-o", str(tmp_path / "o.bif"),
                 "--max-iter", "1", "--tol", "0", "--log-format", "json"]) == 0
    err = capsys.readouterr().err.splitlines()
    warned = [json.loads(line) for line in err if line.startswith('{"warning"')]
    assert warned and warned[0]["warning"] == "ConvergenceWarning"
    assert all(line.startswith("{") for line in err if line.strip())


def test_atomic_writes_follow_links_and_write_pipes_directly(tmp_path):
    import threading
    net = load("asia")
    real = tmp_path / "real.bif"
    link = tmp_path / "link.bif"
    bnem.write_bif(load("cancer"), real)
    link.symlink_to(real)
    bnem.write_bif(net, link)
    assert link.is_symlink() and bnem.read_bif(real) == net  # the target was replaced
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    bnem.write_bif(net, fifo)
    reader.join(timeout=30)
    assert got and got[0].startswith(b"network")
    assert os.path.exists(fifo) and not os.path.isfile(fifo)  # still a pipe
    assert _debris(tmp_path) == []


@pytest.mark.parametrize("text, match", [
    ("network x {}\nvariable a { type discrete [ ² ] { y, n }; }\n",
     r"expected the number of states of 'a', found '²'"),
    ("network x {}\nvariable a { type discrete [ 2 ] { y, n }; }\nprobability ( a ) { table "
     + "9" * 100_000 + ", 0.5; }\n", r"found '9{60}\.\.\. \(100000 characters\)'$"),
])
def test_bif_errors_are_short_and_clear(text, match):
    with pytest.raises(bnem.BIFParseError, match=match) as info:
        bnem.read_bif(text)
    assert len(str(info.value)) < 200


def test_a_bif_path_with_a_brace_is_read_as_a_file(tmp_path):
    path = tmp_path / "net{1}.bif"
    bnem.write_bif(load("asia"), path)
    assert bnem.read_bif(str(path)) == bnem.read_bif(path) == load("asia")


def test_numbers_out_of_range_are_clear_errors():
    net = load("asia")
    with pytest.raises(bnem.BnemError, match=r"prior must be <= 1000000000000.0, got 1e\+308"):
        bnem.fit(net, net.sample(10, seed=0), prior=1e308)
    gm = bnem.gaussian_mixture(["x"], 2)
    df = pd.DataFrame({"x": np.arange(10.0) * 1e300})
    with pytest.raises(bnem.DataError, match=r"column 'x': value 1e\+300 .* beyond 1e\+150"):
        bnem.fit(gm, df)


def test_sweep_followups(tmp_path):
    """Items of the adversarial sweep: Unicode normalisation, huge CSV cells, a state
    named NA with read_table(network=), the CLI's default sampling seed."""
    import io
    import unicodedata

    import pandas as pd

    import bnem
    from bnem.cli.main import main

    nfc, nfd = (unicodedata.normalize(f, "café") for f in ("NFC", "NFD"))
    net = bnem.BayesianNetwork({"a": [nfc, "x"]}, cpds={"a": [0.25, 0.75]})
    assert net.log_prob(pd.DataFrame({"a": [nfd]}))[0] == pytest.approx(np.log(0.25))
    big = "x" * 200_000
    table = bnem.read_table(io.StringIO(f'a\n"{big}"\n{big}\n'))
    assert list(table["a"]) == [big, big]
    net_na = bnem.BayesianNetwork({"a": ["NA", "b"]})
    read = bnem.read_table(io.StringIO("a\nNA\nb\n?\n"), network=net_na)
    assert read["a"].tolist()[:2] == ["NA", "b"] and pd.isna(read["a"].iloc[2])
    with pytest.raises(bnem.BnemError, match="either states= or network="):
        bnem.read_table(io.StringIO("a\nb\n"), network=net_na, states={"a": ["b"]})
    for k in range(2):
        assert main(["sample", "networks/asia.bif", "-n", "20", "-o",
                     str(tmp_path / f"s{k}.csv")]) == 0
    assert (tmp_path / "s0.csv").read_text() == (tmp_path / "s1.csv").read_text()


def _signal_at(iteration, name):
    import signal

    def callback(progress):
        if progress.iteration == iteration:
            os.kill(os.getpid(), getattr(signal, name))
        return False
    return callback


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_return_the_fit_so_far(name):
    """Batch schedulers stop jobs with SIGTERM, a closed terminal sends SIGHUP: the fit
    finishes its iteration and returns the best so far, as after Ctrl-C."""
    import signal
    net = load("child")
    df = net.sample(500, seed=1, hide=["Disease"])
    before = signal.getsignal(getattr(signal, name))
    with pytest.warns(bnem.InterruptedWarning, match=f"interrupted \\({name}\\)"):
        res = bnem.fit(net, df, max_iter=100, tol=0, seed=0, callback=_signal_at(3, name))
    assert res.interrupted and res.stop_signal == name and res.n_iter == 3
    assert f"interrupted ({name})" in res.summary()
    assert res.log_likelihood == pytest.approx(res.network.log_likelihood(df), rel=1e-12)
    assert signal.getsignal(getattr(signal, name)) == before  # handler restored


@pytest.mark.slow
def test_sigterm_to_a_running_cli_fit_writes_its_outputs(tmp_path):
    """SIGTERM to a `bnem fit` process: exit 143, outputs written, no temporary data
    left; a second SIGTERM would end it at once."""
    import signal
    (tmp_path / "spill").mkdir()
    proc, err = _signal_a_running_cli_fit(tmp_path, signal.SIGTERM,
                                          ["--spill-dir", str(tmp_path / "spill")])
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "interrupted (SIGTERM) after iteration" in err
    h = pd.read_csv(tmp_path / "h.csv", keep_default_na=False)
    assert h.status.iloc[-1] == "interrupted" and len(h) >= 6
    assert bnem.read_bif(tmp_path / "o.bif").nodes == load("child").nodes
    assert list((tmp_path / "spill").iterdir()) == []


@pytest.mark.slow
def test_a_second_fit_on_the_same_outputs_fails_at_start(tmp_path, capsys):
    """While one `bnem fit` runs, a second naming the same -o, --history or --checkpoint
    is refused before it reads anything, naming the file and the first process; the
    first finishes with its own outputs, and the lock files are gone afterwards."""
    import signal
    from bnem.cli.main import main

    def second(pid):
        other = tmp_path / "other.bif"
        for flags in (["-o", str(tmp_path / "o.bif")],
                      ["-o", str(other), "--history", str(tmp_path / "h.csv")]):
            code = main(["fit", str(tmp_path / "child.bif"), str(tmp_path / "d.csv"), *flags])
            err = capsys.readouterr().err
            assert code == 2, err
            assert f"being written by another fit (process {pid} on" in err
        assert not other.exists()

    proc, err = _signal_a_running_cli_fit(tmp_path, signal.SIGTERM, meanwhile=second)
    assert proc.returncode == 143, err
    h = pd.read_csv(tmp_path / "h.csv", keep_default_na=False)
    assert h.status.iloc[-1] == "interrupted" and len(h) >= 6
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".lock")]


def test_output_locks_are_exclusive_between_processes_and_shared_within_one(tmp_path):
    """A lock held by another process refuses; the same process may nest; a lock of a
    killed process is released by the system (no stale lock blocks later fits)."""
    import subprocess
    import sys
    from bnem.errors import BnemValueError
    from bnem.locks import lock_path, output_locks
    out = tmp_path / "net.bif"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from bnem.locks import output_locks\n"
         f"with output_locks({{'-o': {str(out)!r}}}):\n"
         "    print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BnemValueError, match=rf"-o .*net.bif.* another fit "
                                                      rf"\(process {holder.pid} on"):
            with output_locks({"-o": out}):
                pass
    finally:
        holder.kill()
        holder.wait()
    assert os.path.exists(lock_path(out))  # left by the killed process, but not held
    with output_locks({"-o": out}), output_locks({"--history": out}):
        assert os.path.exists(lock_path(out))
    assert not os.path.exists(lock_path(out))


def test_temporary_files_of_killed_writers_are_removed_by_the_next_write(tmp_path):
    """A `.NAME.HOST-PID-*.tmp` left by a process that no longer runs is removed when
    the same target is written again; one of a running process is left alone."""
    import subprocess
    import sys
    target = tmp_path / "net.bif"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tag = atomic._host_tag()
    orphan = tmp_path / f".net.bif.{tag}-{dead.pid}-abc123.tmp"
    running = tmp_path / f".net.bif.{tag}-{os.getpid()}-def456.tmp"
    other_target = tmp_path / f".other.bif.{tag}-{dead.pid}-abc123.tmp"
    for f in (orphan, running, other_target):
        f.write_bytes(b"x" * 100)
    bnem.write_bif(load("asia"), target)
    assert not orphan.exists()
    assert running.exists() and other_target.exists()
    assert bnem.read_bif(target).nodes == load("asia").nodes


def test_readers_check_table_sizes_before_allocating(tmp_path):
    """A BIF 'default' line over 41 binary parents (numpy tried to allocate 32 TiB) and
    UAI files declaring huge tables or mismatched value counts are refused with the
    wording of the network's own size check; a MARKOV file is named as one."""
    from bnem.errors import BIFParseError, BnemValueError
    from bnem.network.bayesnet import MAX_TABLE_ENTRIES
    variables = "".join(f"variable v{i} {{ type discrete [ 2 ] {{ a, b }}; }}\n"
                        for i in range(42))
    text = ("network x {}\n" + variables + "probability ( v0 | "
            + ", ".join(f"v{i}" for i in range(1, 42)) + " ) { default 0.5, 0.5; }\n")
    with pytest.raises(BIFParseError, match=rf"<string>:44:.*the table of 'v0' \(41 parent\(s\)\) "
                                            rf"would have 4.4e\+12 entries .* at most "
                                            rf"{MAX_TABLE_ENTRIES} entries"):
        bnem.read_bif(text)
    cases = {
        "huge.uai": ("BAYES\n2\n50000 50000\n2\n1 0\n2 0 1\n50000 " + "0.00002 " * 50000
                     + "\n2500000000 0.5 0.5\n",
                     r"the table of 'var_1' \(1 parent\(s\)\) would have 2.5e\+09 entries"),
        "states.uai": ("BAYES\n1\n1000000000\n1\n1 0\n2\n0.5 0.5\n",
                       r"table 0 \(of var_0\) declares 2 value\(s\); its variables' states "
                       r"multiply to 1000000000"),
        "markov.uai": ("MARKOV\n2\n2 2\n1\n2 0 1\n4\n1 2 3 4\n",
                       r"it describes a Markov network \(MARKOV\); bnem reads Bayesian networks \(BAYES\)"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_text(content)
        with pytest.raises(BnemValueError, match=rf"cannot read .*{name} as UAI: {message}"):
            bnem.read_network(tmp_path / name)


def test_a_history_write_error_names_the_file(tmp_path):
    """--history on a full device said only "[Errno 28] No space left on device"."""
    from bnem.em.options import validate
    from bnem.em.run import Progress
    from bnem.em.trace import LiveHistory
    live = LiveHistory(tmp_path / "h.csv", validate({}, False))

    class Full:
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

    live.file.writer = __import__("csv").writer(Full())
    with pytest.raises(OSError, match=r"cannot write the history to '.*h.csv': No space left"):
        live.write(Progress(0, 1, -1.0, -1.0, 0.1, 0.5, 3, "em"))
    live.close()


def test_a_constant_gaussian_column_is_named_as_constant():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(size=300), np.full(300, 2.0)])
    with pytest.warns(bnem.DegenerateWarning, match=r"column\(s\) \['x1'\] are constant "
                                                    r"\(every observed value of 'x1' is 2\)"):
        bnem.GaussianMixture(2, random_state=0).fit(x)
