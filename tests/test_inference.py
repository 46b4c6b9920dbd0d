"""Batched sliced inference against brute-force enumeration and pgmpy's exact inference."""

import numpy as np
import pandas as pd
import pytest

from bnem.inference import engine
from bnem.inference.bruteforce import brute_force
from bnem.inference.engine import estep, family_posteriors, node_marginals, row_log_prob
import bnem
from bnem.network.sampling import sample_codes

from conftest import SMALL, load, random_network


@pytest.fixture(params=["linear", "log"])
def mode(request, monkeypatch):
    """Run each check on the fast linear path and on the log-space path."""
    if request.param == "log":
        monkeypatch.setattr(engine, "LINEAR_FLOOR", np.inf)
    return request.param


def _blank(rng, codes, fraction, latent=()):
    codes = codes.copy()
    codes[rng.random(codes.shape) < fraction] = -1
    for v in latent:
        codes[:, v] = -1
    return codes


def _check_against_brute_force(net, codes, weights=None):
    theta = net.flat_params()
    with np.errstate(divide="ignore"):
        log_theta = np.log(theta)
    weights = np.ones(len(codes)) if weights is None else weights
    ev = bnem.compile(net).analyse(codes, weights)
    log_p, posts = brute_force(net, codes)
    np.testing.assert_allclose(row_log_prob(ev, log_theta), log_p, rtol=0, atol=1e-10)
    for mine, ref in zip(family_posteriors(ev, theta), posts):
        np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-10)
    for v in range(len(net.nodes)):
        ref = posts[v].reshape(len(codes), -1, posts[v].shape[-1]).sum(axis=1)
        np.testing.assert_allclose(node_marginals(ev, log_theta, v), ref, rtol=0, atol=1e-10)
    tree = estep(ev, theta)
    counts, total = tree.counts, tree.log_likelihood
    expected = np.concatenate([(p * weights.reshape((-1,) + (1,) * (p.ndim - 1))).sum(0).ravel()
                               for p in posts])
    np.testing.assert_allclose(counts, expected, rtol=0, atol=1e-9)
    assert total == pytest.approx(float(weights @ log_p), abs=1e-9)
    # barren cells summed out: the same likelihoods; barren families get no counts
    from bnem.inference.barren import BARREN, mark_barren
    compiled = bnem.compile(net)
    marked = mark_barren(compiled.structure, np.asarray(codes))
    ev_b = compiled.analyse(codes, weights, barren=True, keep_assign=False)
    np.testing.assert_allclose(row_log_prob(ev_b, log_theta), log_p, rtol=0, atol=1e-10)
    tree_b = estep(ev_b, theta)
    kept = [(w * (marked[:, i] != BARREN)).reshape((-1,) + (1,) * (p.ndim - 1))
            for i, (p, w) in enumerate(zip(posts, [weights] * len(posts)))]
    expected_b = np.concatenate([(p * k).sum(0).ravel() for p, k in zip(posts, kept)])
    np.testing.assert_allclose(tree_b.counts, expected_b, rtol=0, atol=1e-9)
    assert tree_b.log_likelihood == pytest.approx(float(weights @ log_p), abs=1e-9)


@pytest.mark.parametrize("seed", range(60))
def test_random_dags_match_brute_force(seed, mode):
    rng = np.random.default_rng(seed)
    net = random_network(rng, int(rng.integers(2, 9)))
    codes = sample_codes(net, 40, rng)[0]
    latent = rng.choice(len(net.nodes), size=int(rng.integers(0, 3)), replace=False)
    codes = _blank(rng, codes, rng.uniform(0.0, 0.7), latent)
    weights = rng.integers(1, 4, len(codes)).astype(float)
    _check_against_brute_force(net, codes, weights)


@pytest.mark.parametrize("name", SMALL)
def test_bundled_small_networks_match_brute_force(name, mode):
    net = load(name)
    rng = np.random.default_rng(1)
    codes = _blank(rng, sample_codes(net, 60, rng)[0], 0.3, latent=[0])
    _check_against_brute_force(net, codes)


def test_wide_clique_pattern_keys(monkeypatch):
    """Cliques too wide for an integer bit mask key their missing patterns by bytes."""
    from bnem import ragged
    monkeypatch.setattr(ragged, "PATTERN_BITS", 0)
    rng = np.random.default_rng(5)
    net = random_network(rng, 7)
    codes = _blank(rng, sample_codes(net, 60, rng)[0], 0.4, latent=[2])
    _check_against_brute_force(net, codes)


def test_single_node_network():
    import bnem
    net = bnem.BayesianNetwork({"a": ["x", "y", "z"]}, {}, {"a": [0.2, 0.3, 0.5]})
    codes = np.array([[0], [2], [-1]])
    _check_against_brute_force(net, codes)


def test_deterministic_cpds_and_zero_rows_are_reported(rng):
    net = random_network(rng, 6, zero_prob=0.3)
    codes = _blank(rng, sample_codes(net, 50, rng)[0], 0.4)
    _check_against_brute_force(net, codes)  # sampled rows are possible
    theta = net.flat_params()
    # find an impossible complete row by brute force and check it is reported
    impossible = None
    for row in np.ndindex(*net.cards):
        lp, _ = brute_force(net, np.array([row]))
        if not np.isfinite(lp[0]):
            impossible = np.array([row])
            break
    assert impossible is not None
    codes2 = np.vstack([codes, impossible])
    ev = bnem.compile(net).analyse(codes2, np.ones(len(codes2)))
    with pytest.raises(engine.ImpossibleRows) as info:
        estep(ev, theta)
    assert len(codes2) - 1 in info.value.rows


@pytest.mark.slow
def test_no_underflow_with_thousands_of_observed_children():
    """A hidden root with 2,000 observed children: P(row) ~ 1e-900, still exact in log space."""
    import bnem
    rng = np.random.default_rng(0)
    k = 2000
    variables = {"H": ["a", "b", "c"], **{f"x{i}": ["0", "1"] for i in range(k)}}
    parents = {f"x{i}": ["H"] for i in range(k)}
    tables = {f"x{i}": rng.dirichlet([2, 2], size=3) for i in range(k)}
    net = bnem.BayesianNetwork(variables, parents, {"H": [0.2, 0.3, 0.5], **tables})
    df = net.sample(20, seed=3, hide=["H"])
    got = net.log_prob(df)
    codes = np.stack([df[f"x{i}"].cat.codes.to_numpy() for i in range(k)], axis=1)
    per_h = np.stack([np.log(tables[f"x{i}"][:, codes[:, i]]) for i in range(k)]).sum(0)
    per_h += np.log([0.2, 0.3, 0.5])[:, None]
    m = per_h.max(0)
    expected = m + np.log(np.exp(per_h - m).sum(0))
    assert (expected < -700).all()  # exp() of these underflows
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("name", ["asia", "child", "alarm", "insurance"])
def test_plan_is_a_valid_junction_tree(name):
    net = load(name)
    compiled = bnem.compile(net)
    structure, plan = compiled.structure, compiled.plan
    sets = [set(c.vars) for c in plan.cliques]
    for f, fam in enumerate(structure.families):
        assert set(fam) <= sets[plan.factor_clique[f]]
    # running intersection: the cliques holding any variable form a connected subtree
    for v in range(structure.n_vars):
        holding = [k for k, s in enumerate(sets) if v in s]
        roots = [k for k in holding if plan.cliques[k].parent is None
                 or v not in sets[plan.cliques[k].parent]]
        assert len(roots) == 1, (v, holding)
    assert all(c.parent is None or c.parent > k for k, c in enumerate(plan.cliques))


def test_alarm_plan_is_small():
    plan = bnem.compile(load("alarm")).plan
    assert max(plan.clique_sizes) <= 144
    assert sum(plan.clique_sizes) < 2000


def _pgmpy_log_prob(model, row: dict) -> float:
    """log P(evidence) by the chain rule over pgmpy VariableElimination queries."""
    from pgmpy.inference import VariableElimination
    ve = VariableElimination(model)
    total, given = 0.0, {}
    for var, state in row.items():
        q = ve.query([var], evidence=dict(given), show_progress=False) if given else \
            ve.query([var], show_progress=False)
        total += np.log(q.get_value(**{var: state}))
        given[var] = state
    return total


@pytest.mark.slow
@pytest.mark.parametrize("name", ["alarm", "child"])
def test_log_prob_and_posteriors_match_pgmpy(name):
    net = load(name)
    model = net.to_pgmpy()
    df = net.sample(4, seed=7, missing=0.3)
    mine = net.log_prob(df)
    from pgmpy.inference import VariableElimination
    ve = VariableElimination(model)
    for r in range(len(df)):
        row = {c: str(v) for c, v in df.iloc[r].items() if not pd.isna(v)}
        assert mine[r] == pytest.approx(_pgmpy_log_prob(model, row), abs=1e-9)
        missing = [c for c in df.columns if pd.isna(df.iloc[r][c])][:2]
        for node in missing:
            q = ve.query([node], evidence=row, show_progress=False)
            post = net.posterior(df.iloc[[r]], node).iloc[0]
            for state in net.states(node):
                assert post[state] == pytest.approx(q.get_value(**{node: state}), abs=1e-9)


@pytest.mark.slow
def test_chunks_are_bounded_by_sliced_entries(monkeypatch):
    """Chunks split by entry budget give the same answers; a monstrous row is refused."""
    from bnem.inference import budget, evidence
    net = load("asia")
    df = net.sample(300, seed=4, missing=0.5)
    before = net.log_prob(df)
    fit_before = bnem.fit(net, df, max_iter=3, seed=0)
    monkeypatch.setattr(budget, "MIN_CHUNK_WORDS", 500)
    monkeypatch.setattr(budget.MemoryBudget, "chunk_words", 500)
    slices = bnem.compile(net).chunk_bounds(np.full((30, 8), -1), budget.MemoryBudget())
    assert len(slices) > 1 and slices[-1].stop == 30
    np.testing.assert_allclose(net.log_prob(df), before, rtol=1e-13)
    fit_after = bnem.fit(net, df, max_iter=3, seed=0)
    np.testing.assert_allclose(fit_after.history["log_likelihood"],
                               fit_before.history["log_likelihood"], rtol=1e-12)
    monkeypatch.setattr(evidence, "MAX_ROW_ENTRIES", 10)
    with pytest.raises(bnem.InferenceTooLargeError, match=r"for row 0 \(asia='yes'\) needs 44 joint"):
        net.log_prob(pd.DataFrame({"asia": ["yes", None]}))


def test_chunk_words_count_the_states_only_when_they_are_kept():
    """EM's analysis drops each entry's states; node marginals keep them (a word per
    clique variable per entry), so their chunks are smaller."""
    from bnem.inference.evidence import row_entries
    net = load("alarm")
    compiled = bnem.compile(net)
    codes = np.full((40, len(net.nodes)), -1)
    codes[::2, ::3] = 0
    entries, em_words = row_entries(compiled.structure, compiled.plan, codes, keep_assign=False)
    _, all_words = row_entries(compiled.structure, compiled.plan, codes, keep_assign=True)
    missing = codes == -1
    states = sum(np.where(missing[:, list(c.vars)].any(axis=1),
                          np.prod(np.where(missing[:, list(c.vars)],
                                           compiled.structure.cards[list(c.vars)], 1), axis=1),
                          0) * len(c.vars) for c in compiled.plan.cliques)
    np.testing.assert_allclose(all_words - em_words, states, rtol=1e-9)
    assert (em_words >= 5 * entries).all()
    words = int(em_words.sum() / 4)
    em = compiled.chunk_bounds(codes, budget_with(words), keep_assign=False)
    kept = compiled.chunk_bounds(codes, budget_with(words), keep_assign=True)
    assert len(kept) > len(em) >= 4


def budget_with(words):
    from bnem.inference.budget import MemoryBudget

    class Fixed(MemoryBudget):
        @property
        def chunk_words(self):
            return words
    return Fixed()


def test_plan_sizes_do_not_overflow():
    import bnem
    k = 70  # a node with many parents makes a clique of 2**71 states
    variables = {f"p{i}": ["0", "1"] for i in range(k)}
    plan = bnem.compile(bnem.BayesianNetwork(variables)).plan
    assert plan.describe()["largest"] == 2
    from bnem.inference.plan import compile_plan
    wide = compile_plan(range(k), [tuple(range(k))], {v: 2 for v in range(k)})
    assert wide.describe()["largest"] == 2 ** k
