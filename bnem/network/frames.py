"""CPDs as labelled DataFrames and HTML (network layer).

A table's rows are its parent configurations (a MultiIndex named after the parents,
in the order of ``values``' axes, the first parent varying slowest); its columns are
the node's states. A Gaussian CPD's rows are its discrete parents' configurations;
its columns ``intercept``, ``weight[parent]`` per continuous parent, ``variance``.
States are labelled with their names when the CPD knows them (a CPD taken from a
network does), otherwise with their positions.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

MAX_HTML_ROWS = 60


def _labels(node: str, card: int, names: Mapping[str, Sequence[str]] | None) -> list:
    if names is not None and node in names and len(names[node]) == card:
        return [str(s) for s in names[node]]
    return list(range(card))


def configurations(parents: Sequence[str], cards: Sequence[int],
                   names: Mapping[str, Sequence[str]] | None) -> pd.Index:
    """The index of parent configurations: a MultiIndex (one level per parent), an
    Index named after a single parent, or a one-row index for a root node."""
    if not parents:
        return pd.Index([""], name=None)
    levels = [_labels(p, int(c), names) for p, c in zip(parents, cards)]
    if len(parents) == 1:
        return pd.Index(levels[0], name=parents[0])
    return pd.MultiIndex.from_tuples(list(itertools.product(*levels)), names=list(parents))


def table_frame(node: str, parents: Sequence[str], values: np.ndarray,
                names: Mapping[str, Sequence[str]] | None) -> pd.DataFrame:
    card = values.shape[-1]
    index = configurations(parents, values.shape[:-1], names)
    columns = pd.Index(_labels(node, card, names), name=node)
    return pd.DataFrame(values.reshape(-1, card), index=index, columns=columns)


def gaussian_frame(cpd: Any, names: Mapping[str, Sequence[str]] | None) -> pd.DataFrame:
    index = configurations(cpd.discrete_parents, cpd.mean_shape, names)
    data = {"intercept": np.ravel(cpd.intercept)}
    weights = np.asarray(cpd.weights).reshape(np.size(cpd.intercept), len(cpd.continuous_parents))
    for j, p in enumerate(cpd.continuous_parents):
        data[f"weight[{p}]"] = weights[:, j]
    data["variance"] = np.ravel(cpd.variance)
    return pd.DataFrame(data, index=index)


def frame_html(title: str, frame: pd.DataFrame) -> str:
    """A title and the frame as HTML, cut to ``MAX_HTML_ROWS`` rows."""
    shown = frame if len(frame) <= MAX_HTML_ROWS else frame.head(MAX_HTML_ROWS)
    more = "" if shown is frame else \
        f"<p>... {len(frame) - MAX_HTML_ROWS} more rows (<code>.to_frame()</code>)</p>"
    return f"<p><b>{html.escape(title)}</b></p>" + shown.to_html(float_format="{:.6g}".format) + more
