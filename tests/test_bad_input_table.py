"""One table of bad inputs over every entry point, API and CLI: each is a bnem error
(a BnemError, or exit code 2 with a one-line message), never a raw traceback."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

import bnem
from bnem.cli.main import main
from conftest import load

ASIA = load("asia")
GOOD = ASIA.sample(50, seed=1)


def _bad_value():
    df = GOOD.astype(object)
    df.loc[3, "smoke"] = "sometimes"
    return df


CASES = [
    ("fit: not a network", lambda: bnem.fit("asia.bif", GOOD), "must be a bnem.BayesianNetwork"),
    ("fit: data of the wrong type", lambda: bnem.fit(ASIA, 42), "got int"),
    ("fit: value not a state", lambda: bnem.fit(ASIA, _bad_value()), "'sometimes'"),
    ("fit: unknown column", lambda: bnem.fit(ASIA, GOOD.assign(extra=1)), "name no node"),
    ("fit: negative max_iter", lambda: bnem.fit(ASIA, GOOD, max_iter=-1), "max_iter"),
    ("fit: unknown option", lambda: bnem.fit(ASIA, GOOD, maxiter=3), "unknown option"),
    ("fit: bad init", lambda: bnem.fit(ASIA, GOOD, init="kmeans"), "init"),
    ("fit: missing file", lambda: bnem.fit(ASIA, "no-such-file.csv"), "does not exist"),
    ("fit: empty glob", lambda: bnem.fit(ASIA, "nothing-here/*.parquet"), "no data file matches"),
    ("fit: negative weights", lambda: bnem.fit(ASIA, GOOD, sample_weight=-np.ones(50)),
     "weight"),
    ("fit: random-resp without latent node", lambda: bnem.fit(ASIA, GOOD, init="random-resp"),
     "latent nodes"),
    ("fit: client without Dask data", lambda: bnem.fit(ASIA, GOOD, client=object()),
     "client="),
    ("log_prob: value not a state", lambda: ASIA.log_prob(_bad_value()), "'sometimes'"),
    ("posterior: unknown node", lambda: ASIA.posterior(GOOD, "nope"), "nope"),
    ("impute: not a DataFrame", lambda: ASIA.impute("x.csv"), "takes a pandas DataFrame"),
    ("impute: unknown method", lambda: ASIA.impute(GOOD, method="median"), "method"),
    ("select_cardinality: observed node",
     lambda: bnem.select_cardinality(ASIA, GOOD, "smoke", [2]), "is observed"),
    ("read_table: missing file", lambda: bnem.read_table("no-such.csv"), "does not exist"),
    ("read_table: short line", lambda: bnem.read_table(io.StringIO("a,b\n1\n1,2,3\n")),
     "field"),
    ("files: bad separator", lambda: bnem.files("x.csv", sep=";;"), "sep must be"),
    ("read_bif: not BIF", lambda: bnem.read_bif(io.StringIO("hello {")), ""),
    ("GaussianMixture: 1-D data", lambda: bnem.GaussianMixture(2).fit(np.zeros(5)),
     "Reshape your data"),
    ("LatentClassModel: bad continuous", lambda: bnem.LatentClassModel(2, continuous="tied")
     .fit(GOOD), "continuous"),
    ("network: parents name no node",
     lambda: bnem.BayesianNetwork({"a": ["x", "y"]}, {"a": ["b"]}), "b"),
]


@pytest.mark.parametrize("call, match", [(c, m) for _, c, m in CASES],
                         ids=[name for name, _, _ in CASES])
def test_api_bad_inputs_are_bnem_errors(call, match):
    with pytest.raises(bnem.BnemError, match=match):
        call()


CLI_CASES = [
    ("fit: missing network", ["fit", "no.bif", "d.csv", "-o", "o.bif"], "no.bif"),
    ("fit: missing data", ["fit", "networks/asia.bif", "nope.csv", "-o", "o.bif"],
     "does not exist"),
    ("fit: bad max-iter", ["fit", "networks/asia.bif", "d.csv", "-o", "o.bif", "--max-iter",
                           "-3"], "max_iter"),
    ("fit: workers 0", ["fit", "networks/asia.bif", "d.csv", "-o", "o.bif", "--workers", "0"],
     "--workers"),
    ("fit: spill-dir missing", ["fit", "networks/asia.bif", "d.csv", "-o", "o.bif",
                                "--spill-dir", "no-such-folder"], "spill_dir"),
    ("loglik: bad value", ["loglik", "networks/asia.bif", "bad.csv"], "'sometimes'"),
    ("sample: negative rows", ["sample", "networks/asia.bif", "-n", "-5", "-o", "s.csv"],
     "n must be >= 1"),
    ("info: missing network", ["info", "nothing.bif"], "nothing.bif"),
]


@pytest.mark.parametrize("argv, match", [(a, m) for _, a, m in CLI_CASES],
                         ids=[name for name, _, _ in CLI_CASES])
def test_cli_bad_inputs_exit_2_with_one_line(argv, match, tmp_path, monkeypatch, capsys):
    GOOD.to_csv(tmp_path / "d.csv", index=False)
    _bad_value().to_csv(tmp_path / "bad.csv", index=False)
    (tmp_path / "networks").symlink_to(pytest.importorskip("pathlib").Path(
        __file__).resolve().parents[1] / "networks")
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and match in err


def test_hugin_net_potential_with_the_wrong_number_of_values(tmp_path):
    path = tmp_path / "bad.net"
    path.write_text('net {}\nnode a { states = ("y" "n"); }\nnode b { states = ("u" "v" "w"); }\n'
                    'potential (a) { data = (0.5 0.5); }\n'
                    'potential (b | a) { data = ((0.2 0.3 0.5) (0.1 0.9)); }\n')
    with pytest.raises(bnem.BnemError, match=r"the potential of node 'b' given a has 5 "
                                             r"value\(s\); expected 6 \(3 state\(s\) x 2 of 'a'\)"):
        bnem.read_network(path)
