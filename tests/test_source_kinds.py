"""One dispatch over the kinds of data source (bnem.data.source.as_source)."""

import numpy as np
import pandas as pd
import pytest

import bnem
from bnem.data.source import Kind, as_source
from bnem.errors import BnemTypeError


def test_every_kind_of_source_is_told_apart(tmp_path):
    frame = pd.DataFrame({"a": ["x", "y"]})
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    assert as_source(frame).kind is Kind.FRAME
    assert as_source([frame, frame]).kind is Kind.PARTS
    assert as_source((frame,)).kind is Kind.PARTS
    parts = as_source(iter([frame]))
    assert parts.kind is Kind.ITERATOR and parts.once
    for files in (str(path), path, str(tmp_path / "*.csv"), [str(path)], bnem.files(path)):
        found = as_source(files)
        assert found.kind is Kind.FILES and not found.once
        assert [str(p) for p in found.files.paths] == [str(path)]
    steps = bnem.Sequences(pd.DataFrame({"y": ["a", "b"]}), lengths=[2])
    assert as_source(steps).kind is Kind.SEQUENCES
    assert as_source(np.zeros((2, 2))).kind is Kind.OTHER
    assert as_source(5).kind is Kind.OTHER
    dd = pytest.importorskip("dask.dataframe")
    assert as_source(dd.from_pandas(frame, npartitions=1)).kind is Kind.DASK


def test_the_entry_points_refuse_what_they_cannot_read():
    net = bnem.BayesianNetwork({"a": ["x", "y"]}, cpds={"a": [0.5, 0.5]})
    with pytest.raises(BnemTypeError, match="data must be a pandas DataFrame"):
        net.log_prob(np.zeros((2, 1)))
    steps = bnem.Sequences(pd.DataFrame({"a": ["x", "y"]}), lengths=[2])
    with pytest.raises(BnemTypeError, match="bnem.Sequences are read whole"):
        net.log_prob(steps)
