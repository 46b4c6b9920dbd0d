"""The Gaussian family on the EM side: conditional linear Gaussian CPDs by node.

The block maps each continuous node to its :class:`~bnem.network.gaussian.GaussianCPD`;
its statistics are the weighted :class:`~bnem.inference.stats.Moments` of every
continuous component. The M-step is :func:`bnem.em.gaussian_mstep.maximize_gaussians`,
then the shared and tied nodes refitted (:mod:`bnem.em.gaussian_blocks`) and fixed
CPDs kept; SQUAREM extrapolates intercepts and weights as they are and log variances
(held at ``min_variance`` on the way back, like the M-step's).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ...inference.gaussian import joint_factors
from ...inference.stats import Moments
from ...network.gaussian import GaussianCPD
from ...network.parameters import GAUSSIAN
from ..gaussian_blocks import (has_gaussian_blocks, maximize_blocks, project_blocks,
                               refitted_components)
from ..gaussian_mstep import maximize_gaussians
from ...errors import BnemValueError
from ..gaussian_roundoff import variance_log_prior, weight_log_prior, weight_precision
from ..notes import MStepNotes
from .base import Context

if TYPE_CHECKING:
    from ...inference.stats import Stats
    from ...network.bayesnet import BayesianNetwork
    from ...network.parameters import Parameters

TINY = np.finfo(float).tiny
MAX_LOG_VARIANCE = math.log(np.finfo(float).max)  # beyond: the variance overflows


class GaussianFamily:
    """Conditional linear Gaussians (see the module docstring)."""

    name: ClassVar[str] = GAUSSIAN

    def __init__(self, context: Context) -> None:
        self.network = context.network
        self.structure = context.structure
        self.min_variance = context.min_variance
        network = context.network
        self.blocks = has_gaussian_blocks(network.constraints, network.continuous_nodes)
        if self.blocks and weight_precision(self.min_variance):
            raise BnemValueError("weight_prior= is not available with shared or tied "
                                 "Gaussian CPDs (their pooled M-step has no ridge form "
                                 "yet); drop weight_prior, or the sharing")
        self.skip = refitted_components(context.structure, network.constraints)
        self.fixed = {n: network.cpd(n) for n in network.fixed_nodes
                      if n in network.continuous_nodes}

    @staticmethod
    def present(network: "BayesianNetwork") -> bool:
        return bool(network.continuous_nodes)

    def maximize(self, params: "Parameters", stats: "Stats") -> tuple[dict, MStepNotes]:
        moments, previous = stats.blocks[GAUSSIAN], params.blocks[GAUSSIAN]
        gaussians, floored, empty, collinear, imprecise, slack = maximize_gaussians(
            self.structure, moments, previous, self.min_variance, self.skip)
        if self.blocks:
            gaussians, low, unseen = maximize_blocks(
                self.structure, moments, previous, gaussians, self.network.constraints,
                self.min_variance)
            floored = sorted(set(floored) | set(low))
            empty = sorted(set(empty) | set(unseen))
        fixed = self.fixed
        if fixed:  # each node's term of the expected log-likelihood is its own: keeping
            # some CPDs is the constrained maximum of the rest
            gaussians = {**gaussians, **fixed}
            floored, empty, collinear, imprecise = (
                [c for c in notes if c[0] not in fixed]
                for notes in (floored, empty, collinear, imprecise))
        return gaussians, MStepNotes(tuple(floored), tuple(empty), tuple(collinear),
                                     tuple(imprecise), slack)

    def blend(self, running: tuple | None, batch: tuple, keep: float, take: float,
              params: "Parameters") -> tuple:
        """Moments are sums about a centre (the means at the E-step's parameters): the
        batch's are moved to the running moments' centre first, ``sum r (x - c) =
        m1 + n d`` and ``sum r (x - c)(x - c)^T = m2 + d m1^T + m1 d^T + n d d^T`` with
        ``d`` the batch's centre minus ``c``."""
        out = []
        for j, (comp, b) in enumerate(zip(self.structure.components, batch)):
            centre = b.centre if b.centre is not None else \
                joint_factors(comp, params.blocks[GAUSSIAN]).mean
            centre = np.broadcast_to(centre, b.m1.shape)
            if running is None or keep == 0.0:
                out.append(Moments(take * b.n, take * b.m1, take * b.m2, centre))
                continue
            a = running[j]
            if a.centre is None:  # a fit's last E-step, at these same parameters
                a = Moments(a.n, a.m1, a.m2, centre)
            d = centre - a.centre
            m1 = b.m1 + b.n[:, None] * d
            m2 = b.m2 + d[:, :, None] * b.m1[:, None, :] + b.m1[:, :, None] * d[:, None, :] \
                + b.n[:, None, None] * d[:, :, None] * d[:, None, :]
            out.append(Moments(keep * a.n + take * b.n, keep * a.m1 + take * m1,
                               keep * a.m2 + take * m2, a.centre))
        return tuple(out)

    def start_statistics(self, block: Mapping, weight: float) -> None:
        return None  # densities are never 0: the first batch's moments are taken whole

    def constrain(self, block: Mapping) -> Mapping:
        if self.blocks:
            block = project_blocks(block, self.network.constraints)
        return {**block, **self.fixed} if self.fixed else block

    def log_prior(self, block: Mapping) -> float:
        """The priors' terms (0 without any): the variance prior's for every free variance
        once (a shared block's through its first member; a tied node's one variance
        once), and the weight prior's for every free node's weights with their
        configuration's variance (no shared or tied blocks then)."""
        lam = weight_precision(self.min_variance)
        weights = sum(weight_log_prior(cpd.weights, cpd.variance, self.min_variance)
                      for node, cpd in block.items() if node not in self.fixed) if lam else 0.0
        if not getattr(self.min_variance, "nu", 0.0):
            return weights
        c = self.network.constraints
        counted: set[str] = set(self.fixed)
        total = 0.0
        for node, cpd in block.items():
            if node in counted:
                continue
            group = c.group_of(node)
            if group is not None:
                counted.update(c.shared[group])
            variances = np.ravel(cpd.variance)
            if node in c.tied:
                variances = variances[:1]
            total += variance_log_prior(variances, self.min_variance)
        return total + weights

    def size(self, block: Mapping) -> int:
        return sum(2 * cpd.intercept.size + cpd.weights.size for cpd in block.values())

    def to_vector(self, block: Mapping) -> tuple[np.ndarray, np.ndarray]:
        parts = [np.zeros(0)]
        for cpd in block.values():
            parts += [np.ravel(cpd.intercept), np.ravel(cpd.weights),
                      np.log(np.ravel(cpd.variance))]
        x = np.concatenate(parts)
        return x, np.zeros(x.size, dtype=bool)

    def from_vector(self, x: np.ndarray, keep: np.ndarray, like: Mapping) -> dict | None:
        gaussians, at = {}, 0
        for node, cpd in like.items():
            sizes = (np.size(cpd.intercept), np.size(cpd.weights), np.size(cpd.variance))
            b0, w, logvar = np.split(x[at:at + sum(sizes)], np.cumsum(sizes)[:-1])
            at += sum(sizes)
            if not (np.isfinite(b0).all() and np.isfinite(w).all()
                    and (logvar < MAX_LOG_VARIANCE).all()):
                return None  # beyond floats: no network (the caller takes the EM point)
            gaussians[node] = GaussianCPD(
                node, cpd.discrete_parents, cpd.continuous_parents,
                b0.reshape(np.shape(cpd.intercept)), w.reshape(np.shape(cpd.weights)),
                # within the M-step's floor, so that its step from here cannot drop
                np.maximum(np.exp(logvar), self.min_variance).reshape(np.shape(cpd.variance)),
                discrete_cards=cpd.mean_shape)
        return gaussians

    def metric(self, block: Mapping, stats: "Stats") -> np.ndarray:
        """Per configuration ``u`` of a Gaussian CPD, of share ``P(u)`` of the rows: the
        intercept ``sqrt(P(u)) / s``, a coefficient that times its parent's ``s``, the
        log variance ``sqrt(P(u) / 2)``, where ``s`` is a node's standard deviation
        within its component's interface configurations, pooled over them, and at least
        ``sqrt(min_variance)`` (see :class:`bnem.em.accelerate._Coordinates`)."""
        rows = max(stats.weight, TINY)
        share, spread = {}, {}
        for comp, mom in zip(self.structure.components, stats.blocks[GAUSSIAN]):
            n = np.maximum(mom.n, TINY)
            within = np.einsum("kii->ki", mom.m2) - (mom.m1 / n[:, None]) * mom.m1
            # at least the M-step's floor: a column constant within configurations would
            # weigh without bound (and its slopes to inf) and switch the steps off
            sd = np.sqrt(np.maximum(within.sum(axis=0) / n.sum(), self.min_variance))
            for j, node in enumerate(comp.nodes):
                size = block[node].intercept.size
                share[node] = np.bincount(comp.config_of[j], weights=mom.n, minlength=size) / rows
                spread[node] = (sd[comp.parents[j]], float(sd[j]))
        parts = [np.zeros(0)]
        for node in block:
            per = np.sqrt(np.maximum(share[node], 0.0))
            parents, own = spread[node]
            parts += [per / own, np.ravel((per / own)[:, None] * parents), per / math.sqrt(2.0)]
        return np.concatenate(parts)

    @staticmethod
    def arrays(block: Mapping, key: str) -> dict[str, np.ndarray]:
        out = {}
        for j, cpd in enumerate(block.values()):
            out[f"{key}.g{j}.b0"] = np.asarray(cpd.intercept)
            out[f"{key}.g{j}.w"] = np.asarray(cpd.weights)
            out[f"{key}.g{j}.var"] = np.asarray(cpd.variance)
        return out

    @staticmethod
    def stats_arrays(block: tuple, key: str) -> dict[str, np.ndarray]:
        """The statistics block (moments per component) as named arrays."""
        out = {}
        for j, m in enumerate(block):
            for name in ("n", "m1", "m2"):
                out[f"{key}.s{j}.{name}"] = np.asarray(getattr(m, name), dtype=float)
            if m.centre is not None:
                out[f"{key}.s{j}.centre"] = np.asarray(m.centre, dtype=float)
        return out

    @staticmethod
    def stats_from_arrays(arrays: dict, key: str, network: "BayesianNetwork") -> tuple:
        from ...inference.stats import Moments
        out, j = [], 0
        while f"{key}.s{j}.n" in arrays:
            n, m1, m2 = (np.asarray(arrays[f"{key}.s{j}.{x}"], dtype=float)
                         for x in ("n", "m1", "m2"))
            if not all(np.isfinite(a).all() for a in (n, m1, m2)):
                raise ValueError(f"{key}.s{j}: moments are not finite")
            centre = arrays.get(f"{key}.s{j}.centre")
            out.append(Moments(n, m1, m2, None if centre is None else np.asarray(centre, float)))
            j += 1
        return tuple(out)

    @staticmethod
    def from_arrays(arrays: dict, key: str, network: "BayesianNetwork") -> dict:
        gaussians = {}
        for j, (node, cpd) in enumerate(network.gaussian_cpds.items()):
            gaussians[node] = GaussianCPD(node, cpd.discrete_parents, cpd.continuous_parents,
                                          arrays[f"{key}.g{j}.b0"], arrays[f"{key}.g{j}.w"],
                                          arrays[f"{key}.g{j}.var"],
                                          discrete_cards=cpd.mean_shape)
        return gaussians
