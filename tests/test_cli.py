"""The bnem command: the README's main job end to end, and user errors (exit 2, one line)."""

import gzip
import subprocess
import sys

import numpy as np
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
    assert list(history.columns) == ["iteration", "log_likelihood", "delta", "seconds",
                                     "n_estep", "step"]  # SQUAREM, the default
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


@pytest.mark.slow  # a subprocess that imports bnem
def test_console_script_entry_point(tmp_path):
    """The installed `bnem` command runs (same code as main())."""
    out = subprocess.run([sys.executable, "-m", "bnem.cli.main", "info", str(NETWORKS / "asia.bif")],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "8 nodes" in out.stdout


# -- hybrid networks in JSON -------------------------------------------------------------

def mixture_network() -> bnem.BayesianNetwork:
    """A 2-component, full-covariance mixture on (x1, x2): z -> x1, z -> x2, x1 -> x2."""
    return bnem.BayesianNetwork(
        {"z": ["a", "b"], "x1": "continuous", "x2": "continuous"},
        {"x1": ["z"], "x2": ["z", "x1"]},
        {"z": [0.4, 0.6], "x1": {"intercept": [-3.0, 3.0], "variance": [1.0, 0.5]},
         "x2": {"intercept": [0.0, 2.0], "weights": [[0.5], [-1.0]], "variance": [0.3, 1.0]}},
        name="mixture")


def test_hybrid_sample_fit_loglik_info_through_json(tmp_path, capsys):
    from bnem.io import write_json

    truth = tmp_path / "mixture.json"
    write_json(mixture_network(), truth)
    csv, learned, trace = tmp_path / "mix.csv", tmp_path / "learned.json", tmp_path / "trace.csv"
    code, _, _ = run(capsys, "sample", truth, "-n", 1500, "--hide", "z", "--missing", 0.1,
                     "--seed", 2, "-o", csv)
    assert code == 0
    data = bnem.read_table(csv)
    assert list(data.columns) == ["x1", "x2"] and data.isna().to_numpy().mean() == pytest.approx(
        0.1, abs=0.02)
    # read_table keeps text; encoding turns numeric text into the same floats pandas reads
    floats = pd.read_csv(csv)
    assert mixture_network().log_likelihood(data) == mixture_network().log_likelihood(floats)
    code, out, err = run(capsys, "fit", truth, csv, "-o", learned, "--history", trace,
                         "--min-variance", 1e-4, "--seed", 1)
    assert code == 0 and f"wrote {learned}" in out and "iteration 1: log-likelihood" in err
    net = bnem.read_network(learned)
    history = pd.read_csv(trace)
    assert net.is_hybrid and net.parents("x2") == ("z", "x1")
    assert history["log_likelihood"].is_monotonic_increasing
    assert net.log_likelihood(floats) == pytest.approx(history["log_likelihood"].iloc[-1], rel=1e-9)
    means = sorted(net.cpd("x1").intercept)  # components recovered up to relabelling
    assert means == pytest.approx([-3.0, 3.0], abs=0.25)
    code, out, _ = run(capsys, "loglik", learned, csv)
    assert code == 0
    assert float(out.split()[1]) == pytest.approx(history["log_likelihood"].iloc[-1], rel=1e-9)
    code, out, _ = run(capsys, "info", learned)
    assert code == 0 and "network 'mixture': 3 nodes, 3 edges, 11 free parameters" in out
    assert "2 Gaussian nodes in 1 component(s)" in out and "  x2 [gaussian] <- z, x1" in out


@pytest.mark.parametrize("suffix", [".json", ".json.gz", ".bif"])
def test_fit_output_format_follows_the_extension(tmp_path, capsys, suffix):
    csv, out_file = tmp_path / "asia.csv", tmp_path / f"learned{suffix}"
    run(capsys, "sample", NETWORKS / "asia.bif", "-n", 300, "--missing", 0.2, "--seed", 0, "-o", csv)
    code, _, _ = run(capsys, "fit", NETWORKS / "asia.bif", csv, "-o", out_file, "--tol", 1e-3)
    assert code == 0
    learned = bnem.read_network(out_file)
    assert learned.nodes == bnem.read_bif(NETWORKS / "asia.bif").nodes
    code, out, _ = run(capsys, "loglik", out_file, csv)
    assert code == 0 and learned.log_likelihood(bnem.read_table(csv)) == pytest.approx(
        float(out.split()[1]), rel=1e-9)


def test_info_on_an_all_gaussian_bnlearn_network(capsys):
    import importlib.resources

    path = importlib.resources.files("pgmpy") / "utils" / "example_models" / "ecoli70.json"
    code, out, _ = run(capsys, "info", path)
    assert code == 0 and "network 'ecoli70': 46 nodes, 70 edges, 162 free parameters" in out
    assert "clique" not in out and "  aceB [gaussian] <- icdA" in out


@pytest.mark.parametrize("args, match", [
    (["fit", "{mix}", "{data}", "-o", "{tmp}/out.bif"],
     "holds discrete networks only, but the network has 2 continuous node(s) (x1, x2); "
     "name the output .json"),
    (["fit", "{mix}", "{words}", "-o", "{tmp}/out.json"], "value 'hot' (in 1 row(s), first line 2) is not a number"),
    (["loglik", "{mix}", "{words}"], "column 'x1': value 'hot'"),
    (["info", "{broken}"], "broken.json:1:12: not valid JSON"),
    (["info", "{unknown}"], "unknown JSON network layout"),
    (["fit", "{mix}", "{data}", "-o", "{tmp}/out.json", "--min-variance", "-1"], "min_variance"),
])
def test_hybrid_user_errors_exit_2(tmp_path, capsys, args, match):
    from bnem.io import write_json

    files = {"mix": tmp_path / "mix.json", "data": tmp_path / "d.csv", "tmp": tmp_path,
             "words": tmp_path / "w.csv", "broken": tmp_path / "broken.json",
             "unknown": tmp_path / "unknown.json"}
    write_json(mixture_network(), files["mix"])
    files["data"].write_text("x1,x2\n1.5,2.0\n-0.5,\n")
    files["words"].write_text("x1,x2\nhot,2.0\n1.0,3.0\n")
    files["broken"].write_text('{"format": }')
    files["unknown"].write_text('{"graph": {}}')
    code, _, err = run(capsys, *[a.format(**files) for a in args])
    assert code == 2 and "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("bnem ")]
    assert len(lines) == 1 and match in lines[0], err


@pytest.mark.slow  # a subprocess that imports bnem
def test_warnings_are_shown(tmp_path, capsys):
    net = tmp_path / "m.json"
    bnem.write_json(mixture_network(), net)
    data = tmp_path / "d.csv"
    pd.DataFrame({"x1": [1.0] * 6 + [2.0, 3.0], "x2": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 0.0, 1.0],
                  "z": ["a"] * 6 + ["b"] * 2}).to_csv(data, index=False)
    # a subprocess, as a user runs it (pytest would capture the warnings itself)
    out = subprocess.run([sys.executable, "-m", "bnem.cli.main", "-q", "fit", str(net), str(data),
                          "-o", str(tmp_path / "o.json"), "--max-iter", "3"],
                         capture_output=True, text=True)
    assert out.returncode == 0
    assert "DegenerateWarning" in out.stderr and "held at min_variance" in out.stderr
    code, out, err = run(capsys, "-q", "fit", net, data, "-o", tmp_path / "o.json",
                         "--max-iter", "0")
    assert code == 0
    assert "nan" not in out


@pytest.mark.parametrize("which", ["-o", "--history", "sample", "--per-row"])
def test_outputs_never_overwrite_inputs(tmp_path, capsys, which):
    net = tmp_path / "m.json"
    bnem.write_json(mixture_network(), net)
    data = tmp_path / "d.csv"
    mixture_network().sample(50, seed=0).to_csv(data, index=False)
    before = data.read_bytes(), net.read_bytes()
    if which == "-o":
        args = ["fit", net, data, "-o", data]
    elif which == "--history":
        args = ["fit", net, data, "-o", tmp_path / "o.json", "--history", data]
    elif which == "sample":
        args = ["sample", net, "-n", "5", "-o", net]
    else:
        args = ["loglik", net, data, "--per-row", data]
    code, out, err = run(capsys, *args)
    assert code == 2
    assert "is an input file" in err
    assert (data.read_bytes(), net.read_bytes()) == before


@pytest.mark.parametrize("name", ["o.xml", "o.csv", "out"])
def test_fit_refuses_unknown_output_extensions(tmp_path, capsys, name):
    code, out, err = run(capsys, "fit", NETWORKS / "asia.bif", tmp_path / "d.csv",
                         "-o", tmp_path / name)
    assert code == 2
    assert "written as BIF (.bif, .bif.gz) or JSON (.json, .json.gz)" in err


@pytest.mark.slow  # a subprocess that imports bnem
def test_a_closed_pipe_is_not_an_error():
    out = subprocess.run(f"{sys.executable} -m bnem.cli.main info {NETWORKS / 'alarm.bif'} | head -1",
                         shell=True, capture_output=True, text=True)
    assert out.stdout.startswith("network") and "error" not in out.stderr


def test_version_and_a_semicolon_file(tmp_path, capsys):
    """--version prints the version; a semicolon-separated file is read with --sep ';'
    and, without it, the error says which separator the header suggests."""
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"bnem {bnem.__version__}"
    bif = tmp_path / "asia.bif"
    net = bnem.read_bif(str(NETWORKS / "asia.bif"))
    bnem.write_bif(net, bif)
    net.sample(100, seed=1).to_csv(tmp_path / "semi.csv", sep=";", index=False)
    assert main(["fit", str(bif), str(tmp_path / "semi.csv"), "-o", str(tmp_path / "o.bif")]) == 2
    err = capsys.readouterr().err
    assert "probably separated by ';' (sep=';'; command line --sep ';')" in err
    assert main(["-q", "fit", str(bif), str(tmp_path / "semi.csv"), "-o", str(tmp_path / "o.bif"),
                 "--sep", ";", "--max-iter", "2"]) == 0
    assert main(["loglik", str(bif), str(tmp_path / "semi.csv"), "--sep", ";"]) == 0
    assert main(["loglik", str(bif), str(tmp_path / "semi.csv"), "--sep", ";;"]) == 2
    assert "--sep must be one character" in capsys.readouterr().err


def test_rows_named_by_file_line_and_spaces_around_cells_ignored(tmp_path, capsys):
    head = "asia,tub,smoke,lung,bronc,either,xray,dysp\n"
    good = "yes,no,yes,no,yes,no,yes,no\n"
    csv = tmp_path / "d.csv"
    # 'yes ' and ' no' match their states; 'maybe' on the file's line 4 is named so
    csv.write_text(head + good + "yes ,no, yes,no,yes,no,yes,no\n" + good.replace("yes,no,yes", "yes,no,maybe", 1))
    code, _, err = run(capsys, "fit", "asia", csv, "-o", tmp_path / "o.bif")
    assert code == 2 and "value 'maybe' (in 1 row(s), first line 4)" in err
    csv.write_text(head + good + "yes ,no, yes,no,yes,no,yes,no\n")
    code, _, err = run(capsys, "loglik", "asia", csv)
    assert code == 0
    # a blank line shifts records off lines: rows are then named by record, from 0
    csv.write_text(head + good + "\n" + good.replace("yes,no,yes", "yes,no,maybe", 1))
    code, _, err = run(capsys, "loglik", "asia", csv)
    assert code == 2 and "first row 1)" in err


def test_missing_network_file_and_bundled_names(tmp_path, capsys):
    code, _, err = run(capsys, "info", tmp_path / "nope.bif")
    assert code == 2 and "network file" in err and "does not exist" in err and "Errno" not in err
    code, out, _ = run(capsys, "info", "alarm")  # a bundled network, by name
    assert code == 0 and "37 nodes, 46 edges" in out
    code, out, _ = run(capsys, "networks")
    assert code == 0 and out.splitlines()[0].split() == ["alarm", "alarm.bif"]


def test_posterior_impute_se_and_select_commands(tmp_path, capsys):
    net = bnem.load_network("asia")
    csv = tmp_path / "d.csv"
    net.sample(300, seed=1, missing=0.2, hide=["either"]).to_csv(csv, index=False)
    learned = tmp_path / "l.bif"
    assert run(capsys, "fit", "asia", csv, "-o", learned, "--max-iter", 30)[0] == 0
    learned_net = bnem.read_bif(learned)
    data = bnem.read_table(csv)
    assert run(capsys, "posterior", learned, csv, "either", "-o", tmp_path / "p.csv")[0] == 0
    post = pd.read_csv(tmp_path / "p.csv")
    pd.testing.assert_frame_equal(post, learned_net.posterior(data, "either")
                                  .reset_index(drop=True), check_names=False)
    assert run(capsys, "impute", learned, csv, "-o", tmp_path / "i.csv")[0] == 0
    filled = bnem.read_table(tmp_path / "i.csv")
    assert not filled.isna().any().any()
    expected = learned_net.impute(data)
    assert (filled.astype(str).to_numpy() == expected.astype(str).to_numpy()).all()
    assert run(capsys, "se", learned, csv, "-o", tmp_path / "se.csv")[0] == 0
    se = pd.read_csv(tmp_path / "se.csv", keep_default_na=False, na_values=[""])
    assert list(se.columns) == ["node", "parents", "state", "estimate", "se"]
    assert len(se) == len(bnem.standard_errors(learned_net, data))
    code, out, _ = run(capsys, "select", "asia", csv, "either", "--states", "1-2",
                       "--n-init", "1", "--max-iter", "10", "-o", tmp_path / "k.csv")
    assert code == 0 and "best number of states" in out
    assert list(pd.read_csv(tmp_path / "k.csv")["k"]) == [1, 2]
    code, _, err = run(capsys, "select", "asia", csv, "either", "--states", "two")
    assert code == 2 and "--states 'two'" in err
    code, _, err = run(capsys, "posterior", learned, csv, "nope", "-o", tmp_path / "q.csv")
    assert code == 2 and "not a discrete node" in err


def test_spaces_after_separators_and_impute_checks_every_cell(tmp_path, capsys):
    head = "asia,tub,smoke,lung,bronc,either,xray,dysp\n"
    csv = tmp_path / "ws.csv"
    csv.write_text(head + "yes, no,yes,no,yes,no,yes, ?\nyes,no,yes,no,yes,no,yes,no\n")
    code, out, _ = run(capsys, "loglik", "asia", csv)  # ' ?' is the missing marker
    assert code == 0 and "2 rows" in out
    bad = tmp_path / "bad.csv"
    bad.write_text(head + "yes,no,yes,no,yes,no,yes,no\nyes,no,maybe,no,yes,no,yes,no\n")
    code, _, err = run(capsys, "impute", "asia", bad, "-o", tmp_path / "i.csv")
    assert code == 2 and "value 'maybe' (in 1 row(s), first line 3)" in err
    assert not (tmp_path / "i.csv").exists()


def test_viterbi_command(tmp_path, capsys):
    from bnem.models.sequences import hidden_markov_network
    net = hidden_markov_network(2, {"y": ["a", "b"]}, length=4).with_cpds(
        {"state[0]": [0.6, 0.4], "state[1]": [[0.9, 0.1], [0.2, 0.8]],
         "y[0]": [[0.8, 0.2], [0.3, 0.7]]})
    model = tmp_path / "hmm.json"
    bnem.write_json(net, model)
    data = pd.DataFrame({"y[0]": ["a", "b"], "y[1]": ["a", None], "y[2]": ["b", "b"],
                         "y[3]": ["a", "b"]})
    csv = tmp_path / "seqs.csv"
    data.to_csv(csv, index=False)
    code, _, err = run(capsys, "viterbi", model, csv, "-o", tmp_path / "path.csv")
    assert code == 0, err
    out = pd.read_csv(tmp_path / "path.csv", dtype={f"state[{t}]": str for t in range(4)})
    path, logp = bnem.viterbi(net, data)
    assert out[[f"state[{t}]" for t in range(4)]].to_numpy().tolist() == path.to_numpy().tolist()
    np.testing.assert_allclose(out["log_prob"], logp)


def test_cli_init_kmeans_is_k_means_plus_plus(tmp_path, capsys):
    rng = np.random.default_rng(0)
    pd.DataFrame(np.vstack([rng.normal(0, 1, (50, 2)), rng.normal(5, 1, (50, 2))]),
                 columns=["x", "y"]).to_csv(tmp_path / "d.csv", index=False)
    bnem.write_json(bnem.gaussian_mixture(["x", "y"], 2), tmp_path / "m.json")
    outs = []
    for init in ("kmeans", "k-means++"):
        out = tmp_path / f"{init}.json"
        code, _, err = run(capsys, "fit", tmp_path / "m.json", tmp_path / "d.csv", "-o", out,
                           "--init", init, "--max-iter", 5)
        assert code == 0, err
        outs.append(bnem.read_json(out).cpd("x").intercept)
    np.testing.assert_array_equal(outs[0], outs[1])
