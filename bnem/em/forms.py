"""M-steps of table forms (:mod:`bnem.network.forms`), by form (em layer).

The table M-step (:class:`bnem.em.mstep.Maximizer`) hands each node with a form its
family's expected counts (pooled over a shared group; plus the Dirichlet prior when
the form takes it) and the table of the E-step, and puts back the table this returns:

* **noisy-OR**: mechanism-EM steps (:mod:`bnem.em.noisy_or`), generalised EM;
* **Poisson**: the exact maximum, a rate per parent configuration,
  ``(sum_y y n(u, y) + n(u, >M) E[Y | Y > M]) / n(u)``: the expected count, a count
  above ``M`` (seen only as a missing cell's share of the last state) at its
  conditional mean under the E-step's rate, ``rate * P(Y >= M) / P(Y > M)``.

With no E-step table (a start, or a point SQUAREM put back on the form's tables), the
form's parameters are read off the counts' own proportions: exactly, when they are
those of a table of the form (a start given as such is kept).

>>> from bnem.network.forms import Poisson
>>> f = Poisson(3)
>>> counts = np.array([[4.0, 3.0, 2.0, 1.0, 0.0]])   # 10 rows: 0 four times, ...
>>> maximize_form(f, counts, f.table(np.array([1.0]))).round(12).tolist() == \\
...     f.table(np.array([1.0])).round(12).tolist()  # mean 1.0: the same rate
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from ..network.forms import Poisson
from ..network.noisy_or import NoisyOr
from . import noisy_or


def maximize_form(form: Any, counts: np.ndarray, current: np.ndarray | None) -> np.ndarray:
    """The table of ``form`` after the M-step on ``counts`` (see the module docstring)."""
    if isinstance(form, NoisyOr):
        return noisy_or.maximize_links(form, counts, current)
    if isinstance(form, Poisson):
        return form.table(poisson_rates(form, counts, current))
    raise TypeError(f"no M-step for the table form {form!r}")  # pragma: no cover


def structural_zeros(form: Any, shape: tuple) -> np.ndarray:
    """Entries that are 0 by the form itself (not free: no prior, not counted)."""
    if isinstance(form, NoisyOr):
        return noisy_or.structural_zeros(form, shape)
    return np.zeros(shape, dtype=bool)


def poisson_rates(form: Poisson, counts: np.ndarray, current: np.ndarray | None) -> np.ndarray:
    """The rates maximising the expected complete-data log-likelihood of ``counts``
    (``(*parents, M + 2)``) given the E-step's table ``current``."""
    m = form.max_count
    counts = np.asarray(counts, dtype=float)
    total = counts.sum(axis=-1)
    seen = (counts[..., :-1] * np.arange(m + 1)).sum(axis=-1)
    above: Any
    if current is None:
        above = float(m + 1)  # a start: a count above M taken as M + 1
        old = np.ones(total.shape)
    else:
        old = form.rates_of(current)
        with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
            above = old * special.pdtrc(m - 1, old) / special.pdtrc(m, old)
        above = np.where(np.isfinite(above), above, m + 1.0)
    tail = counts[..., -1]
    expected = seen + np.where(tail > 0, tail * above, 0.0)
    rates = np.where(total > 0, expected / np.where(total > 0, total, 1.0), old)
    if current is None:  # counts in the proportions of a Poisson table: its own rates
        rows = counts / np.where(total > 0, total, 1.0)[..., None]
        exact = form.rates_of(rows)
        same = np.isclose(form.table(exact), rows, rtol=0, atol=1e-12).all(axis=-1)
        rates = np.where(same & (total > 0), exact, rates)
    return rates
