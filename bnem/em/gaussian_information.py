"""The exact gradient of the observed-data log-likelihood in the Gaussian parameters
(em layer), for :mod:`bnem.em.information`.

Each Gaussian node ``j`` with continuous parents ``P`` is, in its discrete-parent
configuration ``u``, ``x_j = b0 + w'x_P + e``, ``e ~ N(0, v)``. By Fisher's identity
the gradient of the log-likelihood is the expected gradient of the complete-data
log-likelihood under the posterior at the same parameters, and that needs only the
E-step's weighted moments (pooled into the node's configurations as the M-step pools
them): with ``e`` the residual,

    dL/db0 = sum r e / v,   dL/dw = sum r e x_P / v,   dL/dv = -n / (2v) + sum r e^2 / (2v^2).

The free Gaussian parameters are, node by node (network order) and configuration by
configuration, ``b0``, then ``w``, then ``v``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..inference.gaussian import joint_factors
from ..inference.structure import Structure
from ..network.constraints import Constraints
from ..network.gaussian import GaussianCPD
from .gaussian_mstep import moments_to_scatter, pool


def names(cpds: Mapping[str, GaussianCPD], order: list[str]) -> list[tuple[str, int, str]]:
    """``(node, configuration, parameter name)`` of every free Gaussian parameter."""
    out: list[tuple[str, int, str]] = []
    for node in order:
        cpd = cpds[node]
        labels = ["intercept"] + [f"weight[{p}]" for p in cpd.continuous_parents] + ["variance"]
        out.extend((node, u, label) for u in range(cpd.intercept.size) for label in labels)
    return out


def pack(cpds: Mapping[str, GaussianCPD], order: list[str]) -> np.ndarray:
    """The free Gaussian parameters as one vector (see :func:`names`)."""
    parts = []
    for node in order:
        cpd = cpds[node]
        g = cpd.intercept.size
        parts.append(np.column_stack([cpd.intercept.reshape(g, 1), cpd.weights.reshape(g, -1),
                                      cpd.variance.reshape(g, 1)]).ravel())
    return np.concatenate(parts) if parts else np.zeros(0)


def representatives(cpds: Mapping[str, GaussianCPD], order: list[str],
                    constraints: Constraints) -> np.ndarray:
    """For each free Gaussian parameter (the layout of :func:`pack`), the position of the
    one it is a copy of: a shared group's members' parameters (or, for a shared
    variance, their variances) are the first member's; a tied node's weights and
    variance in every configuration are those of its first configuration. A parameter
    that is no copy is its own."""
    offset, at = {}, 0
    for node in order:
        offset[node] = at
        at += cpds[node].intercept.size * (len(cpds[node].continuous_parents) + 2)
    rep = np.arange(at)

    def layout(node: str) -> np.ndarray:  # (configurations, b0 + weights + variance)
        cpd = cpds[node]
        g, k = cpd.intercept.size, len(cpd.continuous_parents)
        return offset[node] + np.arange(g * (k + 2)).reshape(g, k + 2)

    for name, members in constraints.shared.items():
        if members[0] not in offset:
            continue  # discrete, or fixed
        first = layout(members[0])
        for m in members[1:]:
            own = layout(m)
            if constraints.shares_all(name):
                rep[own.ravel()] = first.ravel()
            else:
                rep[own[:, -1]] = first[:, -1]
    for node in constraints.tied:
        if node in offset:
            own = layout(node)
            rep[own[:, 1:].ravel()] = np.broadcast_to(own[0, 1:], own[:, 1:].shape).ravel()
    return rep


def unpack(vector: np.ndarray, cpds: Mapping[str, GaussianCPD],
           order: list[str]) -> dict[str, GaussianCPD]:
    """``cpds`` with the free parameters of ``vector`` (the inverse of :func:`pack`)."""
    out, at = dict(cpds), 0
    for node in order:
        cpd = cpds[node]
        g, k = cpd.intercept.size, len(cpd.continuous_parents)
        block = vector[at:at + g * (k + 2)].reshape(g, k + 2)
        at += g * (k + 2)
        shape = cpd.mean_shape
        out[node] = GaussianCPD(node, cpd.discrete_parents, cpd.continuous_parents,
                                block[:, 0].reshape(shape), block[:, 1:k + 1].reshape(shape + (k,)),
                                block[:, k + 1].reshape(shape), discrete_cards=shape)
    return out


def gradient(structure: Structure, moments: tuple, cpds: Mapping[str, GaussianCPD],
             order: list[str]) -> np.ndarray:
    """dL/d(free Gaussian parameters), from the moments of an E-step at ``cpds``."""
    grads: dict[str, np.ndarray] = {}
    for comp, st in zip(structure.components, moments):
        n_k, mean, scatter = moments_to_scatter(st, joint_factors(comp, cpds).mean)
        for j, node in enumerate(comp.nodes):
            cpd = cpds[node]
            g, par = cpd.intercept.size, comp.parents[j]
            n_u, m_u, s = pool(n_k, mean, scatter, comp.config_of[j], g)
            b0, w, v = cpd.intercept.ravel(), cpd.weights.reshape(g, -1), cpd.variance.ravel()
            s_pp, s_pj, s_jj = s[:, par][:, :, par], s[:, par, j], s[:, j, j]
            d = m_u[:, j] - b0 - np.einsum("gp,gp->g", w, m_u[:, par])  # mean residual
            rss = s_jj - 2 * np.einsum("gp,gp->g", w, s_pj) + \
                np.einsum("gp,gpq,gq->g", w, s_pp, w)
            sum_e = n_u * d
            sum_ex = s_pj - np.einsum("gpq,gq->gp", s_pp, w) + m_u[:, par] * sum_e[:, None]
            grads[node] = np.column_stack([sum_e / v, sum_ex / v[:, None],
                                           -n_u / (2 * v) + (rss + n_u * d * d) / (2 * v * v)])
    return np.concatenate([grads[n].ravel() for n in order]) if order else np.zeros(0)
