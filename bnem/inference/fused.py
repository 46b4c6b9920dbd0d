"""One compiled kernel for a chunk's discrete E-step (inference layer).

The numpy E-step (:mod:`bnem.inference.engine`) runs each clique's gathers, products
and scatters as separate array operations: on large networks most of its time goes to
interpreter and dispatch costs per clique and to temporaries. This module runs the
same linear-space calibration (upward pass, downward pass, expected counts) in one
numba-compiled loop over flat arrays, with the same arithmetic in the same order of
entries, so its counts and log-likelihood equal the numpy path's to round-off.

It is used only where it can pay: numba installed (``pip install "bnem[fast]"``), a
discrete network (no per-row component tables), and a chunk with enough entries
(:data:`MIN_ENTRIES`), once the process has run :data:`WARM_UP` such E-steps on the
numpy path (so a short job never pays numba's import); ``BNEM_KERNEL=numpy`` in the
environment turns it off. Any
row whose sum falls below the linear floor sends the chunk back to the numpy path,
which redoes it in log space (and reports impossible rows). numba is imported on the
first large chunk, not by ``import bnem``; compiled code is cached on disk in the
user's cache folder (``NUMBA_CACHE_DIR`` if set), so later processes skip the
compilation.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

import numpy as np

from .jit import disabled, jitted

# a chunk's clique entries below which the numpy path is used: numba's import and the
# load of the cached kernel cost about 0.5 s in a new process, which the kernel's saving
# (about a quarter to a third of a large E-step) repays only on large chunks
MIN_ENTRIES = 2_000_000
WARM_UP = 10   # large chunk E-steps on the numpy path before the kernel is loaded
_STATE: dict[str, Any] = {}
_FLAT: dict[int, tuple] = {}   # id(chunk evidence) -> its flat arrays, while it lives


def wanted(evidence: Any) -> bool:
    """Whether to try the kernel on this chunk."""
    if disabled():
        return False
    forced = os.environ.get("BNEM_KERNEL") == "fused"
    if not forced:
        if sum(cs.n_entries for cs in evidence.cliques) < MIN_ENTRIES:
            return False
        # a short job (a score, a few iterations) never pays numba's import: the kernel
        # starts after the process's first WARM_UP large chunk E-steps
        _STATE["large"] = _STATE.get("large", 0) + 1
        if _STATE["large"] <= WARM_UP:
            return False
    return _kernel() is not None


def _kernel() -> Any:
    """The compiled kernel (None when numba is not installed)."""
    if "kernel" not in _STATE:
        _STATE["kernel"] = jitted(_calibrate_counts)
    return _STATE["kernel"]


def flatten(evidence: Any) -> tuple:
    """The chunk's sliced clique tree as flat arrays (cached per chunk)."""
    cached = _FLAT.get(id(evidence))
    if cached is not None:
        return cached
    cliques = evidence.cliques
    n_cl = len(cliques)
    n_entries = np.zeros(n_cl, np.int64)
    msg_size = np.zeros(n_cl, np.int64)
    n_root = np.zeros(n_cl, np.int64)
    fac_ptr = np.zeros(n_cl + 1, np.int64)
    link_ptr = np.zeros(n_cl + 1, np.int64)
    fac_idx, link_child, link_tgt, up_tgt, root_rows = [], [], [], [], []
    for k, cs in enumerate(cliques):
        active = cs.rows.size > 0
        n_entries[k] = cs.n_entries if active else 0
        msg_size[k] = cs.msg_size if active else 0
        n_root[k] = cs.root_local.size if active else 0
        factors = cs.factors if active else ()
        links = [(c, t) for c, t in cs.child_links if cliques[c].rows.size > 0] \
            if active else []
        fac_ptr[k + 1] = fac_ptr[k] + len(factors)
        link_ptr[k + 1] = link_ptr[k] + len(links)
        for _, idx in factors:
            fac_idx.append(np.asarray(idx, np.int64))
        for c, t in links:
            link_child.append(c)
            link_tgt.append(np.asarray(t, np.int64))
        if active:
            up_tgt.append(np.asarray(cs.up_target, np.int64))
            root_rows.append(np.asarray(cs.rows[cs.root_local], np.int64))
    def cat(parts: list) -> np.ndarray:  # unsigned: numba then skips negative-index wrapping
        return np.concatenate(parts).astype(np.uint32) if parts else np.zeros(0, np.uint32)
    flat = (n_entries, msg_size, n_root, fac_ptr, cat(fac_idx), link_ptr,
            np.asarray(link_child, np.int64), cat(link_tgt), cat(up_tgt), cat(root_rows))
    _FLAT[id(evidence)] = flat
    weakref.finalize(evidence, _FLAT.pop, id(evidence), None)
    return flat


def estep_counts(evidence: Any, lin: np.ndarray, floor: float
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(log_z, acc)`` as the numpy linear path gives them, or None when a row's sum is
    below ``floor`` (the caller redoes the chunk in log space)."""
    kernel = _kernel()
    flat = flatten(evidence)
    log_z = np.zeros(evidence.n_rows)
    acc = np.zeros(lin.size)
    ok = kernel(lin, np.asarray(evidence.weights, np.float64), floor, log_z, acc, *flat)
    return (log_z, acc) if ok else None


def _calibrate_counts(lin, weights, floor, log_z, acc, n_entries, msg_size, n_root,
                      fac_ptr, fac_idx, link_ptr, link_child, link_tgt, up_tgt,
                      root_rows):  # pragma: no cover  (compiled by numba; tested through it)
    """Upward pass, downward pass and expected counts over flat arrays (see
    :func:`bnem.inference.engine._upward` and ``_downward`` for the same steps)."""
    n_cl = n_entries.size
    e_off = np.zeros(n_cl + 1, np.int64)
    m_off = np.zeros(n_cl + 1, np.int64)
    r_off = np.zeros(n_cl + 1, np.int64)
    for k in range(n_cl):
        e_off[k + 1] = e_off[k] + n_entries[k]
        m_off[k + 1] = m_off[k] + msg_size[k] + 1
        r_off[k + 1] = r_off[k] + n_root[k]
    partial = np.empty(e_off[n_cl])
    up = np.zeros(m_off[n_cl])
    root_sum = np.zeros(r_off[n_cl])
    down = np.zeros(m_off[n_cl] + r_off[n_cl])   # per clique: msg_size + n_root slots
    d_off = np.zeros(n_cl + 1, np.int64)
    for k in range(n_cl):
        d_off[k + 1] = d_off[k] + msg_size[k] + n_root[k]
    # link target offsets (each link's target has its clique's entry count)
    l_off = np.zeros(link_ptr[n_cl] + 1, np.int64)
    f_off = np.zeros(fac_ptr[n_cl] + 1, np.int64)
    for k in range(n_cl):
        for f in range(fac_ptr[k], fac_ptr[k + 1]):
            f_off[f + 1] = f_off[f] + n_entries[k]
        for j in range(link_ptr[k], link_ptr[k + 1]):
            l_off[j + 1] = l_off[j] + n_entries[k]
    # upward
    for k in range(n_cl):
        ne = n_entries[k]
        if ne == 0:
            continue
        e0 = e_off[k]
        f0, f1 = fac_ptr[k], fac_ptr[k + 1]
        l0, l1 = link_ptr[k], link_ptr[k + 1]
        for e in range(ne):
            partial[e0 + e] = 1.0
        for f in range(f0, f1):   # one factor at a time: a streaming gather
            idx = fac_idx[f_off[f]:f_off[f] + ne]
            for e in range(ne):
                partial[e0 + e] *= lin[idx[e]]
        for j in range(l0, l1):
            tgt = link_tgt[l_off[j]:l_off[j] + ne]
            msg = up[m_off[link_child[j]]:m_off[link_child[j] + 1]]
            for e in range(ne):
                partial[e0 + e] *= msg[tgt[e]]
        ms = msg_size[k]
        nr = n_root[k]
        out = np.zeros(ms + max(nr, 1))
        ut = up_tgt[e0:e0 + ne]
        for e in range(ne):
            out[ut[e]] += partial[e0 + e]
        for r in range(nr):
            s = out[ms + r]
            if not s > floor:
                return False
            root_sum[r_off[k] + r] = s
            log_z[root_rows[r_off[k] + r]] += np.log(s)
        m0 = m_off[k]
        for i in range(ms):
            up[m0 + i] = out[i]
        up[m0 + ms] = 1.0
    # downward, with the counts
    for k in range(n_cl - 1, -1, -1):
        ne = n_entries[k]
        if ne == 0:
            continue
        e0 = e_off[k]
        ms = msg_size[k]
        d0 = d_off[k]
        for r in range(n_root[k]):
            down[d0 + ms + r] = weights[root_rows[r_off[k] + r]] / root_sum[r_off[k] + r]
        b = np.empty(ne)
        ut = up_tgt[e0:e0 + ne]
        dk = down[d0:d0 + ms + n_root[k]]
        for e in range(ne):
            b[e] = partial[e0 + e] * dk[ut[e]]
        for f in range(fac_ptr[k], fac_ptr[k + 1]):
            idx = fac_idx[f_off[f]:f_off[f] + ne]
            for e in range(ne):
                acc[idx[e]] += b[e]
        for j in range(link_ptr[k], link_ptr[k + 1]):
            c = link_child[j]
            base = l_off[j]
            mc = msg_size[c]
            m = np.zeros(mc + 1)
            tgt = link_tgt[base:base + ne]
            for e in range(ne):
                m[tgt[e]] += b[e]
            uc = m_off[c]
            dc = d_off[c]
            for i in range(mc):
                u = up[uc + i]
                down[dc + i] = m[i] / u if u > 0 else 0.0
    return True
