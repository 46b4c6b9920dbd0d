"""The bnem command: the README's main job end to end, and user errors (exit 2, one line)."""

import gzip
import subprocess
import sys

import pandas as pd
import pytest

import bnem
from bnem.cli.main import main
from conftest import NETWORKS


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_sample_fit_loglik_info(tmp_path, capsys):
    csv = tmp_path / "asia.csv"
    out_bif = tmp_path / "learned.bif"
    trace = tmp_path / "trace.csv"
    code, _, _ = run(capsys, "sample", NETWORKS / "asia.bif", "-n", 2000, "--missing", 0.2,
                     "--seed", 1, "-o", csv)
    assert code == 0
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    assert df.shape == (2000, 8) and (df == "").to_numpy().mean() == pytest.approx(0.2, abs=0.02)
    code, out, err = run(capsys, "fit", NETWORKS / "asia.bif", csv, "-o", out_bif,
                         "--history", trace, "--max-iter", 50)
    assert code == 0
    assert "iteration 1: log-likelihood" in err  # every iteration is logged as it happens
    assert "log-likelihood" in out and f"wrote {out_bif}" in out
    learned = bnem.read_bif(out_bif)
    history = pd.read_csv(trace)
    assert list(history.columns) == ["iteration", "log_likelihood", "delta", "seconds"]
    assert history["log_likelihood"].is_monotonic_increasing
    data = bnem.read_table(csv)
    assert learned.log_likelihood(data) == pytest.approx(history["log_likelihood"].iloc[-1],
                                                         rel=1e-9)
    code, out, _ = run(capsys, "loglik", out_bif, csv, "--per-row", tmp_path / "rows.csv")
    assert code == 0 and out.startswith("log-likelihood ")
    assert float(out.split()[1]) == pytest.approx(history["log_likelihood"].iloc[-1], rel=1e-9)
    assert len(pd.read_csv(tmp_path / "rows.csv")) == 2000
    code, out, _ = run(capsys, "info", NETWORKS / "alarm.bif")
    assert code == 0 and "37 nodes, 46 edges" in out and "largest 144 entries" in out


def test_sample_hide_makes_latent(tmp_path, capsys):
    csv = tmp_path / "child.csv"
    code, _, _ = run(capsys, "sample", NETWORKS / "child.bif", "-n", 100, "--hide", "Disease",
                     "--seed", 0, "-o", csv, "--marker", "?")
    assert code == 0
    assert "Disease" not in pd.read_csv(csv).columns


@pytest.mark.parametrize("args, match", [
    (["fit", "nope.bif", "x.csv", "-o", "o.bif"], "nope.bif"),
    (["info", "{bad}"], "bad.bif:5:1: expected ';'"),
    (["fit", "{asia}", "{unknown_col}", "-o", "{out}"], "name no node"),
    (["fit", "{asia}", "{bad_state}", "-o", "{out}"], "value 'maybe'"),
    (["fit", "{asia}", "{ok}", "-o", "{out}", "--max-iter", "-3"], "max_iter must be >= 0"),
    (["sample", "{asia}", "-n", "0", "-o", "{out}"], "n must be >= 1"),
    (["loglik", "{asia}", "{empty}"], "empty"),
    (["fit", "{asia}", "{ok}", "-o", "{tmp}"], "is a directory"),
    (["fit", "{asia}", "{ok}", "-o", "{nodir}"], "does not exist"),
    (["sample", "{asia}", "-n", "5", "-o", "{out}", "--missing", "0.5", "--marker", "yes"],
     "is a state of"),
    (["fit", "{asia}", "{ok}", "-o", "{out}", "--seed", "-1"], "seed must be >= 0"),
    (["info", "{badxml}"], "cannot read"),
    (["loglik", "{asia}", "{ragged}"], "line 2 has 3 field(s)"),
    (["info", "{badgz}"], "cannot decompress gzip data"),
    (["loglik", "{asia}", "{ok}", "--per-row", "{nodir}"], "does not exist"),
    (["fit", "{asia}", "{ok}", "-o", "{out}", "--history", "{out}"], "name the same file"),
    (["sample", "{asia}", "-n", "5", "-o", "{out}", "--hide", "asia", "tub", "smoke", "lung",
      "bronc", "either", "xray", "dysp"], "cannot hide every node"),
])
def test_user_errors_exit_2_with_one_line(tmp_path, capsys, args, match):
    files = {"asia": NETWORKS / "asia.bif", "out": tmp_path / "o.bif",
             "bad": tmp_path / "bad.bif", "unknown_col": tmp_path / "u.csv",
             "bad_state": tmp_path / "s.csv", "ok": tmp_path / "ok.csv",
             "empty": tmp_path / "e.csv", "tmp": tmp_path, "nodir": tmp_path / "no" / "x.bif",
             "badxml": tmp_path / "bad.xml", "ragged": tmp_path / "r.csv"}
    files["badxml"].write_text("garbage <<")
    files["badgz"] = tmp_path / "t.bif.gz"
    files["badgz"].write_bytes(gzip.compress(b"network x {}" * 50)[:30])
    files["ragged"].write_text("asia,smoke\nyes,no,yes\n")
    files["bad"].write_text("network x {\n}\nvariable a {\n  type discrete [ 2 ] { y, n }\n")
    files["unknown_col"].write_text("asia,foo\nyes,1\n")
    files["bad_state"].write_text("asia\nyes\nmaybe\n")
    files["ok"].write_text("asia\nyes\n")
    files["empty"].write_text("")
    argv = [a.format(**files) if "{" in a and "}" in a and a.strip("{}") in files else a
            for a in args]
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("bnem ")]
    assert len(lines) == 1 and match in lines[0], err


def test_console_script_entry_point(tmp_path):
    """The installed `bnem` command runs (same code as main())."""
    out = subprocess.run([sys.executable, "-m", "bnem.cli.main", "info", str(NETWORKS / "asia.bif")],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "8 nodes" in out.stdout
