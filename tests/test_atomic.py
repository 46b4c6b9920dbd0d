"""Files are written atomically: a failed write leaves the old file and no debris."""

import errno
import os

import pandas as pd
import pytest

import bnem
from bnem.io import atomic
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
