"""Data files as a source: CSV and Parquet streamed in batches, encoded rows kept on
disk; the same fit as in memory."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest

import bnem
import bnem.data.source as source_module
from bnem.errors import BnemTypeError, DataError

pytest.importorskip("pyarrow")

REL = 1e-10


@pytest.fixture(scope="module")
def asia():
    return bnem.read_bif("networks/asia.bif")


@pytest.fixture(scope="module")
def table(asia):
    df = asia.sample(3000, seed=5, missing=0.25)
    return df.drop(columns=["either"])  # a latent node too


def same_fit(a, b, rel=REL):
    la, lb = a.history.log_likelihood.to_numpy(), b.history.log_likelihood.to_numpy()
    assert la.shape == lb.shape
    np.testing.assert_allclose(la, lb, rtol=rel, atol=0)
    np.testing.assert_allclose(a.network.flat_params(), b.network.flat_params(),
                               rtol=1e-9, atol=1e-12)


def fit(net, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.ConvergenceWarning)
        return bnem.fit(net, data, max_iter=kw.pop("max_iter", 15), seed=7, **kw)


@pytest.fixture
def small_groups(monkeypatch):
    """Batches of 700 rows, so a file is read, encoded and kept in many parts."""
    monkeypatch.setattr(source_module, "GROUP_ROWS", 700)


def test_csv_streamed_equals_in_memory(asia, table, tmp_path, small_groups):
    path = tmp_path / "d.csv"
    table.to_csv(path, index=False, na_rep="?")
    base = fit(asia, table)
    streamed = fit(asia, str(path), memory_mb=0.01)  # chunks re-analysed every E-step
    same_fit(base, streamed)
    assert streamed.n_rows == len(table)


def test_batches_split_runs_of_identical_rows(asia, table, tmp_path, small_groups):
    """Sorted rows: runs of identical rows cross the batch boundaries (rows are merged
    within a batch only), and the fit is the same."""
    ordered = table.sort_values(list(table.columns), na_position="last").reset_index(drop=True)
    marked = ordered.astype(object).fillna("?")
    run = (marked != marked.shift()).any(axis=1).cumsum().to_numpy()
    cut = [b for b in range(700, len(run), 700) if run[b - 1] == run[b]]
    assert cut  # at least one batch boundary falls inside a run of identical rows
    path = tmp_path / "sorted.csv"
    ordered.to_csv(path, index=False, na_rep="?")
    same_fit(fit(asia, ordered), fit(asia, path))


def test_parquet_glob_equals_in_memory(asia, table, tmp_path, small_groups):
    for k, start in enumerate(range(0, len(table), 1100)):
        table.iloc[start:start + 1100].to_parquet(tmp_path / f"part{k}.parquet")
    base = fit(asia, table)
    same_fit(base, fit(asia, str(tmp_path / "*.parquet")))
    same_fit(base, fit(asia, tmp_path))  # a folder: its data files, in name order
    same_fit(base, fit(asia, bnem.files(sorted(tmp_path.glob("*.parquet")))))


def test_categorical_and_integer_parquet_columns(tmp_path):
    net = bnem.BayesianNetwork({"a": ["0", "1", "2"], "b": ["x", "y"]}, {"b": ["a"]})
    df = pd.DataFrame({"a": pd.array([0, 2, None, 1, 2] * 40, dtype="Int64"),
                       "b": pd.Categorical(["x", "y", "y", None, "x"] * 40)})
    df.to_parquet(tmp_path / "t.parquet")
    same_fit(fit(net, df), fit(net, tmp_path / "t.parquet"))


def test_hybrid_network_from_csv(tmp_path, small_groups):
    net = bnem.gaussian_mixture(["x", "y"], 2)
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(2000, 2)) + np.repeat([[0, 0], [3, 1]], 1000, axis=0),
                      columns=["x", "y"])
    df = df.mask(rng.random(df.shape) < 0.15)
    df.to_csv(tmp_path / "g.csv", index=False)
    same_fit(fit(net, df), fit(net, tmp_path / "g.csv"))


def test_log_prob_posterior_and_scores_on_files(asia, table, tmp_path, small_groups):
    path = tmp_path / "d.csv"
    table.to_csv(path, index=False, na_rep="?")
    np.testing.assert_allclose(asia.log_prob(path), asia.log_prob(table), rtol=1e-12)
    post = asia.posterior(path, "either")
    np.testing.assert_allclose(post.to_numpy(), asia.posterior(table, "either").to_numpy(),
                               rtol=1e-12)
    assert list(post.index) == list(range(len(table)))
    assert bnem.bic(asia, path) == pytest.approx(bnem.bic(asia, table), rel=1e-12)


def test_weights_column_in_files(asia, tmp_path):
    counts = asia.sample(400, seed=2, missing=0.3).value_counts(dropna=False).rename("n")
    freq = counts.reset_index()
    freq.to_csv(tmp_path / "f.csv", index=False, na_rep="?")
    same_fit(fit(asia, freq, sample_weight="n"), fit(asia, tmp_path / "f.csv", sample_weight="n"))


def test_bad_cell_far_into_a_file_is_reported_before_iterating(asia, tmp_path, small_groups):
    df = asia.sample(20000, seed=1).astype(object)
    df.loc[18765, "smoke"] = "perhaps"
    path = tmp_path / "big.csv"
    df.to_csv(path, index=False)
    calls = []
    with pytest.raises(DataError) as err:
        bnem.fit(asia, path, callback=lambda p: calls.append(p))
    text = str(err.value)
    # named by the file's line: the header is line 1, row 0 line 2
    assert "big.csv" in text and "line 18767" in text and "'perhaps'" in text and "smoke" in text
    assert calls == []  # no E-step ran


@pytest.mark.parametrize("line, fields", [("yes,no\n", 2), ("yes,no,yes,no,yes,no,yes,no,"
                                                           "yes,no\n", 10)])
def test_short_and_long_lines_name_the_line(asia, tmp_path, line, fields):
    df = asia.sample(50, seed=1)
    text = df.to_csv(index=False).splitlines(keepends=True)
    text.insert(31, line)
    path = tmp_path / "w.csv"
    path.write_text("".join(text))
    with pytest.raises(DataError, match=rf"w\.csv.*line 32 has {fields} field\(s\) but the "
                                        r"header has 8"):
        bnem.fit(asia, path)


def test_quoted_fields_are_read_and_checked(tmp_path):
    net = bnem.BayesianNetwork({"a": ["x,1", "y"], "b": ["p", "q"]}, {"b": ["a"]})
    path = tmp_path / "q.csv"
    path.write_text('a,b\n"x,1",p\ny,q\n"x,1",?\n')
    same_fit(fit(net, pd.DataFrame({"a": ["x,1", "y", "x,1"], "b": ["p", "q", None]})),
             fit(net, path))
    path.write_text('a,b\n"x,1",p\ny,q,p\n')
    with pytest.raises(DataError, match="line 3 has 3 field"):
        bnem.fit(net, path)


def test_missing_marker_that_is_a_state_stays_a_state(tmp_path):
    net = bnem.BayesianNetwork({"a": ["NA", "b"], "c": ["x", "y"]}, {"c": ["a"]})
    path = tmp_path / "m.csv"
    path.write_text("a,c\nNA,NA\nb,x\n")
    with pytest.warns(UserWarning, match="kept as states.*column 'a'"):
        lp = net.log_prob(path)
    expected = net.log_prob(pd.DataFrame({"a": ["NA", "b"], "c": [None, "x"]}))
    np.testing.assert_allclose(lp, expected)


def test_spill_folder_is_removed_after_fit_and_after_errors(asia, table, tmp_path):
    spill = tmp_path / "spill"
    spill.mkdir()
    table.to_csv(tmp_path / "d.csv", index=False)
    fit(asia, tmp_path / "d.csv", spill_dir=spill, max_iter=2)
    assert list(spill.iterdir()) == []
    with pytest.raises(bnem.BnemError):
        bnem.fit(asia, tmp_path / "d.csv", spill_dir=spill, init="network",
                 max_iter=-1)
    bad = table.astype(object)
    bad.loc[2000, "xray"] = "blue"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError):
        bnem.fit(asia, tmp_path / "bad.csv", spill_dir=spill)
    assert list(spill.iterdir()) == []


@pytest.mark.parametrize("make, message", [
    (lambda d: str(d / "none*.csv"), "no data file matches"),
    (lambda d: str(d / "absent.csv"), "does not exist"),
    (lambda d: [str(d / "a.csv"), str(d / "b.parquet")], "mix CSV and Parquet"),
    (lambda d: str(d / "notes.json"), "unknown kind of file"),
    (lambda d: str(d / "empty"), "holds no CSV or Parquet file"),
    (lambda d: str(d / "header_only.csv"), "empty"),
    (lambda d: str(d / "blank.csv"), "empty or its first line is blank"),
    (lambda d: str(d / "latin1.csv"), "not UTF-8"),
    (lambda d: str(d / "broken.parquet"), "cannot read Parquet file"),
    (lambda d: [], "data part|no DataFrame|empty"),
])
def test_bad_file_sources_are_clear_errors(asia, tmp_path, make, message):
    (tmp_path / "a.csv").write_text("asia\nyes\n")
    pd.DataFrame({"asia": ["yes"]}).to_parquet(tmp_path / "b.parquet")
    (tmp_path / "notes.json").write_text("{}")
    (tmp_path / "empty").mkdir()
    (tmp_path / "header_only.csv").write_text("asia,smoke\n")
    (tmp_path / "blank.csv").write_text("\n\n")
    (tmp_path / "latin1.csv").write_bytes("asia\nyes\n\xe9t\xe9\n".encode("latin-1"))
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises((DataError, BnemTypeError), match=message):
        bnem.fit(asia, make(tmp_path))


def test_files_arguments_are_checked(tmp_path):
    with pytest.raises(BnemTypeError, match="missing must be"):
        bnem.files(tmp_path, missing=[1])
    with pytest.raises(BnemTypeError, match="sep must be"):
        bnem.files(tmp_path, sep=";;")
    with pytest.raises(BnemTypeError, match="must be paths"):
        bnem.files([tmp_path, 3])


def test_files_options_missing_and_separator(asia, tmp_path):
    df = asia.sample(300, seed=3, missing=0.2)
    df.to_csv(tmp_path / "semi.txt", index=False, sep=";", na_rep="-")
    same_fit(fit(asia, df), fit(asia, bnem.files(tmp_path / "semi.txt", missing="-", sep=";")))
    df.to_csv(tmp_path / "d.tsv.gz", index=False, sep="\t", na_rep="?")
    same_fit(fit(asia, df), fit(asia, tmp_path / "d.tsv.gz"))


def test_error_names_the_file_among_several(asia, tmp_path):
    good = asia.sample(100, seed=1)
    good.to_csv(tmp_path / "a.csv", index=False)
    bad = good.astype(object)
    bad.loc[42, "dysp"] = "maybe"
    bad.to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(DataError, match=r"b\.csv.*'maybe'.*line 44"):
        bnem.fit(asia, [tmp_path / "a.csv", tmp_path / "b.csv"])
    os.remove(tmp_path / "b.csv")
    bad.drop(columns="dysp").to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(DataError, match=r"b\.csv' has other columns than data file '.*a\.csv'"):
        bnem.fit(asia, [tmp_path / "a.csv", tmp_path / "b.csv"])


def test_analysis_beyond_the_budget_is_kept_on_disk(asia, table, tmp_path, small_groups):
    from bnem.inference.budget import MemoryBudget
    from bnem.inference.dataset import AnalysedData
    from bnem.network.parameters import Parameters

    path = tmp_path / "d.csv"
    table.to_csv(path, index=False, na_rep="?")
    compiled = bnem.compile(asia)
    on_disk = AnalysedData(compiled, path, MemoryBudget(0.01))
    in_memory = AnalysedData(compiled, table, MemoryBudget(0.01))
    try:
        assert on_disk.n_spilled == on_disk.n_chunks > 1 and on_disk.n_streamed == 0
        assert in_memory.n_streamed == in_memory.n_chunks  # a DataFrame: analysed again
        params = Parameters.of(asia)
        a, b = on_disk.stats(params), in_memory.stats(params)
        assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=1e-12)
        np.testing.assert_allclose(a.counts, b.counts, rtol=1e-12, atol=1e-12)
        assert any(f.name.startswith("analysis") for f in
                   os.scandir(on_disk.source.spill.path))  # type: ignore[union-attr]
    finally:
        on_disk.close()


RSS_CHILD = """
import json, sys, warnings
def status(key):  # this process's own figures: ru_maxrss would carry the parent's peak
    with open("/proc/self/status") as f:          # over the fork and exec
        return [int(line.split()[1]) * 1024 for line in f if line.startswith(key)][0]
import bnem
net = bnem.read_bif(sys.argv[1])
base = status("VmRSS:")
warnings.simplefilter("ignore")
bnem.fit(net, sys.argv[2], max_iter=1, memory_mb=16)
print(json.dumps({"base": base, "peak": status("VmHWM:")}))
"""


def test_peak_memory_of_a_streamed_fit_follows_the_budget(tmp_path):
    """120,000 rows of alarm from CSV with memory_mb=16: the fit's share of the peak
    resident memory stays under the budget plus a fixed overhead (batches being read,
    one chunk's work arrays); the measured figures go to benchmarks/README.md."""
    import json
    import subprocess
    import sys

    net = bnem.read_bif("networks/alarm.bif")
    net.sample(120_000, seed=1, missing=0.2).to_csv(tmp_path / "alarm.csv", index=False)
    out = subprocess.run([sys.executable, "-c", RSS_CHILD, "networks/alarm.bif",
                          str(tmp_path / "alarm.csv")], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    share_mb = (figures["peak"] - figures["base"]) / 2 ** 20
    assert share_mb < 16 + 250, figures


def test_rows_identical_across_files_are_merged(asia, tmp_path, small_groups):
    from bnem.inference.budget import MemoryBudget
    from bnem.inference.dataset import AnalysedData

    df = asia.sample(6000, seed=4, missing=0.1)[["asia", "smoke", "xray", "dysp"]]
    for k in range(3):
        df.iloc[k * 2000:(k + 1) * 2000].to_csv(tmp_path / f"s{k}.csv", index=False)
    distinct = len(df.astype(object).fillna("?").drop_duplicates())
    compiled = bnem.compile(asia)
    merged = AnalysedData(compiled, tmp_path)
    apart = AnalysedData(compiled, tmp_path, MemoryBudget(0.01))  # no room to merge
    try:
        assert merged.n_distinct == distinct < apart.n_distinct
        assert merged.n_rows == apart.n_rows == 6000
        assert merged.total_weight == apart.total_weight == 6000
    finally:
        merged.close()
        apart.close()
    same_fit(fit(asia, df), fit(asia, tmp_path))


def test_impossible_row_in_merged_files_names_file_and_row(tmp_path):
    net = bnem.BayesianNetwork({"a": ["x", "y"], "b": ["p", "q"]}, {"b": ["a"]},
                               cpds={"a": [1.0, 0.0], "b": [[0.5, 0.5], [0.5, 0.5]]})
    pd.DataFrame({"a": ["x", "x", None], "b": ["p", "q", "q"]}).to_csv(tmp_path / "f1.csv",
                                                                      index=False)
    pd.DataFrame({"a": ["x", "y"], "b": ["p", "q"]}).to_csv(tmp_path / "f2.csv", index=False)
    with pytest.raises(bnem.ImpossibleRowError, match=r"line 3 \(a='y', b='q'\) of data file "
                                                      r"'.*f2\.csv'"):
        bnem.fit(net, tmp_path, init="network")


def test_cells_holding_lists_are_clear_errors(asia, tmp_path):
    frame = pd.DataFrame({"asia": [["yes"], ["no"]], "smoke": ["yes", "no"]})
    with pytest.raises(DataError, match=r"column 'asia': the cell in row 0 holds a list"):
        asia.log_prob(frame)
    pd.DataFrame({"asia": [["yes"], ["no"]]}).to_parquet(tmp_path / "l.parquet")
    with pytest.raises(DataError, match=r"l\.parquet.*'asia'.* hold lists"):
        asia.log_prob(tmp_path / "l.parquet")


def test_damaged_and_odd_csv_files(asia, tmp_path):
    import gzip

    text = asia.sample(3000, seed=1).to_csv(index=False).encode()
    (tmp_path / "cut.csv.gz").write_bytes(gzip.compress(text)[:-200])
    with pytest.raises(DataError, match="cut.csv.gz.*corrupt or truncated"):
        asia.log_prob(tmp_path / "cut.csv.gz")
    (tmp_path / "cr.csv").write_bytes(b"asia,smoke\ryes\rno,yes\r")  # lone CR line ends
    with pytest.raises(DataError, match=r"line 2 has 1 field\(s\) but the header has 2"):
        asia.log_prob(tmp_path / "cr.csv")
    (tmp_path / "quote.csv").write_text("asia,smoke\nyes,no\nno,yes\n\"yes,no\n" +
                                        "no,no\n" * 20)
    with pytest.raises(DataError, match=r"lines 4-24 \(a quote opened on line 4 may not be"):
        asia.log_prob(tmp_path / "quote.csv")
    late = text + b"yes,\xe9t\xe9\n"
    (tmp_path / "latin.csv").write_bytes(late)
    with pytest.raises(DataError, match=r"not UTF-8 text: line 3002 holds the byte"):
        asia.log_prob(tmp_path / "latin.csv")
    huge = tmp_path / "huge.csv"
    huge.write_text("asia\n" + "x" * 200_000 + "\n")
    with pytest.raises(DataError) as err:
        asia.log_prob(huge)
    assert len(str(err.value)) < 1000 and "200002 characters" in str(err.value)


def test_file_lists_folders_and_globs(asia, tmp_path):
    df = asia.sample(300, seed=2)
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    df.iloc[:100].to_csv(tmp_path / "sub" / "a.csv", index=False)
    df.iloc[100:].to_csv(tmp_path / "sub" / "deeper" / "b.csv", index=False)
    (tmp_path / "sub" / "README.txt").write_text("notes about these files\n")
    np.testing.assert_allclose(asia.log_prob(str(tmp_path / "sub" / "**" / "*.csv")),
                               asia.log_prob(df))
    assert len(asia.log_prob(tmp_path / "sub")) == 100  # the folder's data files only
    with pytest.raises(DataError, match="named more than once"):
        asia.log_prob([tmp_path / "sub" / "a.csv", str(tmp_path / "sub" / "a.csv")])
    with pytest.raises(BnemTypeError, match="is a path .* in an iterator"):
        asia.log_prob(iter([tmp_path / "sub" / "a.csv"]))
    df.iloc[:0].to_parquet(tmp_path / "empty.parquet")
    with pytest.raises(DataError, match=r"every data file is empty \(0 rows; .*empty\.parquet"):
        asia.log_prob(tmp_path / "empty.parquet")
    post = asia.posterior([tmp_path / "sub" / "a.csv", tmp_path / "sub" / "deeper" / "b.csv"],
                          "either")
    assert list(post.index) == list(range(300))  # positions over the files in order


def test_spill_folder_problems(asia, tmp_path):
    asia.sample(50, seed=1).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match="cannot make a temporary folder .* give spill_dir= a "
                                        "writable folder"):
        bnem.fit(asia, tmp_path / "d.csv", spill_dir="/proc")
    stale = tmp_path / "bnem-spill-old"
    stale.mkdir()
    import socket
    import subprocess
    import sys
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (stale / "owner").write_text(f"{socket.gethostname()} {dead}\n")
    (stale / "part0000001.codes.npy").write_bytes(b"left by a killed fit")
    mine = tmp_path / "bnem-spill-alive"
    mine.mkdir()
    (mine / "owner").write_text(f"{socket.gethostname()} {os.getpid()}\n")
    fit(asia, tmp_path / "d.csv", spill_dir=tmp_path, max_iter=1)
    assert not stale.exists() and mine.exists()
