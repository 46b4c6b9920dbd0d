"""What a fit returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class FitResult:
    """Outcome of :func:`bnem.fit`.

    Attributes
    ----------
    network : BayesianNetwork
        The learned network (the parameters of the best restart).
    history : pandas.DataFrame
        One row per evaluated parameter set: ``iteration`` (0 = the start),
        ``log_likelihood`` (observed data), ``log_posterior`` (with ``prior > 0``: the
        MAP objective, which is the monotone one), ``classification_log_likelihood``
        (or ``classification_log_posterior``; with ``hard=True``, the monotone
        objective), ``delta`` (increase of the objective over the previous row) and
        ``seconds`` since the restart started; with SQUAREM also ``n_estep``
        (E-steps since the restart started) and ``step``. Only the best restart's
        rows: :attr:`histories` has every restart's.
    log_likelihood : float
        Observed-data log-likelihood of :attr:`network` on the data.
    n_iter : int
        Number of M-steps performed.
    converged : bool
        Whether the per-row increase fell below ``tol`` before ``max_iter``.
    empty_configurations : list of (node, {parent: state})
        Parent configurations with zero expected count in the last E-step; their
        distributions are uniform (or the prior's), not learned.
    restarts : pandas.DataFrame
        One row per initialisation: ``restart``, ``log_likelihood``, ``objective``,
        ``n_iter``, ``converged``; the best is the one returned.
    histories : pandas.DataFrame
        Every restart's history, restart after restart, with a leading ``restart``
        column (each restart's ``seconds`` and ``n_estep`` start at its own start).
    best_restart : int
        The number of the restart returned.
    floored_variances : list of (node, {discrete parent: state})
        Gaussian nodes and configurations whose variance was held at ``min_variance``
        in the last M-step (a collapsing component).
    n_estep : int
        E-steps evaluated over all restarts (each a full pass over the data).
    interrupted : bool
        Whether Ctrl-C, SIGTERM or SIGHUP stopped the fit (after finishing its
        iteration); the result is then the best found so far.
    stop_signal : str or None
        Which: ``"SIGINT"`` (Ctrl-C), ``"SIGTERM"`` or ``"SIGHUP"``.
    method : str
        ``"batch"``, ``"online"`` or ``"online-then-batch"`` (see :func:`bnem.fit`).
        For ``"online"`` the history has one row per batch (``pass``, ``batch``,
        ``rows``, the batch's ``log_likelihood`` at the parameters before its update,
        ``log_likelihood_per_row``, ``step_size``, ``seconds``), ``n_iter`` counts
        batches, ``converged`` is False (online EM has no stopping rule), and
        ``log_likelihood`` sums the last pass's batch log-likelihoods, each at the
        parameters of its time (an estimate: :func:`bnem.log_likelihood` gives the
        exact value at the returned network). For ``"online-then-batch"`` the history
        holds both phases, told apart by a ``phase`` column, and the rest is the batch
        phase's.
    """

    network: Any
    history: pd.DataFrame
    log_likelihood: float
    n_iter: int
    converged: bool
    n_rows: int
    seconds: float
    empty_configurations: list = field(default_factory=list)
    restarts: pd.DataFrame = field(default_factory=pd.DataFrame)
    floored_variances: list = field(default_factory=list)
    n_estep: int = 0
    interrupted: bool = False
    stop_signal: str | None = None
    method: str = "batch"
    stopped: bool = False  # a callback, max_time or a signal ended it early
    statistics: Any = field(default=None, repr=False)  # of the last E-step (partial_fit)
    histories: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    best_restart: int = 0

    def summary(self) -> str:
        """One line: converged or not, iterations, log-likelihood, time."""
        reason = "Ctrl-C" if self.stop_signal in (None, "SIGINT") else self.stop_signal
        if self.method == "online":
            passes = int(self.history["pass"].max()) if len(self.history) else 0
            stop = f" (interrupted, {reason})" if self.interrupted else ""
            return (f"online EM{stop}: {self.n_iter} batches in {passes} pass(es); "
                    f"log-likelihood {self.log_likelihood:.6f} over the last pass, batch by "
                    f"batch before each update ({self.log_likelihood / self.n_rows:.6f} per "
                    f"row, {self.n_rows} rows); {self.seconds:.3f} s")
        status = "converged" if self.converged else \
            f"interrupted ({reason})" if self.interrupted else "did NOT converge"
        return (f"{status} after {self.n_iter} iterations; log-likelihood "
                f"{self.log_likelihood:.6f} ({self.log_likelihood / self.n_rows:.6f} per row, "
                f"{self.n_rows} rows); {self.seconds:.3f} s")

    def __repr__(self) -> str:
        return f"FitResult({self.summary()})"

    def standard_errors(self, data: Any, method: str = "hessian",
                        sample_weight: Any = None) -> pd.DataFrame:
        """Standard errors of the learned tables and Gaussian parameters from the
        observed information on ``data`` (the data of the fit): a DataFrame with
        ``node``, ``parents``, ``state``, ``estimate``, ``se``; see
        :mod:`bnem.em.information`. Variances the fit held at its floor
        (``floored_variances``) are on the boundary and get NaN."""
        from .information import standard_errors
        from .options import DEFAULT_MIN_VARIANCE
        floor = DEFAULT_MIN_VARIANCE
        for node, config in self.floored_variances:  # the fit's own floor
            cpd = self.network.cpd(node)
            at = tuple(self.network.states(p).index(config[p]) for p in cpd.discrete_parents)
            floor = max(floor, float(cpd.variance[at]))
        return standard_errors(self.network, data, method, sample_weight, floor)

    def plot(self, ax: Any = None, column: str = "log_likelihood",
             restarts: bool = True) -> Any:
        """The trace of ``column`` (default the log-likelihood) against the iteration, on
        ``ax`` or a new matplotlib Axes, which is returned. Needs matplotlib
        (``pip install bnem[plot]``).

        Every restart is drawn (``restarts=False``: the best only), the best one in a
        heavier line. Iteration 0, the start, is left out when later iterations exist:
        a random start lies so far below the optimum that it would flatten the climb.
        An online fit is drawn batch by batch.
        """
        frame = self.histories if restarts and len(self.histories) else self.history
        return plot_trace(frame, ax, column, best=self.best_restart)

    def _repr_html_(self) -> str:
        import html as _html
        tail = self.history.tail(5).to_html(index=False, float_format="{:.6g}".format)
        restarts = ""
        if len(self.restarts) > 1:
            restarts = "<p>restarts:</p>" + self.restarts.to_html(
                index=False, float_format="{:.6g}".format)
        return (f"<p><b>FitResult</b>: {_html.escape(self.summary())}</p>"
                f"<p>last rows of the history:</p>{tail}{restarts}")


def plot_trace(history: pd.DataFrame, ax: Any = None, column: str = "log_likelihood",
               best: int | None = None) -> Any:
    """``history[column]`` against ``history.iteration`` (see :meth:`FitResult.plot`);
    one line per restart when ``history`` has a ``restart`` column."""
    from ..errors import BnemValueError

    if column not in history.columns:
        raise BnemValueError(f"the history has no column {column!r}; columns are "
                             f"{list(history.columns)}")
    axes = new_axes(ax)
    online = "iteration" not in history.columns
    groups = list(history.groupby("restart", sort=True)) if "restart" in history.columns \
        else [(None, history)]
    for restart, rows in groups:
        if online:
            x = np.arange(1, len(rows) + 1)
        else:
            later = rows["iteration"] > 0
            if later.any():
                rows = rows[later]
            x = rows["iteration"].to_numpy()
        y = rows[column].to_numpy(dtype=float)
        is_best = restart is None or restart == best
        label = column.replace("_", " ") if restart is None else \
            f"restart {restart!s}" + (" (best)" if is_best else "")
        axes.plot(x, y, marker="." if is_best else None, linewidth=2.0 if is_best else 0.9,
                  alpha=1.0 if is_best else 0.55, label=label, zorder=3 if is_best else 2)
    axes.set_xlabel("batch" if online else "iteration")
    axes.set_ylabel(column.replace("_", " "))
    axes.ticklabel_format(axis="y", useOffset=False, style="plain")
    if len(groups) > 1:
        axes.legend(fontsize="small")
    return axes


def new_axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        from ..errors import BnemValueError
        raise BnemValueError("plotting needs matplotlib: pip install 'bnem[plot]'") from None
    return plt.figure(layout="constrained").add_subplot()  # labels kept inside
