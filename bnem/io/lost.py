"""The one warning for formats that cannot hold shared, held, tied, noisy-OR or Poisson blocks (io layer)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from ..errors import FormatWarning

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork


def warn_constraints_lost(network: "BayesianNetwork", target: str) -> None:
    """One :class:`~bnem.errors.FormatWarning` naming the blocks ``target`` (e.g.
    ``"BIF"``) cannot express; nothing when ``network`` has none."""
    c = network.constraints
    if not c:
        return
    lost = [f"shared {'variance' if not c.shares_all(name) else 'table' if members[0] in network.discrete_nodes else 'CPD'} "
            f"{name!r} ({', '.join(members)})" for name, members in c.shared.items()]
    fixed = list(network.fixed_nodes)
    partly = [n for n in c.held if n not in fixed]
    if fixed:
        lost.append(f"fixed CPD(s) of {', '.join(fixed)}")
    if partly:
        lost.append(f"held entries of {', '.join(partly)}")
    if c.tied:
        lost.append(f"tied covariance of {', '.join(c.tied)}")
    for kind in dict.fromkeys(f.kind for f in c.forms.values()):
        lost.append(f"{kind} form of {', '.join(c.of_kind(kind))} (written as full tables)")
    warnings.warn(f"{target} cannot express shared, held, tied, noisy-OR or Poisson parameters; the values are "
                  f"written but these are lost: {'; '.join(lost)}. Write JSON "
                  "(bnem.write_json, a '.json' file) to keep them.", FormatWarning,
                  stacklevel=3)
