"""Ragged-array helpers shared by every layer (foundation layer).

A *ragged* array keeps variable-length segments (one per row) back to back in one
flat array, described by the start of each segment. Rows are often grouped by a
boolean *pattern* (which cells are missing): rows sharing a pattern share one
template of work.

>>> import numpy as np
>>> starts(np.array([2, 3, 1]))
array([0, 2, 5])
>>> pattern_keys(np.array([[True, False], [False, False], [True, False]]))
array([1, 0, 1])
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

PATTERN_BITS = 62  # patterns over up to this many columns are keyed by an integer bit mask


def starts(lengths: np.ndarray) -> np.ndarray:
    """Start of each segment of the given ``lengths`` (int64, the first is 0)."""
    lengths = np.asarray(lengths)
    out = np.zeros(lengths.size, dtype=np.int64)
    if lengths.size > 1:
        np.cumsum(lengths[:-1], out=out[1:])
    return out


def segment_of_entries(seg_starts: np.ndarray, n_entries: int) -> np.ndarray:
    """Segment index of every entry, from the segments' starts and the total length."""
    lengths = np.diff(np.append(seg_starts, n_entries))
    return np.repeat(np.arange(seg_starts.size), lengths)


def radix_strides(mis: np.ndarray, cards: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: mixed-radix strides over the missing columns (observed: radix 1).

    Returns ``(radix, strides, lengths)``; the last missing column varies fastest and
    ``lengths`` is the number of joint states of each row's missing columns.

    >>> r, s, n = radix_strides(np.array([[True, True], [False, True]]), np.array([2, 3]))
    >>> s.tolist(), n.tolist()
    ([[3, 1], [3, 1]], [6, 3])
    """
    radix = np.where(mis, cards, 1).astype(np.int64)
    if radix.shape[1] == 0:
        return radix, radix, np.ones(radix.shape[0], dtype=np.int64)
    tail = np.cumprod(radix[:, ::-1], axis=1)[:, ::-1]
    strides = np.ones_like(radix)
    strides[:, :-1] = tail[:, 1:]
    return radix, strides, tail[:, 0]


def pattern_keys(mask: np.ndarray) -> np.ndarray:
    """An integer key per row of the boolean ``mask``: equal rows, equal keys.

    Up to ``PATTERN_BITS`` columns the key is the row's bit mask (column ``j`` is bit
    ``j``); wider masks get dense ranks of their packed bytes.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.shape[1] <= PATTERN_BITS:
        return mask.astype(np.int64) @ (np.int64(1) << np.arange(mask.shape[1], dtype=np.int64))
    return _packed_ranks(mask)


def _packed_ranks(mask: np.ndarray) -> np.ndarray:
    """Dense ranks of the rows' packed bytes (lexicographic, first column most significant)."""
    packed = np.ascontiguousarray(np.packbits(mask, axis=1))
    return np.unique(packed.view(np.dtype((np.void, packed.shape[1]))).ravel(),
                     return_inverse=True)[1].ravel().astype(np.int64)


def pattern_order(mask: np.ndarray) -> np.ndarray:
    """A stable order of the rows that puts equal rows of ``mask`` next to each other
    (patterns in lexicographic order, the first column most significant).

    >>> pattern_order(np.array([[False, True], [True, False], [False, True]])).tolist()
    [0, 2, 1]
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.shape[1] == 0 or not mask.any():
        return np.arange(mask.shape[0])
    return np.argsort(_packed_ranks(mask), kind="stable")


def group_bounds(sorted_keys: np.ndarray) -> np.ndarray:
    """Sizes of the runs of equal values in ``sorted_keys``."""
    bounds = np.flatnonzero(np.diff(sorted_keys)) + 1
    return np.diff(np.concatenate([[0], bounds, [sorted_keys.size]]))


def narrow(index: np.ndarray) -> np.ndarray:
    """``index`` as int32 when its values fit (half the memory, and gathers through it
    are faster), else unchanged.

    >>> narrow(np.array([0, 5])).dtype, narrow(np.array([0, 2 ** 40])).dtype
    (dtype('int32'), dtype('int64'))
    """
    if index.dtype == np.int32:
        return index
    if index.size == 0 or (int(index.max()) < 2 ** 31 and int(index.min()) >= -2 ** 31):
        return index.astype(np.int32)
    return index


def narrowest(index: np.ndarray) -> np.ndarray:
    """``index`` as int16 when its values fit, else as :func:`narrow` gives it (for
    offsets that are small by construction, such as a pattern's template).

    >>> narrowest(np.array([0, -5])).dtype, narrowest(np.array([0, 2 ** 20])).dtype
    (dtype('int16'), dtype('int32'))
    """
    if index.size == 0 or (int(index.max()) < 2 ** 15 and int(index.min()) >= -2 ** 15):
        return index.astype(np.int16)
    return narrow(index)


def add_at(size: int, pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """``out[idx] += w`` summed over all ``(idx, w)`` pairs, into a new ``(size,)`` array.

    The pairs are batched into one ``np.bincount`` per ``size`` entries or so, so that
    many short pairs into a long vector (hundreds of cliques into a table of a million
    parameters) do not each pay for a pass over the whole vector.

    >>> add_at(4, [(np.array([0, 3]), np.array([1.0, 2.0])), (np.array([3]), np.array([0.5]))])
    array([1. , 0. , 0. , 2.5])
    """
    out = np.zeros(size)
    idx_buf: list[np.ndarray] = []
    w_buf: list[np.ndarray] = []
    held = 0
    for idx, w in pairs:
        if idx.size >= size:  # long enough on its own: no copy into the buffer
            out += np.bincount(idx, weights=w, minlength=size)
            continue
        idx_buf.append(idx)
        w_buf.append(w)
        held += idx.size
        if held >= size:
            out += np.bincount(np.concatenate(idx_buf), weights=np.concatenate(w_buf),
                               minlength=size)
            idx_buf, w_buf, held = [], [], 0
    if idx_buf:
        out += np.bincount(np.concatenate(idx_buf), weights=np.concatenate(w_buf),
                           minlength=size)
    return out
