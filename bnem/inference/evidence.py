"""Evidence analysis of a chunk of encoded rows (inference layer).

Done once per chunk of data, independent of the parameters. For every row, the
missing variables are split into connected components (two missing variables are
connected when they share a family). A family whose members are all observed in a
row contributes a constant count. A component needs inference, but only over its
own variables: the observed members of its families are sliced out of the tables
("evidence by indexing"), which is where most of the speed comes from.

Each component instance takes one of three routes, chosen by a cost model:

* **flat** (small joint state space): the component's joint is enumerated; all such
  instances, whatever their shape, are evaluated together as one ragged array
  (:class:`FlatBlock`), so the cost is a handful of numpy calls per chunk;
* **grouped tree** (large joint, many rows share the same missing set, e.g. a latent
  variable connected to other latent variables): one compiled clique tree over the
  component's variables, batched over those rows (:class:`Group`);
* **full tree** (large joint, rare missing set): the whole row goes through one
  clique tree of the whole network with the evidence entered as indicators.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .plan import Plan, compile_plan

SINGLE_CLIQUE_LIMIT = 128
GROUP_MIN_ROWS = 64
FLAT_LIMITS = tuple(2 ** k for k in range(2, 15))
GROUP_OVERHEAD = 20_000      # cost, in table entries, of one extra batched group evaluation
TREE_ENTRY_COST = 3.0        # relative cost of a full-tree entry to a flat entry


@dataclass
class FactorSlot:
    """One factor inside a group: a gathered table slice or a constant evidence term."""

    family: int           # node id of the family, or -1 for an evidence indicator
    scope: tuple          # sorted ids of the factor's variables within the group
    base: np.ndarray      # (n_g,) flat index of the observed part, offset included
    grid: np.ndarray      # (prod(scope cards),) flat offsets of the free part, C order
    const: np.ndarray | None = None  # (n_g, prod(scope cards)) log values, for indicators


@dataclass
class Group:
    """Rows evaluated through one batched clique tree."""

    vars: tuple
    rows: np.ndarray      # (n_g,) chunk-local row index of each instance
    factors: list
    plan: Plan


@dataclass
class FlatBlock:
    """All small component instances of a chunk, enumerated as one ragged array.

    ``index[e]`` is the flat parameter index of entry ``e``; entries are grouped by
    joint state ("slot": ``slot_start``), slots by instance (``inst_start``).
    """

    index: np.ndarray
    slot_start: np.ndarray
    slot_len: np.ndarray
    inst_start: np.ndarray
    inst_rows: np.ndarray
    slot_inst: np.ndarray

    @property
    def n_instances(self) -> int:
        return self.inst_rows.size


@dataclass
class ChunkEvidence:
    """Everything parameter-independent that the E-step needs for one chunk."""

    structure: object
    codes: np.ndarray       # (n, V) int codes, -1 = missing
    weights: np.ndarray     # (n,) row multiplicities
    obs_counts: np.ndarray  # (n_params,) counts from fully observed families (not tree rows)
    obs_rows: np.ndarray    # bool (n,): rows whose observed families are in obs_counts
    flat: FlatBlock | None
    groups: list            # grouped and full-tree groups

    @property
    def n_rows(self) -> int:
        return self.codes.shape[0]

    def describe(self) -> dict:
        return {"rows": self.n_rows,
                "flat_instances": 0 if self.flat is None else self.flat.n_instances,
                "flat_entries": 0 if self.flat is None else int(self.flat.index.size),
                "groups": len(self.groups),
                "tree_rows": int((~self.obs_rows).sum())}


def component_labels(structure, missing: np.ndarray) -> np.ndarray:
    """Label each missing cell with the smallest variable id of its component."""
    n, V = missing.shape
    labels = np.where(missing, np.arange(V, dtype=np.int32), V).astype(np.int32)
    multi = [list(f) for f in structure.families if len(f) >= 2]
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


def _component_groups(structure, missing):
    """Distinct missing-variable sets and, for each, the rows holding that component."""
    n, V = missing.shape
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
    return [(tuple(int(v) for v in np.flatnonzero(member[first[g]])),
             inst_row[order[starts[g]:bounds[g]]]) for g in range(first.size)]


def analyse(structure, codes: np.ndarray, weights: np.ndarray, plan_cache: dict | None = None,
            flat_limit: int | None = None, group_min_rows: int = GROUP_MIN_ROWS,
            single_clique_limit: int = SINGLE_CLIQUE_LIMIT) -> ChunkEvidence:
    """Route a chunk's rows to observed counts, flat, grouped-tree and full-tree paths.

    ``flat_limit`` (largest joint enumerated flat) is chosen by the cost model when
    None; tests pin it to exercise every route.
    """
    plan_cache = {} if plan_cache is None else plan_cache
    codes = np.asarray(codes)
    n, V = codes.shape
    weights = np.asarray(weights, dtype=float)
    missing = codes < 0
    comps = _component_groups(structure, missing) if missing.any() else []
    infos = [_component_info(structure, vars_, plan_cache) for vars_, _ in comps]
    if flat_limit is None:
        flat_limit = _choose_flat_limit(structure, comps, infos, n, group_min_rows, plan_cache,
                                        single_clique_limit)
    tree_row = np.zeros(n, dtype=bool)
    for (vars_, rows), info in zip(comps, infos):
        if info["joint"] > flat_limit and rows.size < group_min_rows:
            tree_row[rows] = True
    flat_parts, groups = [], []
    for (vars_, rows), info in zip(comps, infos):
        keep = rows[~tree_row[rows]]
        if keep.size == 0:
            continue
        if info["joint"] <= flat_limit:
            flat_parts.append((info, keep))
        else:
            groups.append(_tree_group(structure, codes, keep, vars_, info, plan_cache,
                                      single_clique_limit))
    if tree_row.any():
        groups.append(_full_tree_group(structure, codes, np.flatnonzero(tree_row), plan_cache))
    obs_rows = ~tree_row
    obs_counts = np.zeros(structure.n_params)
    for i, fam in enumerate(structure.families):
        full = obs_rows & ~missing[:, list(fam)].any(axis=1)
        if full.any():
            idx = _flat_index(structure, i, codes[full], fam)
            obs_counts += np.bincount(idx, weights=weights[full], minlength=structure.n_params)
    flat = _flat_block(structure, codes, flat_parts) if flat_parts else None
    return ChunkEvidence(structure, codes, weights, obs_counts, obs_rows, flat, groups)


def _component_info(structure, vars_, plan_cache):
    key = ("info", vars_)
    info = plan_cache.get(key)
    if info is None:
        in_s = set(vars_)
        fams = sorted({f for v in vars_ for f in structure.children_families[v]})
        scopes = [tuple(v for v in sorted(structure.families[f]) if v in in_s) for f in fams]
        grids = [_grid(structure, f, scope) for f, scope in zip(fams, scopes)]
        joint = 1
        for v in vars_:
            joint *= int(structure.cards[v])
        info = {"fams": fams, "scopes": scopes, "grids": grids, "joint": joint}
        plan_cache[key] = info
    return info


def _grid(structure, f, scope) -> np.ndarray:
    strides = dict(zip(structure.families[f], structure.strides[f]))
    grid = np.zeros(1, dtype=np.int64)
    for v in scope:
        grid = (grid[:, None] + np.arange(structure.cards[v]) * strides[v]).ravel()
    return grid


def _full_plan(structure, plan_cache, single_clique_limit=0):
    key = ("full",)
    plan = plan_cache.get(key)
    if plan is None:
        plan = compile_plan(range(structure.n_vars),
                            [tuple(sorted(f)) for f in structure.families]
                            + [(v,) for v in range(structure.n_vars)],
                            {v: int(c) for v, c in enumerate(structure.cards)},
                            single_clique_limit=single_clique_limit)
        plan_cache[key] = plan
    return plan


def _choose_flat_limit(structure, comps, infos, n, group_min_rows, plan_cache,
                       single_clique_limit):
    if not comps:
        return FLAT_LIMITS[-1]
    joint = np.array([i["joint"] for i in infos], dtype=np.int64)
    entries = np.array([i["joint"] * len(i["fams"]) for i in infos], dtype=np.int64)
    sizes = np.array([r.size for _, r in comps], dtype=np.int64)
    full_cost = sum(_full_plan(structure, plan_cache).clique_sizes) * TREE_ENTRY_COST
    best, best_cost = None, None
    for limit in FLAT_LIMITS:
        flat = joint <= limit
        cost = float((entries[flat] * sizes[flat]).sum())
        big = ~flat & (sizes >= group_min_rows)
        cost += float((entries[big] * sizes[big]).sum() * TREE_ENTRY_COST)
        cost += GROUP_OVERHEAD * int(big.sum())
        rare = ~flat & ~big
        if rare.any():
            rows = np.unique(np.concatenate([comps[k][1] for k in np.flatnonzero(rare)]))
            cost += rows.size * full_cost + GROUP_OVERHEAD
        if best_cost is None or cost < best_cost:
            best, best_cost = limit, cost
    return best


def _flat_block(structure, codes, parts) -> FlatBlock:
    index_parts, slot_len_parts, inst_rows, n_slots = [], [], [], []
    for info, rows in parts:
        sub = codes[rows]
        in_s = set()
        for scope in info["scopes"]:
            in_s.update(scope)
        vars_ = sorted(in_s)
        # template[j, k]: offset of factor k's entry for joint state j
        template = np.zeros((info["joint"], len(info["fams"])), dtype=np.int64)
        joint_states = np.indices([int(structure.cards[v]) for v in vars_]).reshape(len(vars_), -1)
        pos = {v: a for a, v in enumerate(vars_)}
        bases = np.empty((rows.size, len(info["fams"])), dtype=np.int64)
        for k, f in enumerate(info["fams"]):
            base = np.full(rows.size, structure.offsets[f], dtype=np.int64)
            for v, s in zip(structure.families[f], structure.strides[f]):
                if v in pos:
                    template[:, k] += joint_states[pos[v]] * s
                else:
                    base += sub[:, v].astype(np.int64) * s
            bases[:, k] = base
        index_parts.append((bases[:, None, :] + template[None]).ravel())
        slot_len_parts.append(np.full(rows.size * info["joint"], len(info["fams"]), dtype=np.int64))
        inst_rows.append(rows)
        n_slots.append(np.full(rows.size, info["joint"], dtype=np.int64))
    index = np.concatenate(index_parts)
    slot_len = np.concatenate(slot_len_parts)
    slot_start = np.concatenate([[0], np.cumsum(slot_len)[:-1]])
    per_inst = np.concatenate(n_slots)
    inst_start = np.concatenate([[0], np.cumsum(per_inst)[:-1]])
    slot_inst = np.repeat(np.arange(per_inst.size), per_inst)
    dtype = np.int32 if structure.n_params < 2 ** 31 - 1 else np.int64
    return FlatBlock(index.astype(dtype), slot_start, slot_len, inst_start, np.concatenate(inst_rows),
                     slot_inst)


def _tree_group(structure, codes, rows, vars_, info, plan_cache, single_clique_limit) -> Group:
    key = ("plan", vars_, single_clique_limit)
    plan = plan_cache.get(key)
    if plan is None:
        plan = compile_plan(vars_, info["scopes"], {v: int(structure.cards[v]) for v in vars_},
                            single_clique_limit=single_clique_limit)
        plan_cache[key] = plan
    in_s = set(vars_)
    sub = codes[rows]
    factors = []
    for f, scope, grid in zip(info["fams"], info["scopes"], info["grids"]):
        base = np.full(rows.size, structure.offsets[f], dtype=np.int64)
        for v, s in zip(structure.families[f], structure.strides[f]):
            if v not in in_s:
                base += sub[:, v].astype(np.int64) * s
        factors.append(FactorSlot(f, scope, base, grid))
    return Group(vars_, rows, factors, plan)


def _full_tree_group(structure, codes, rows, plan_cache) -> Group:
    """Whole rows through the network's own clique tree; evidence as log-indicators."""
    plan = _full_plan(structure, plan_cache)
    sub = codes[rows]
    factors = []
    for f, fam in enumerate(structure.families):
        scope = tuple(sorted(fam))
        factors.append(FactorSlot(f, scope, np.full(rows.size, structure.offsets[f], np.int64),
                                  _grid(structure, f, scope)))
    with np.errstate(divide="ignore"):
        for v in range(structure.n_vars):
            card = int(structure.cards[v])
            c = sub[:, v].astype(np.int64)
            match = (c[:, None] < 0) | (c[:, None] == np.arange(card))
            factors.append(FactorSlot(-1, (v,), np.zeros(rows.size, np.int64),
                                      np.arange(card), np.log(match.astype(float))))
    return Group(tuple(range(structure.n_vars)), rows, factors, plan)


def observed_log_terms(evidence, log_theta) -> np.ndarray:
    """Per row, the sum of log P(x | u) over its fully observed families (flat/grouped rows)."""
    structure, codes = evidence.structure, evidence.codes
    missing = codes < 0
    out = np.zeros(codes.shape[0])
    for i, fam in enumerate(structure.families):
        full = evidence.obs_rows & ~missing[:, list(fam)].any(axis=1)
        if full.any():
            out[full] += log_theta[_flat_index(structure, i, codes[full], fam)]
    return out


def _flat_index(structure, i, codes_rows, fam) -> np.ndarray:
    idx = np.full(codes_rows.shape[0], structure.offsets[i], dtype=np.int64)
    for v, s in zip(fam, structure.strides[i]):
        idx += codes_rows[:, v].astype(np.int64) * s
    return idx
