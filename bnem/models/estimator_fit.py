"""``bnem.fit`` for the scikit-learn-style estimators and the other model helpers
(models layer), with its warnings shown at the user's call to the estimator's ``fit``
(or to the helper, such as ``select_cardinality``) rather than at a line of bnem."""

from __future__ import annotations

from typing import Any

from ..em.loop import fit as em_fit
from ..em.online import BatchReport, OnlineEM
from ..em.result import FitResult
from ..errors import warnings_reissued


def fit_for_estimator(*args: Any, **kwargs: Any) -> FitResult:
    """:func:`bnem.fit`; the warnings it issues are recorded and issued again, through
    the user's own filters, at the line that called the estimator's ``fit`` (this
    function's caller's caller), also when the fit raises."""
    return warnings_reissued(3, em_fit, *args, **kwargs)


def online_update(estimator: Any, frame: Any, sample_weight: Any, start: Any, init: str,
                  statistics: Any = None, **options: Any) -> BatchReport:
    """One ``partial_fit`` batch: the estimator's :class:`~bnem.em.online.OnlineEM`
    (``online_``, made from ``start`` and ``init`` on the first call, with the
    estimator's ``step`` and ``fading``, going on from ``statistics``, the last E-step
    of a ``fit``, if given) learns from ``frame``; warnings are shown at the line that
    called ``partial_fit``."""
    def update() -> BatchReport:
        learner = getattr(estimator, "online_", None)
        if learner is None:
            learner = OnlineEM(start, step=estimator.step, fading=estimator.fading, init=init,
                               **options)
            if statistics is not None:
                learner.continue_from(statistics)
            estimator.online_ = learner
        return learner.update(frame, sample_weight)
    return warnings_reissued(3, update)
