"""Evidence analysis of a chunk of encoded rows (inference layer).

Done once per chunk of data, independent of the parameters. For every row, the
missing variables are split into connected components (two missing variables are
connected when they share a family). A family whose members are all observed in a
row contributes a constant count; a component needs inference, but only over its
own variables: the observed members of its families are sliced out of the tables
("evidence by indexing"), which is where most of the speed comes from. Components
with the same variable set are batched together across rows and share one
compiled clique tree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .plan import Plan, compile_plan

SINGLE_CLIQUE_LIMIT = 128


@dataclass
class FactorSlot:
    """One family's factor inside a component group."""

    family: int
    scope: tuple          # sorted ids of the family's missing members (all in the group)
    base: np.ndarray      # (n_g,) flat index of the observed part, offset included
    grid: np.ndarray      # (prod(scope cards),) flat offsets of the missing part, C order


@dataclass
class Group:
    """Component instances (one per row) sharing the same missing-variable set."""

    vars: tuple
    rows: np.ndarray      # (n_g,) chunk-local row index of each instance
    factors: list
    plan: Plan


@dataclass
class ChunkEvidence:
    """Everything parameter-independent that the E-step needs for one chunk."""

    structure: object
    codes: np.ndarray     # (n, V) int codes, -1 = missing
    weights: np.ndarray   # (n,) row multiplicities
    obs_counts: np.ndarray  # (n_params,) counts from fully observed families
    groups: list

    @property
    def n_rows(self) -> int:
        return self.codes.shape[0]


def component_labels(structure, missing: np.ndarray) -> np.ndarray:
    """Label each missing cell with the smallest variable id of its component."""
    n, V = missing.shape
    labels = np.where(missing, np.arange(V, dtype=np.int32), V).astype(np.int32)
    multi = [list(f) for f in structure.families if len(f) >= 2]
    # only rows with at least two missing cells can merge anything
    rows = np.flatnonzero(missing.sum(axis=1) >= 2)
    if rows.size == 0:
        return labels
    sub_lab, sub_mis = labels[rows], missing[rows]
    changed = True
    while changed:
        changed = False
        for fam in multi:
            m = sub_mis[:, fam]
            cur = sub_lab[:, fam]
            low = np.where(m, cur, V).min(axis=1)
            new = np.where(m, low[:, None], cur)
            if not np.array_equal(new, cur):
                sub_lab[:, fam] = new
                changed = True
    labels[rows] = sub_lab
    return labels


def analyse(structure, codes: np.ndarray, weights: np.ndarray, plan_cache: dict | None = None,
            single_clique_limit: int = SINGLE_CLIQUE_LIMIT) -> ChunkEvidence:
    """Split a chunk's rows into observed families and batched missing components."""
    if plan_cache is None:
        plan_cache = {}
    codes = np.asarray(codes)
    n, V = codes.shape
    missing = codes < 0
    obs_counts = np.zeros(structure.n_params)
    for i, fam in enumerate(structure.families):
        full = ~missing[:, list(fam)].any(axis=1)
        if not full.any():
            continue
        idx = _flat_index(structure, i, codes[full], fam)
        obs_counts += np.bincount(idx, weights=weights[full], minlength=structure.n_params)
    groups = []
    if missing.any():
        labels = component_labels(structure, missing)
        r_idx, v_idx = np.nonzero(missing)
        keys = r_idx.astype(np.int64) * V + labels[r_idx, v_idx]
        inst_keys, inst_of_cell = np.unique(keys, return_inverse=True)
        inst_row = inst_keys // V
        member = np.zeros((inst_keys.size, V), dtype=bool)
        member[inst_of_cell, v_idx] = True
        packed = np.ascontiguousarray(np.packbits(member, axis=1))
        void = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
        _, first, group_of_inst = np.unique(void, return_index=True, return_inverse=True)
        order = np.argsort(group_of_inst, kind="stable")
        bounds = np.cumsum(np.bincount(group_of_inst))
        starts = np.concatenate([[0], bounds[:-1]])
        for g in range(first.size):
            inst = order[starts[g]:bounds[g]]
            vars_ = tuple(int(v) for v in np.flatnonzero(member[first[g]]))
            groups.append(_build_group(structure, codes, inst_row[inst], vars_, plan_cache,
                                       single_clique_limit))
    return ChunkEvidence(structure, codes, np.asarray(weights, dtype=float), obs_counts, groups)


def observed_log_terms(evidence, log_theta) -> np.ndarray:
    """Per row, the sum of log P(x | u) over its fully observed families."""
    structure, codes = evidence.structure, evidence.codes
    missing = codes < 0
    out = np.zeros(codes.shape[0])
    for i, fam in enumerate(structure.families):
        full = ~missing[:, list(fam)].any(axis=1)
        if full.any():
            out[full] += log_theta[_flat_index(structure, i, codes[full], fam)]
    return out


def _flat_index(structure, i, codes_rows, fam) -> np.ndarray:
    idx = np.full(codes_rows.shape[0], structure.offsets[i], dtype=np.int64)
    for v, s in zip(fam, structure.strides[i]):
        idx += codes_rows[:, v].astype(np.int64) * s
    return idx


def _build_group(structure, codes, rows, vars_, plan_cache, single_clique_limit) -> Group:
    key = (vars_, single_clique_limit)
    cached = plan_cache.get(key)
    in_s = set(vars_)
    if cached is None:
        fams = sorted({f for v in vars_ for f in structure.children_families[v]})
        scopes = [tuple(v for v in sorted(structure.families[f]) if v in in_s) for f in fams]
        grids = []
        for f, scope in zip(fams, scopes):
            fam = structure.families[f]
            strides = dict(zip(fam, structure.strides[f]))
            grid = np.zeros(1, dtype=np.int64)
            for v in scope:
                grid = (grid[:, None] + np.arange(structure.cards[v]) * strides[v]).ravel()
            grids.append(grid)
        plan = compile_plan(vars_, scopes, {v: int(structure.cards[v]) for v in vars_},
                            single_clique_limit=single_clique_limit)
        cached = (fams, scopes, grids, plan)
        plan_cache[key] = cached
    fams, scopes, grids, plan = cached
    factors = []
    sub = codes[rows]
    for f, scope, grid in zip(fams, scopes, grids):
        base = np.full(rows.size, structure.offsets[f], dtype=np.int64)
        for v, s in zip(structure.families[f], structure.strides[f]):
            if v not in in_s:
                base += sub[:, v].astype(np.int64) * s
        factors.append(FactorSlot(f, scope, base, grid))
    return Group(vars_, rows, factors, plan)
