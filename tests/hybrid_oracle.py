"""An independent oracle for hybrid networks: enumerate every discrete configuration,
build the joint Gaussian of all continuous nodes by the covariance recursion, and
score observed coordinates with scipy's multivariate normal. Shares no code with
bnem's inference (only reads the network's CPDs)."""

from __future__ import annotations

import itertools

import numpy as np
from scipy.stats import multivariate_normal

import bnem


def random_hybrid(rng, n_discrete=3, n_continuous=4, max_card=3) -> bnem.BayesianNetwork:
    """Random CLG network: discrete DAG, Gaussian nodes with random discrete and
    continuous parents; node order shuffled."""
    d_names = [f"d{i}" for i in range(n_discrete)]
    c_names = [f"c{i}" for i in range(n_continuous)]
    cards = {n: int(rng.integers(2, max_card + 1)) for n in d_names}
    parents, cpds = {}, {}
    for i, n in enumerate(d_names):
        k = int(min(i, rng.integers(0, 3)))
        par = sorted(rng.choice(d_names[:i], size=k, replace=False).tolist()) if k else []
        parents[n] = par
        shape = tuple(cards[p] for p in par)
        cpds[n] = rng.dirichlet(np.ones(cards[n]), size=shape or None)
    for i, n in enumerate(c_names):
        kd = int(rng.integers(0, 3))
        dpar = sorted(rng.choice(d_names, size=min(kd, n_discrete), replace=False).tolist())
        kc = int(min(i, rng.integers(0, 3)))
        cpar = sorted(rng.choice(c_names[:i], size=kc, replace=False).tolist()) if kc else []
        parents[n] = dpar + cpar
        shape = tuple(cards[p] for p in dpar)
        cpds[n] = {"intercept": rng.normal(0, 3, size=shape),
                   "weights": rng.normal(0, 0.8, size=shape + (len(cpar),)),
                   "variance": rng.uniform(0.3, 2.0, size=shape)}
    names = d_names + c_names
    order = rng.permutation(len(names))
    variables = {names[i]: ([f"s{j}" for j in range(cards[names[i]])] if names[i] in cards
                            else "continuous") for i in order}
    return bnem.BayesianNetwork(variables, parents, cpds)


def _configs(net):
    cards = [len(net.states(n)) for n in net.discrete_nodes]
    return list(itertools.product(*[range(c) for c in cards]))


def _joint_gaussian(net, config):
    state = dict(zip(net.discrete_nodes, config))
    cont = [n for n in net.topological_order if n in net.continuous_nodes]
    pos = {n: i for i, n in enumerate(cont)}
    m = len(cont)
    mean, cov = np.zeros(m), np.zeros((m, m))
    for n in cont:
        cpd = net.cpd(n)
        u = tuple(state[p] for p in cpd.discrete_parents)
        w = cpd.weights[u]
        pa = [pos[p] for p in cpd.continuous_parents]
        j = pos[n]
        mean[j] = cpd.intercept[u] + w @ mean[pa]
        cov[j, :j] = w @ cov[pa, :j]
        cov[:j, j] = cov[j, :j]
        cov[j, j] = cpd.variance[u] + w @ cov[np.ix_(pa, pa)] @ w
    return cont, mean, cov


def _prob_of_config(net, config):
    state = dict(zip(net.discrete_nodes, config))
    p = 1.0
    for n in net.discrete_nodes:
        cpd = net.cpd(n)
        p *= cpd.values[tuple(state[q] for q in cpd.parents) + (state[n],)]
    return p


def oracle(net, df):
    """Per-row log p(observed) and, per discrete node, P(node | row) arrays."""
    configs = _configs(net)
    rows = len(df)
    joint = np.full((rows, len(configs)), -np.inf)  # log p(row, configuration)
    for c, config in enumerate(configs):
        prior = _prob_of_config(net, config)
        if prior == 0:
            continue
        cont, mean, cov = _joint_gaussian(net, config)
        for r in range(rows):
            ok = True
            for n, s in zip(net.discrete_nodes, config):
                if n in df.columns and isinstance(df[n].iloc[r], str) and \
                        df[n].iloc[r] != net.states(n)[s]:
                    ok = False
            if not ok:
                continue
            x = np.array([df[n].iloc[r] if n in df.columns else np.nan for n in cont], float)
            o = ~np.isnan(x)
            dens = multivariate_normal(mean[o], cov[np.ix_(o, o)]).logpdf(x[o]) if o.any() else 0.0
            joint[r, c] = np.log(prior) + dens
    top = joint.max(axis=1, keepdims=True)
    oracle.max_log_joint = top[:, 0]  # max over discrete completions of log p(row, z)
    scaled = np.exp(joint - top)
    total = scaled.sum(axis=1)
    post = {}
    for i, n in enumerate(net.discrete_nodes):
        card = len(net.states(n))
        p = np.zeros((rows, card))
        for c, config in enumerate(configs):
            p[:, config[i]] += scaled[:, c]
        post[n] = p / total[:, None]
    return np.log(total) + top[:, 0], post
