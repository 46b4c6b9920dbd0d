"""CPD families on the EM side: the seam every kind of parameter plugs into (em layer).

A family owns one block of :class:`~bnem.network.parameters.Parameters` and the
matching block of :class:`~bnem.inference.stats.Stats` (both keyed by the family's
``name``), and everything EM does with its numbers (:class:`Family`): the M-step
(``maximize``, within the network's shared, held and tied blocks), putting a start
or an extrapolated point back within those blocks (``constrain``), its prior term of
the MAP objective, the coordinates SQUAREM extrapolates in and their metric, and its
arrays in checkpoints. The EM driver, SQUAREM and the checkpoints loop over the
families of a fit (:func:`families_for`) and never name one.

Adding a family is one module with a class like :class:`~bnem.em.families.table.TableFamily`
and one entry in :data:`REGISTRY`; its E-step contribution (the statistics block)
comes from the inference layer's kernels, and its network-side pieces (the CPD type,
free-parameter count, JSON form) from the network and io layers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Context, Family
from .gaussian import GaussianFamily
from .table import TableFamily

if TYPE_CHECKING:
    from ...network.bayesnet import BayesianNetwork

REGISTRY: tuple[type[Family], ...] = (TableFamily, GaussianFamily)
BY_NAME: dict[str, type[Family]] = {cls.name: cls for cls in REGISTRY}

__all__ = ["BY_NAME", "Context", "Family", "REGISTRY", "families_for", "family_types"]


def family_types(network: "BayesianNetwork") -> tuple[type[Family], ...]:
    """The registered families present in ``network``, in registry order."""
    return tuple(cls for cls in REGISTRY if cls.present(network))


def families_for(context: Context) -> tuple[Family, ...]:
    """One family object per family present in the fit's network."""
    return tuple(cls(context) for cls in family_types(context.network))
