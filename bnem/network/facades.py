"""Methods of :class:`~bnem.network.bayesnet.BayesianNetwork` whose work is done by upper
layers (network layer).

``net.log_prob(df)``, ``net.posterior(df, node)``, ``net.impute(df)``, ``net.to_pgmpy()``
and friends are conveniences on the network, but their work belongs to the inference
and io layers, which the network layer may not import (imports flow one way). The
package root (``bnem/__init__.py``), which sits above every layer, registers the
implementations here when bnem is imported (``import bnem.network...`` imports the
package root first, so they are always there); the network's methods call them
through :func:`call`. No module of the network layer imports an upper one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import BnemError

_IMPLEMENTATIONS: dict[str, Callable[..., Any]] = {}


def register(**implementations: Callable[..., Any]) -> None:
    """Wire the network's convenience methods to their implementations."""
    _IMPLEMENTATIONS.update(implementations)


def registered() -> frozenset[str]:
    """The names wired so far."""
    return frozenset(_IMPLEMENTATIONS)


def call(name: str, *args: Any) -> Any:
    """Run the implementation registered for ``name``."""
    try:
        implementation = _IMPLEMENTATIONS[name]
    except KeyError:
        raise BnemError(f"bnem bug: BayesianNetwork.{name} is not wired to its "
                        "implementation (bnem/__init__.py registers it)") from None
    return implementation(*args)
