"""Compact chunks: every array of an expanded chunk equals the analysed one, whatever
integer width the templates and the full arrays take."""

from __future__ import annotations

import numpy as np
import pytest

import bnem
from bnem.inference.budget import MemoryBudget
from bnem.inference.compact import Affine, compact, entry_positions
from bnem.inference.dataset import AnalysedData, analyse_ref
from bnem.ragged import narrow
from conftest import load


def _arrays(cs):
    out = {"seg": cs.seg, "rows": cs.rows, "count_index": cs.count_index,
           "up_target": cs.up_target, "up_local": cs.up_local, "msg_seg": cs.msg_seg,
           "msg_entry_seg": cs.msg_entry_seg, "root_local": cs.root_local}
    out.update({f"factor {f}": idx for f, idx in cs.factors})
    out.update({f"link {k}": t for k, t in cs.child_links})
    return out


def _same_chunk(ev, back):
    assert len(ev.cliques) == len(back.cliques)
    for a, b in zip(ev.cliques, back.cliques):
        assert a.n_entries == b.n_entries and a.msg_size == b.msg_size
        one, two = _arrays(a), _arrays(b)
        assert one.keys() == two.keys()
        for name in one:
            np.testing.assert_array_equal(one[name], two[name], err_msg=name)


@pytest.mark.parametrize("name,missing", [("alarm", 0.3), ("insurance", 0.2), ("child", 0.5)])
def test_expanded_chunk_equals_the_analysed_one(name, missing):
    net = load(name)
    df = net.sample(300, seed=2, missing=missing)
    data = AnalysedData(bnem.compile(net), df, MemoryBudget(1e6, chunk_rows=150))
    for k in range(data.n_chunks):
        _same_chunk(data.chunk(k), compact(data.chunk(k)).ready())  # int64, as kept
        ev = analyse_ref(data.compiled, data.source, data.refs[k])  # int32, as analysed
        assert ev.cliques[0].up_target.dtype == np.int32
        _same_chunk(ev, compact(ev).ready())


def test_templates_beyond_int16_and_values_beyond_int32():
    """A family of 8**6 entries: its templates do not fit in int16; the same arrays
    shifted beyond 2**31 take the int64 path. Both expand exactly."""
    rng = np.random.default_rng(0)
    states = {v: [str(i) for i in range(8)] for v in "abcdefg"}
    tables = {v: np.full(8, 1 / 8) for v in "abcdef"}
    tables["g"] = rng.dirichlet(np.ones(8), size=8 ** 6).reshape((8,) * 6 + (8,))
    net = bnem.BayesianNetwork(states, {"g": list("abcdef")}, tables)
    df = net.sample(60, seed=1, missing=0.5)
    ev = AnalysedData(bnem.compile(net), df, MemoryBudget(1e6)).chunk(0)
    widths = set()
    for cs in ev.cliques:
        for values in [idx for _, idx in cs.factors] + [cs.up_target]:
            for shift in (0, 2 ** 40):
                shifted = values.astype(np.int64) + shift if shift else narrow(values)
                aff = Affine.compress(shifted, cs)
                widths.add((aff.templates.dtype.itemsize, aff.wide))
                lengths, tpos = entry_positions(aff.t_start, aff.templates.size, cs.group_rows)
                np.testing.assert_array_equal(aff.expand(lengths, tpos), shifted)
    assert (4, False) in widths and (2, False) in widths  # int32 and int16 templates seen
    assert any(wide for _, wide in widths)
