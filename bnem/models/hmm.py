"""``bnem.HiddenMarkovModel``: hmmlearn's interface, missing observations allowed (models
layer).

The model is :func:`bnem.hidden_markov_network` learned by :func:`bnem.fit`, which is
Baum-Welch, in one of two ways (``inference=``): unrolled to the longest sequence
(transitions and emissions shared, ``sum_out_barren=True``; see
:mod:`bnem.models.sequences`), or as its two slices with forward-backward over the
hidden chain (:mod:`bnem.inference.chain`), whose time and memory grow linearly with
the steps whatever the sequences' lengths. ``score``, ``predict_proba`` and ``decode``
always run over the two slices. Both fit the same model by exact EM, but their
iterates differ: random starts are drawn over different parameter vectors; unrolled,
missing discrete cells are summed out (they add no expected counts), and the padding
slices of sequences shorter than the longest add expected statistics to Gaussian
emissions (slower EM, the same fixed points). So the two may reach different local
optima. Like hmmlearn, ``X`` holds every sequence's steps one after the other and
``lengths`` says how many rows each sequence has; unlike hmmlearn, NaN is allowed
anywhere in ``X``. Each column of ``X`` is an emission variable: categorical (a table
per hidden state), Gaussian (a mean and variance per hidden state, or a full covariance
over the columns), a mixture of Gaussians (hmmlearn's ``GMMHMM``) or Poisson (a rate per
hidden state: hmmlearn's ``PoissonHMM``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._validation import check_choice, check_int
from ..errors import BnemValueError, ImpossibleRowError
from ..network.bayesnet import BayesianNetwork
from ..network.forms import count_states
from ..data.variables import value_label
from ..network.from_data import column_states
from ..data.sequences import Sequences
from .estimator_fit import fit_for_estimator as em_fit
from ..inference.chain import smooth, viterbi_path
from .sequences import dynamic_network, hidden_markov_network, sequence_rows, slice_name
from .sklearn_mixture import seed_of

HIDDEN = "state"
LARGE_COUNT = 5_000  # default max_count above this: refused unless max_count is given
EMISSIONS = ("categorical", "gaussian", "poisson", "gmm")
MIXTURE = "mixture"  # the hidden mixture node of emission="gmm"
INFERENCE = ("auto", "unroll", "chain")
COVARIANCES = ("diag", "full")
LETTERS = {"categorical": "ste", "gaussian": "stmc", "poisson": "stl",  # hmmlearn's
           "gmm": "stmcw"}
CHAIN_FROM = 200  # inference="auto": sequences longer than this are not unrolled


class HiddenMarkovModel(BaseEstimator):
    """A hidden Markov model fitted by Baum-Welch (exact EM), NaN allowed in ``X``.

    Parameters
    ----------
    n_components : int
        Hidden states.
    emission : {"categorical", "gaussian", "poisson", "gmm"}
        Every column's emission: a table of symbol probabilities per state, a
        Gaussian per state, a Poisson count per state (columns independent given
        the state, but for ``covariance_type="full"``), or hmmlearn's ``GMMHMM``: a
        mixture of ``n_mix`` diagonal Gaussians per state (a hidden ``mixture`` node in
        the slice; ``weights_`` ``(n_components, n_mix)``, ``means_`` and ``covars_``
        ``(n_components, n_mix, n_features)``). Always fitted as two slices.
    n_mix : int, default 1
        Mixture components per state (``emission="gmm"``).
    min_variance : float, default 1e-6
        The floor of every Gaussian (conditional) variance, as :func:`bnem.fit`'s: a
        component that collapses onto a point is held there (and warned of). Raise it
        (hmmlearn's ``min_covar`` is 1e-3) to keep components from collapsing.
    variance_prior, variance_scale : float, default 0
        Gaussian emissions: a scaled inverse-chi-squared prior on every (conditional)
        variance, ``variance_prior`` pseudo-observations of variance
        ``variance_scale`` (MAP-EM, as :func:`bnem.fit`'s; 0: maximum likelihood).
        hmmlearn's ``covars_prior`` and ``covars_weight`` play this part there.
    n_features : int, optional
        ``emission="categorical"`` with integer-coded symbols: the number of possible
        symbols, ``0 .. n_features - 1``, as hmmlearn's ``CategoricalHMM``; symbols the
        data never show get a column of ``emissionprob_`` too (default: ``0 .. max``
        seen). A code at or above it is an error.
    covariance_type : {"diag", "full"}, default "diag"
        Gaussian emissions: independent columns given the state, or a full covariance
        per state (in the network, each column regressed on the earlier ones within
        the slice, a conditional linear Gaussian chain that is the same model).
    init_params, params : str, optional
        hmmlearn's letters: ``s`` start probabilities, ``t`` transitions, ``e``
        emission probabilities (categorical), ``m`` and ``c`` means and covariances
        (Gaussian; learned together: give both or neither), ``l`` rates (Poisson),
        ``w`` mixture weights (GMM).
        Default: all of them. ``init_params`` are drawn at random by ``fit``; the others
        are taken from the attributes (``startprob_``, ``transmat_``,
        ``emissionprob_``, ``means_``, ``covars_``, ``lambdas_``) set before ``fit``.
        ``params`` are learned; the others are held at their starting values (their
        nodes fixed, :meth:`bnem.BayesianNetwork.fix`). When either leaves a letter
        out, ``fit`` runs one start (``n_init`` is not used).
    max_count : int, optional
        ``emission="poisson"``: the largest count the model can score (its count
        nodes' states, :func:`bnem.count_states`); default twice the largest count of
        the first fit, at least 20 more. A larger count later is an error.
    n_init, tol, max_iter, random_state
        As for :func:`bnem.fit` (``tol`` per sequence; random starts, SQUAREM).
    length : int, optional
        Slices to unroll to (default: the longest sequence of the first ``fit`` or
        ``partial_fit`` batch). ``partial_fit`` keeps it: set it to the longest sequence
        the stream may bring.
    inference : {"auto", "unroll", "chain"}, default "auto"
        How ``fit`` and the fitted model evaluate sequences. ``"unroll"``: the network
        unrolled to the longest sequence (what ``partial_fit`` continues from).
        ``"chain"``: the two slices and forward-backward over the hidden chain, in time
        and memory linear in the steps (one sequence of 100,000 steps is a fraction of a
        second per iteration); ``network_`` is then the two-slice network and
        ``partial_fit`` is not available. ``"auto"``: ``"chain"`` when ``length`` is not
        given and the longest training sequence has more than 200 steps, or the
        emissions are Gaussian and the sequences of different lengths, or every
        sequence has one step; else ``"unroll"``. Both are exact EM for the same model,
        but from different random starts and by different iterates (see the module
        notes), so a fit may differ between the two; set ``inference`` to keep one.
        ``"chain"`` ignores ``length``.
    step, fading
        Online EM's step schedule and fading factor for :meth:`partial_fit` (see
        :class:`bnem.OnlineEM`).

    Attributes
    ----------
    startprob_ : ndarray (n_components,)
    transmat_ : ndarray (n_components, n_components)
    emissionprob_ : dict column -> DataFrame (states x symbols)  (categorical; integer
        codes give symbols ``"0"`` .. ``"max"`` in code order, as hmmlearn's)
    means_, covars_ : ndarray  (gaussian: ``(n_components, n_features)`` means and
        variances, or with ``covariance_type="full"`` covariances ``(n_components,
        n_features, n_features)``; gmm: ``(n_components, n_mix, n_features)`` each)
    weights_ : ndarray (n_components, n_mix)  (gmm: the mixture weights)
    lambdas_ : ndarray (n_components, n_features)  (poisson: the rates)
    network_ : BayesianNetwork (unrolled to the longest training sequence, or its two
        slices with ``inference='chain'``)
    log_likelihood_, converged_, n_iter_

    Examples
    --------
    >>> X = np.array([["a"], ["a"], ["b"], [None], ["b"], ["a"], ["b"], ["b"]], dtype=object)
    >>> hmm = HiddenMarkovModel(2, random_state=0).fit(X, lengths=[4, 4])
    >>> hmm.transmat_.shape, hmm.predict(X, lengths=[4, 4]).shape
    ((2, 2), (8,))
    """

    def __init__(self, n_components: int = 2, *, emission: str = "categorical",
                 n_init: int = 3, tol: float = 1e-6, max_iter: int = 500,
                 random_state: Any = None, length: int | None = None,
                 max_count: int | None = None,
                 step: Any = (0.7, 2.0), fading: float | None = None,
                 inference: str = "auto", covariance_type: str = "diag",
                 params: str | None = None, init_params: str | None = None,
                 n_mix: int = 1, min_variance: float = 1e-6,
                 variance_prior: float = 0.0, variance_scale: float = 0.0,
                 n_features: int | None = None) -> None:
        self.n_components = n_components
        self.emission = emission
        self.max_count = max_count
        self.n_init = n_init
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.length = length
        self.step = step
        self.fading = fading
        self.inference = inference
        self.covariance_type = covariance_type
        self.params = params
        self.init_params = init_params
        self.n_mix = n_mix
        self.min_variance = min_variance
        self.variance_prior = variance_prior
        self.variance_scale = variance_scale
        self.n_features = n_features

    def fit(self, X: Any, lengths: Any = None) -> "HiddenMarkovModel":
        """Fit by Baum-Welch; ``lengths`` as hmmlearn's (default: one sequence). A fit
        that fails leaves the model as it was."""
        return self._restoring(self._fit, X, lengths)

    def _restoring(self, step: Any, *args: Any) -> "HiddenMarkovModel":
        """``step(*args)``; if it raises, the estimator's state as before the call."""
        saved = dict(self.__dict__)
        try:
            return step(*args)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _check_options(self) -> int:
        """The options' values checked; returns ``n_components``."""
        k = check_int(self.n_components, "n_components", minimum=1)
        check_choice(self.emission, "emission", EMISSIONS)
        check_choice(self.inference, "inference", INFERENCE)
        check_choice(self.covariance_type, "covariance_type", COVARIANCES)
        if self.covariance_type != "diag" and self.emission != "gaussian":
            raise BnemValueError(f"covariance_type={self.covariance_type!r} is for "
                                 f"emission='gaussian'; emission={self.emission!r} takes "
                                 "covariance_type='diag'")
        self._letters("init_params")
        self._letters("params")
        prior = self.variance_prior
        if isinstance(prior, (int, float)) and prior > 0:
            if self.emission not in ("gaussian", "gmm"):
                raise BnemValueError(f"variance_prior is a prior on Gaussian variances; "
                                     f"emission={self.emission!r} has none (leave it 0)")
            if self.covariance_type == "full":
                raise BnemValueError(
                    "variance_prior with covariance_type='full' would act on the "
                    "conditional variances of the columns regressed on the earlier ones, "
                    "so its effect would depend on the columns' order; use "
                    "covariance_type='diag', or min_variance")
        if self.n_features is not None and self.emission != "categorical":
            raise BnemValueError(f"n_features={self.n_features!r} counts the symbols of "
                                 f"emission='categorical'; emission={self.emission!r} takes "
                                 "its features from X's columns (leave n_features out)")
        return k

    def _fit(self, X: Any, lengths: Any) -> "HiddenMarkovModel":
        k = self._check_options()
        drawn, learned = self._letters("init_params"), self._letters("params")
        frame = self._frame(X, fitting=True)
        sizes = self._lengths(frame, lengths)
        self._observed = self._observed_states(frame)
        # Poisson rates start from the data (random responsibilities, then an M-step)
        init = "random-resp" if self.emission == "poisson" else None
        options = dict(seed=seed_of(self.random_state), n_init=self.n_init, tol=self.tol,
                       max_iter=self.max_iter, init=init, min_variance=self.min_variance,
                       variance_prior=self.variance_prior, variance_scale=self.variance_scale)
        self._chained = self._chain_for(sizes)
        wide = None if self._chained else sequence_rows(frame, lengths=sizes)
        net = self._network(k, 2 if wide is None else max(2, self._unrolled(wide)))
        everything = set(LETTERS[self.emission])
        if set(drawn) != everything or set(learned) != everything:  # a start of our own
            rng = np.random.default_rng(seed_of(self.random_state))
            net = self._with_parameters(net, *self._start(k, frame, drawn, rng))
            options.update(init="network", n_init=1, fixed=self._held_nodes(net, learned))
        if wide is None:
            res = em_fit(net, Sequences(frame, lengths=sizes), **options)
        else:
            res = em_fit(net, self._padded(wide, net), sum_out_barren=True, **options)
        self.__dict__.pop("online_", None)
        self.network_ = self._released(res.network)
        self.result_ = res
        self.log_likelihood_ = res.log_likelihood
        self.converged_, self.n_iter_ = res.converged, res.n_iter
        self._set_parameters()
        return self

    def _chain_for(self, sizes: np.ndarray) -> bool:
        """Whether ``fit`` runs over two slices: ``inference="chain"``; or ``"auto"``
        without ``length`` and with a sequence longer than 200 steps, or Gaussian
        emissions and sequences of different lengths (unrolled, the padding slices
        would add expected statistics: slower EM), or every sequence of one step. (An
        unrolled network has at least two slices, so that it has a transition.)"""
        if self.inference == "chain":
            return True
        if self.inference == "unroll" or self.length is not None:
            return False
        if int(sizes.max()) < 2:
            return True
        return int(sizes.max()) > CHAIN_FROM or (
            self.emission in ("gaussian", "gmm") and int(sizes.min()) != int(sizes.max()))

    def _released(self, net: BayesianNetwork) -> BayesianNetwork:
        """A fitted network with the same parameters but no node held (``params``
        holds nodes during ``fit`` only: ``network_`` is the model, free to refit)."""
        if not net.fixed_nodes:
            return net
        start, trans = np.asarray(net.cpd(slice_name(HIDDEN, 0)).values), \
            np.asarray(net.cpd(slice_name(HIDDEN, 1)).values)
        length = sum(1 for n in net.nodes if n.startswith(f"{HIDDEN}["))
        k = start.size
        return self._with_parameters(self._network(k, length), start, trans,
                                     self._emissions_of(net))

    def partial_fit(self, X: Any, lengths: Any = None) -> "HiddenMarkovModel":
        """One step of online EM on the sequences of ``X`` (see :class:`bnem.OnlineEM`):
        their E-step at the current parameters, the running statistics moved towards it,
        an M-step. The first call builds the model (states of categorical emissions from
        this batch; the unrolled length from ``length`` or this batch) and starts from a
        random point; after :meth:`fit`, it goes on from the fitted parameters. Later
        batches' sequences may not be longer than the model's length. A call that
        fails leaves the model as it was."""
        return self._restoring(self._partial_fit, X, lengths)

    def _partial_fit(self, X: Any, lengths: Any) -> "HiddenMarkovModel":
        from .estimator_fit import online_update

        first = not hasattr(self, "network_")
        if getattr(self, "_chained", False) and not first:
            raise BnemValueError("partial_fit continues an unrolled model, and this one was "
                                 "fitted as two slices (inference='chain'); fit with "
                                 "inference='unroll' (and length= the longest sequence) to "
                                 "continue it online")
        held: list = []
        if first:
            k = self._check_options()
        frame = self._frame(X, fitting=first)
        wide = sequence_rows(frame, lengths=self._lengths(frame, lengths))
        if first:
            self._observed = self._observed_states(frame)
            self._chained = False
            start = self._network(k, max(2, self._unrolled(wide)))
            init = "random"
            drawn, learned = self._letters("init_params"), self._letters("params")
            everything = set(LETTERS[self.emission])
            if set(drawn) != everything or set(learned) != everything:  # as in fit
                rng = np.random.default_rng(seed_of(self.random_state))
                start = self._with_parameters(start, *self._start(k, frame, drawn, rng))
                init, held = "network", self._held_nodes(start, learned)
        else:
            start, init = self.network_, "network"
            held = self._held_nodes(start, self._letters("params"))
        net = getattr(self, "online_", None)
        template = start if net is None else net._template
        report = online_update(self, self._padded(wide, template), None, start, init,
                               seed=seed_of(self.random_state), sum_out_barren=True,
                               fixed=held, min_variance=self.min_variance,
                               variance_prior=self.variance_prior,
                               variance_scale=self.variance_scale)
        self.network_ = self._released(self.online_.network)
        self.log_likelihood_ = report.log_likelihood
        self.converged_, self.n_iter_ = False, self.online_.n_batches
        self._set_parameters()
        return self

    def _observed_states(self, frame: pd.DataFrame) -> dict:
        """Each column's states: its symbols (integer codes ``0..max``, as hmmlearn's, or
        the labels seen, sorted), ``"continuous"``, or counts 0..max_count."""
        if HIDDEN in frame.columns:
            raise BnemValueError(f"X has a column named {HIDDEN!r}, the name of the hidden "
                                 "chain; rename it")
        if self.emission == "categorical":
            states = {c: _codes_or_labels(frame[c], c) for c in frame.columns}
            self._coded = {c for c in frame.columns if _is_codes(frame[c])}
            if self.n_features is not None:
                states = self._all_symbols(frame, states)
                if "e" not in self._letters("init_params"):
                    self._check_width(states)
                return states
            if "e" not in self._letters("init_params"):
                states = {c: self._symbols_given(c, v, {value_label(x) for x in
                                                        pd.unique(frame[c].dropna())})
                          for c, v in states.items()}
            return states
        if self.emission in ("gaussian", "gmm"):
            if self.emission == "gmm" and MIXTURE in frame.columns:
                raise BnemValueError(f"X has a column named {MIXTURE!r}, the name of the "
                                     "mixture node of emission='gmm'; rename it")
            return {c: "continuous" for c in frame.columns}
        seen = int(np.nanmax(frame.to_numpy(dtype=float), initial=0.0))
        m = max(2 * seen, seen + 20) if self.max_count is None else \
            check_int(self.max_count, "max_count", minimum=1)
        if self.max_count is None and m > LARGE_COUNT:
            raise BnemValueError(
                f"X holds counts up to {seen}: a Poisson emission keeps a table of "
                f"max_count + 2 = {m + 2} states per hidden state and inference ranges over "
                "them where a count is missing, which is slow and large at this scale. Set "
                "max_count= to accept that cost, or model the counts as Gaussian "
                "(emission='gaussian', e.g. of their square roots)")
        if seen > m:
            raise BnemValueError(f"X holds the count {seen}, more than max_count={m}")
        return {c: count_states(m) for c in frame.columns}

    def _full(self) -> bool:
        return self.emission == "gaussian" and getattr(self, "covariance_type", "diag") == "full"

    def _network(self, k: int, length: int) -> BayesianNetwork:
        """The HMM unrolled to ``length`` slices, Poisson emissions declared."""
        if self._full():  # each column regressed on the earlier ones: a full covariance
            cols = list(self._observed)
            within = [(HIDDEN, c) for c in cols] + \
                [(a, b) for i, a in enumerate(cols) for b in cols[i + 1:]]
            return dynamic_network({HIDDEN: [str(i) for i in range(k)],
                                    **{c: "continuous" for c in cols}}, within,
                                   [(HIDDEN, HIDDEN)], length=length, name=f"hmm-{length}")
        if self.emission == "gmm":
            cols = list(self._observed)
            m = check_int(self.n_mix, "n_mix", minimum=1)
            return dynamic_network({HIDDEN: [str(i) for i in range(k)],
                                    MIXTURE: [str(i) for i in range(m)],
                                    **{c: "continuous" for c in cols}},
                                   [(HIDDEN, MIXTURE)] + [(p, c) for c in cols
                                                          for p in (HIDDEN, MIXTURE)],
                                   [(HIDDEN, HIDDEN)], length=length, name=f"hmm-{length}")
        net = hidden_markov_network(k, self._observed, length=length, hidden=HIDDEN)
        if self.emission == "poisson":
            for c in self._observed:
                net = net.poisson(slice_name(c, 0))
        return net

    def _unrolled(self, wide: pd.DataFrame) -> int:
        """The length to unroll to: ``length`` if set, else the longest sequence."""
        longest = self._length_of(wide)
        if self.length is None:
            return longest
        length = check_int(self.length, "length", minimum=1)
        if longest > length:
            raise BnemValueError(f"a sequence has {longest} steps, more than length={length}")
        return length

    def _padded(self, wide: pd.DataFrame, network: BayesianNetwork) -> pd.DataFrame:
        """``wide`` with the missing slices of the network added (all missing)."""
        columns = [n for n in network.nodes if not n.startswith(f"{HIDDEN}[")]
        extra = [c for c in wide.columns if c not in columns]
        if extra:
            raise BnemValueError(f"a sequence is longer than the model's {len(columns) // len(self._observed)} "
                                 "steps; set length= to the longest sequence the data may hold")
        return wide.reindex(columns=columns)

    def _set_parameters(self) -> None:
        net = self.network_
        self.startprob_ = np.asarray(net.cpd(slice_name(HIDDEN, 0)).values, dtype=float)
        k = self.startprob_.size
        self.transmat_ = np.asarray(net.cpd(slice_name(HIDDEN, 1)).values, dtype=float) \
            if slice_name(HIDDEN, 1) in net.nodes else np.eye(k)
        first = {c: net.cpd(slice_name(c, 0)) for c in self._observed}
        if self.emission == "categorical":
            self.emissionprob_ = {c: pd.DataFrame(cpd.values, columns=list(self._observed[c]),
                                                  index=pd.Index(range(k), name=HIDDEN))
                                  for c, cpd in first.items()}
        elif self.emission == "poisson":
            self.lambdas_ = np.column_stack([net.rates_of(slice_name(c, 0))
                                             for c in self._observed])
        elif self.emission == "gmm":
            self.weights_ = np.asarray(net.cpd(slice_name(MIXTURE, 0)).values, dtype=float)
            self.means_ = np.stack([np.asarray(cpd.intercept, dtype=float)
                                    for cpd in first.values()], axis=-1)
            self.covars_ = np.stack([np.asarray(cpd.variance, dtype=float)
                                     for cpd in first.values()], axis=-1)
        elif self._full():
            self.means_, self.covars_ = _moments_of(net, list(self._observed), k)
        else:
            self.means_ = np.column_stack([np.ravel(cpd.intercept) for cpd in first.values()])
            self.covars_ = np.column_stack([np.ravel(cpd.variance) for cpd in first.values()])

    # -- using the fitted model ---------------------------------------------------------
    def _network_for(self, length: int) -> BayesianNetwork:
        """The fitted model unrolled to ``length`` slices."""
        if length == self._length_of_network():
            return self.network_
        net = self.network_
        start = np.asarray(net.cpd(slice_name(HIDDEN, 0)).values, dtype=float)
        trans = np.asarray(net.cpd(slice_name(HIDDEN, 1)).values, dtype=float)
        return self._with_parameters(self._network(start.size, length), start, trans,
                                     self._emissions_of(net))

    def _emissions_of(self, net: BayesianNetwork) -> dict:
        """Each slice variable's CPD in ``net`` (rates for Poisson nodes)."""
        emissions: dict = {}
        for c in self._observed:
            node = slice_name(c, 0)
            cpd = net.cpd(node)
            emissions[c] = cpd.values if self.emission == "categorical" else \
                net.rates_of(node) if self.emission == "poisson" else \
                {"intercept": cpd.intercept, "weights": cpd.weights, "variance": cpd.variance}
        if self.emission == "gmm":
            emissions[MIXTURE] = net.cpd(slice_name(MIXTURE, 0)).values
        return emissions

    # -- starting values: hmmlearn's init_params and params ---------------------------
    def _letters(self, name: str) -> str:
        value = getattr(self, name)
        allowed = LETTERS[self.emission]
        if value is None:
            return allowed
        if not isinstance(value, str) or set(value) - set(allowed):
            raise BnemValueError(f"{name} must be letters among {allowed!r} for "
                                 f"emission={self.emission!r}, got {value!r}")
        if self.emission in ("gaussian", "gmm") and name == "params" and \
                ("m" in value) != ("c" in value):
            raise BnemValueError(f"params={value!r}: bnem learns a Gaussian emission's means "
                                 "and covariances together (one CPD); give both 'm' and 'c' "
                                 "or neither")
        return value

    def _check_width(self, states: dict) -> None:
        """``emissionprob_`` given with ``n_features``: one column per symbol."""
        given = getattr(self, "emissionprob_", None)
        for c, symbols in states.items():
            table = given.get(c) if isinstance(given, dict) else given
            if isinstance(table, pd.DataFrame):
                labels = [value_label(v) for v in table.columns]
                if labels != symbols:
                    raise BnemValueError(f"emissionprob_[{c!r}] has columns {labels[:8]}; "
                                         f"with n_features={self.n_features} they must be "
                                         f"the symbols {symbols[:8]}")
            elif table is not None and np.shape(table)[-1] != len(symbols):
                raise BnemValueError(f"emissionprob_ has {np.shape(table)[-1]} columns; with "
                                     f"n_features={self.n_features} it must have "
                                     f"{len(symbols)}, one per symbol")

    def _all_symbols(self, frame: pd.DataFrame, states: dict) -> dict:
        """``n_features`` symbols ``0 .. n_features - 1`` for every (integer-coded)
        column."""
        n = check_int(self.n_features, "n_features", minimum=1)
        out = {}
        for c, seen in states.items():
            if c not in self._coded:
                raise BnemValueError(f"n_features={n} gives the symbols as integer codes "
                                     f"0 .. {n - 1}, but X's column {c!r} holds labels "
                                     f"({seen[:3]}...); leave n_features out for labels")
            top = int(pd.to_numeric(frame[c].dropna()).max()) if frame[c].notna().any() else -1
            if top >= n:
                raise BnemValueError(f"X's column {c!r} holds symbol {top}, at or above "
                                     f"n_features={n} (symbols are 0 .. {n - 1})")
            out[c] = [str(i) for i in range(n)]
        return out

    def _symbols_given(self, column: str, seen: list, observed: set) -> list:
        """A column's symbols when ``emissionprob_`` is given (init_params without
        ``e``): a labelled table's labels, or for integer codes ``0..n-1`` with ``n``
        its number of columns (as hmmlearn's ``n_features``), else those seen."""
        given = getattr(self, "emissionprob_", None)
        if isinstance(given, dict):
            given = given.get(column)
        if isinstance(given, pd.DataFrame):
            labels = [value_label(v) for v in given.columns]
            extra = sorted(observed - set(labels))
            if extra:
                raise BnemValueError(f"X's column {column!r} holds symbol(s) {extra[:5]} that "
                                     f"emissionprob_[{column!r}] has no column for")
            return labels
        width = np.shape(given)[-1] if given is not None and np.ndim(given) == 2 else None
        if column in self._coded and width is not None and width >= len(seen):
            return [str(i) for i in range(width)]
        return seen

    def _given(self, name: str, letter: str, shape: tuple, value: Any = None,
               probabilities: bool = False) -> np.ndarray:
        """Attribute ``name`` set before ``fit`` (init_params leaves ``letter`` out), or
        ``value`` (a part of it)."""
        if value is None and not hasattr(self, name):
            raise BnemValueError(f"init_params={self.init_params!r} leaves out {letter!r}: "
                                 f"set {name} before fit, or add {letter!r} to init_params")
        if value is None:
            value = getattr(self, name)
        if isinstance(value, pd.DataFrame):
            value = value.to_numpy()
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise BnemValueError(f"{name} must be numbers of shape {shape}") from None
        if array.shape != shape or not np.isfinite(array).all():
            raise BnemValueError(f"{name} must be finite numbers of shape {shape}, got shape "
                                 f"{array.shape}")
        if probabilities and ((array < 0).any() or
                              not np.allclose(array.sum(axis=-1), 1.0, rtol=0, atol=1e-8)):
            raise BnemValueError(f"{name} must hold probabilities >= 0 summing to 1 along "
                                 f"its last axis; got sums {np.round(array.sum(axis=-1), 6)}")
        return array

    def _start(self, k: int, frame: pd.DataFrame, drawn: str,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
        """Start probabilities, transitions and each column's emission CPD: the letters
        of ``drawn`` at random (tables from a flat Dirichlet; means, rates from observed
        values; variances the columns'), the others from the attributes."""
        start = rng.dirichlet(np.ones(k)) if "s" in drawn else \
            self._given("startprob_", "s", (k,), probabilities=True)
        trans = rng.dirichlet(np.ones(k), size=k) if "t" in drawn else \
            self._given("transmat_", "t", (k, k), probabilities=True)
        cols = list(self._observed)
        emissions: dict = {}
        if self.emission == "categorical":
            for c in cols:
                n = len(self._observed[c])
                if "e" in drawn:
                    emissions[c] = rng.dirichlet(np.ones(n), size=k)
                else:
                    given = getattr(self, "emissionprob_", None)
                    if isinstance(given, dict) and c in given:
                        given = given[c]
                    elif isinstance(given, dict) or given is None or len(cols) > 1:
                        raise BnemValueError(f"init_params={self.init_params!r} leaves out 'e': "
                                             "set emissionprob_ before fit (a dict of column -> "
                                             "(n_components, symbols) table)")
                    if isinstance(given, pd.DataFrame):  # labelled: aligned by its labels
                        labels = [value_label(v) for v in given.columns]
                        lost = [st for st in self._observed[c] if st not in labels]
                        if lost:
                            raise BnemValueError(f"emissionprob_[{c!r}] has no column for the "
                                                 f"symbol(s) {lost[:5]} of X")
                        given = given.to_numpy()[:, [labels.index(st)
                                                     for st in self._observed[c]]]
                    emissions[c] = self._given(f"emissionprob_[{c!r}]", "e", (k, n), given,
                                               probabilities=True)
            return start, trans, emissions
        values = frame[cols].to_numpy(dtype=float)
        observed = [v[np.isfinite(v)] for v in values.T]
        if any(v.size == 0 for v in observed):
            raise BnemValueError("a column of X has no observed value to start from")
        if self.emission == "poisson":
            rates = np.column_stack([rng.choice(v, k) + 0.5 for v in observed]) \
                if "l" in drawn else self._given("lambdas_", "l", (k, len(cols)))
            return start, trans, {c: rates[:, j] for j, c in enumerate(cols)}
        if self.emission == "gmm":
            m = check_int(self.n_mix, "n_mix", minimum=1)
            d = len(cols)
            weights = rng.dirichlet(np.ones(m), size=k) if "w" in drawn else \
                self._given("weights_", "w", (k, m), probabilities=True)
            means = np.stack([rng.choice(v, (k, m)) for v in observed], axis=-1) \
                if "m" in drawn else self._given("means_", "m", (k, m, d))
            variances = np.broadcast_to(_spread(observed), (k, m, d)) if "c" in drawn else \
                self._given("covars_", "c", (k, m, d))
            if not (variances > 0).all():
                raise BnemValueError("covars_ must hold positive variances")
            out = {c: {"intercept": means[..., j], "weights": np.zeros((k, m, 0)),
                       "variance": variances[..., j]} for j, c in enumerate(cols)}
            return start, trans, {**out, MIXTURE: weights}
        means = np.column_stack([rng.choice(v, k) for v in observed]) if "m" in drawn else \
            self._given("means_", "m", (k, len(cols)))
        spread = _spread(observed)
        if self._full():
            covars = np.broadcast_to(np.diag(spread), (k, len(cols), len(cols))) \
                if "c" in drawn else self._given("covars_", "c", (k, len(cols), len(cols)))
            return start, trans, _regressions(means, covars, cols)
        covars = np.broadcast_to(spread, (k, len(cols))) if "c" in drawn else \
            self._given("covars_", "c", (k, len(cols)))
        return start, trans, {c: {"intercept": means[:, j], "weights": np.zeros((k, 0)),
                                  "variance": covars[:, j]} for j, c in enumerate(cols)}

    def _with_parameters(self, net: BayesianNetwork, start: np.ndarray, trans: np.ndarray,
                         emissions: dict) -> BayesianNetwork:
        """``net`` (any length) with these parameters in every slice."""
        cpds: dict[str, Any] = {}
        rates = {}
        for node in net.nodes:
            name, t = node.rsplit("[", 1)
            if name == HIDDEN:
                cpds[node] = start if t == "0]" else trans
            elif self.emission == "poisson":
                rates[name] = emissions[name]
            else:
                cpds[node] = emissions[name]
        net = net.with_cpds(cpds)
        for name, r in rates.items():  # the Poisson table of these rates, in every slice
            net = net.poisson(slice_name(name, 0), rates=np.asarray(r, dtype=float))
            table = net.cpd(slice_name(name, 0)).values
            net = net.with_cpds({n: table for n in net.nodes
                                 if n.rsplit("[", 1)[0] == name and n != slice_name(name, 0)})
        return net

    def _held_nodes(self, net: BayesianNetwork, learned: str) -> list:
        """The nodes ``params`` leaves out (shared ones by their first slice)."""
        held = []
        if "s" not in learned:
            held.append(slice_name(HIDDEN, 0))
        if "t" not in learned and slice_name(HIDDEN, 1) in net.nodes:
            held.append(slice_name(HIDDEN, 1))
        if not set(learned) & set("emcl"):
            held += [slice_name(c, 0) for c in self._observed]
        if self.emission == "gmm" and "w" not in learned:
            held.append(slice_name(MIXTURE, 0))
        return held

    def _sequences(self, X: Any, lengths: Any) -> tuple[Sequences, BayesianNetwork]:
        """``X`` as :class:`Sequences`, and the fitted model as its two slices: queries
        run forward-backward over the chain whichever way the model was fitted."""
        check_is_fitted(self, "network_")
        frame = self._frame(X)
        two = self.network_ if getattr(self, "_chained", False) else self._network_for(2)
        return Sequences(frame, lengths=self._lengths(frame, lengths)), two

    def score(self, X: Any, lengths: Any = None) -> float:
        """Log-likelihood of ``X`` (every sequence, summed), as hmmlearn's ``score``."""
        seqs, two = self._sequences(X, lengths)
        return float(np.sum(smooth(two, seqs).log_likelihood))

    def score_samples(self, X: Any, lengths: Any = None) -> tuple[float, np.ndarray]:
        """``(log-likelihood of X, P(state at each step | its sequence))``, as hmmlearn's
        ``score_samples``."""
        seqs, two = self._sequences(X, lengths)
        smoothed = smooth(two, seqs)
        _check_possible(smoothed.log_likelihood, seqs)
        return float(np.sum(smoothed.log_likelihood)), smoothed.posterior

    def predict_proba(self, X: Any, lengths: Any = None, filtered: bool = False) -> np.ndarray:
        """``(n_steps, n_components)``: P(state at each step | its whole sequence), or
        with ``filtered`` P(state at each step | its sequence up to that step)."""
        seqs, two = self._sequences(X, lengths)
        smoothed = smooth(two, seqs, filtered=filtered)
        _check_possible(smoothed.log_likelihood, seqs)
        return smoothed.posterior

    def decode(self, X: Any, lengths: Any = None) -> tuple[float, np.ndarray]:
        """The most probable state path (Viterbi): ``(log probability, states)``, as
        hmmlearn's ``decode``; missing cells are summed out."""
        seqs, two = self._sequences(X, lengths)
        states, best = viterbi_path(two, seqs)
        _check_possible(best, seqs)
        return float(np.sum(best)), states

    def sample(self, n_samples: int = 1, random_state: Any = None) -> tuple[np.ndarray,
                                                                              np.ndarray]:
        """Draw one sequence of ``n_samples`` steps from the fitted model (``network_``),
        as hmmlearn's ``sample``: ``(X, states)``, ``X`` of shape ``(n_samples,
        n_features)`` (categorical: the symbols, integer codes as ints; Poisson: counts,
        drawn without the model's ``max_count`` cap) and the hidden states."""
        check_is_fitted(self, "network_")
        n = check_int(n_samples, "n_samples", minimum=1)
        rng = np.random.default_rng(seed_of(random_state if random_state is not None
                                            else self.random_state))
        two = self.network_ if getattr(self, "_chained", False) else self._network_for(2)
        start = np.asarray(two.cpd(slice_name(HIDDEN, 0)).values, dtype=float)
        k = start.size
        u = rng.random(n)
        cum_start = np.cumsum(start)
        cum_trans = np.cumsum(np.asarray(two.cpd(slice_name(HIDDEN, 1)).values, dtype=float),
                              axis=1)
        states = np.empty(n, dtype=np.int64)
        state = min(int(np.searchsorted(cum_start, u[0], side="right")), k - 1)
        states[0] = state
        for t in range(1, n):  # (a chain: each step's state needs the previous one)
            state = min(int(np.searchsorted(cum_trans[state], u[t], side="right")), k - 1)
            states[t] = state
        cols = list(self._observed)
        if self.emission == "poisson":
            rates = np.column_stack([two.rates_of(slice_name(c, 1)) for c in cols])
            return rng.poisson(rates[states]).astype(float), states
        out = np.empty((n, len(cols)), dtype=object if self.emission == "categorical"
                       else float)
        for j in range(k):
            at = np.flatnonzero(states == j)
            if at.size:
                rows = _slice_given(two, j).sample(int(at.size), seed=rng)
                out[at] = rows[[slice_name(c, 1) for c in cols]].to_numpy()
        if self.emission == "categorical":
            coded: set = getattr(self, "_coded", set())
            for c, column in zip(cols, out.T):
                if c in coded:
                    column[:] = column.astype(np.int64)
            if all(c in coded for c in cols):
                out = out.astype(np.int64)
        return out, states

    def predict(self, X: Any, lengths: Any = None) -> np.ndarray:
        """The states of the most probable path, one per row of ``X``."""
        return self.decode(X, lengths)[1]

    # -- input ---------------------------------------------------------------------------
    def _frame(self, X: Any, fitting: bool = False) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            frame = X.reset_index(drop=True).copy()
            frame.columns = [str(c) for c in X.columns]
        else:
            values = np.asarray(X, dtype=object)
            if values.ndim == 1:
                values = values[:, None]
            if values.ndim != 2 or values.shape[0] == 0:
                raise BnemValueError(f"X must be (n_steps, n_features) with at least one row, "
                                     f"got shape {values.shape}")
            frame = pd.DataFrame(values, columns=[f"x{j}" for j in range(values.shape[1])])
            frame = frame.infer_objects()
        if fitting:
            self.n_features_in_ = frame.shape[1]
            self.feature_names_in_ = np.array(list(frame.columns), dtype=object)
        elif list(frame.columns) != list(self.feature_names_in_):
            raise BnemValueError(f"X has columns {list(frame.columns)}, but the model was "
                                 f"fitted on {list(self.feature_names_in_)}")
        if self.emission in ("gaussian", "poisson", "gmm"):
            try:
                frame = frame.apply(pd.to_numeric)
            except (TypeError, ValueError) as exc:
                raise BnemValueError(f"emission={self.emission!r} needs numbers in X: "
                                     f"{exc}") from None
        if self.emission == "poisson":
            values = frame.to_numpy(dtype=float)
            bad = ~np.isnan(values) & ((values < 0) | ~np.isfinite(values)
                                       | (values != np.round(values)))
            if bad.any():
                row, col = (int(i) for i in np.argwhere(bad)[0])
                raise BnemValueError(f"emission='poisson' needs counts (whole numbers >= 0) "
                                     f"in X; row {row}, column {frame.columns[col]!r} holds "
                                     f"{float(values[row, col])!r}")
            if not fitting and hasattr(self, "_observed"):
                m = len(next(iter(self._observed.values()))) - 2
                if np.nanmax(values, initial=0.0) > m:
                    raise BnemValueError(f"X holds the count {int(np.nanmax(values))}, more "
                                         f"than the model's max_count={m}; refit with a "
                                         "larger max_count")
        if self.emission == "categorical" and not fitting and hasattr(self, "_observed"):
            for c in frame.columns:  # a symbol the model has no state for, named here
                known = set(self._observed.get(c, ()))
                seen = {value_label(v) for v in pd.unique(frame[c].dropna())}
                if seen - known:
                    raise BnemValueError(f"X's column {c!r} holds symbol(s) "
                                         f"{sorted(seen - known)[:5]} the model has no "
                                         f"emission probability for (its symbols: "
                                         f"{sorted(known)[:10]})")
        return frame

    @staticmethod
    def _lengths(frame: pd.DataFrame, lengths: Any) -> np.ndarray:
        if lengths is None:
            return np.array([len(frame)])
        sizes = np.asarray(lengths)
        if sizes.ndim != 1 or not np.issubdtype(sizes.dtype, np.integer):
            raise BnemValueError(f"lengths must be a list of whole numbers, got {lengths!r}")
        return sizes

    def _length_of(self, wide: pd.DataFrame) -> int:
        return wide.shape[1] // int(self.n_features_in_)

    def _length_of_network(self) -> int:
        return sum(1 for n in self.network_.nodes if n.startswith(f"{HIDDEN}["))


def _check_possible(log_p: np.ndarray, seqs: Sequences) -> None:
    """Refuse sequences with probability zero under the fitted model, naming one."""
    bad = np.flatnonzero(~np.isfinite(log_p))
    if bad.size:
        raise ImpossibleRowError(f"sequence {int(bad[0])} (of {len(seqs)}) has probability "
                                 f"zero under the fitted model; {bad.size} in all")


def _regressions(means: np.ndarray, covars: np.ndarray, cols: list) -> dict:
    """Full covariances per state as each column's regression on the earlier ones."""
    k, d = means.shape
    out = {}
    for j, c in enumerate(cols):
        b0, w, var = np.empty(k), np.empty((k, j)), np.empty(k)
        for s in range(k):
            sigma, mu = covars[s], means[s]
            if not np.allclose(sigma, sigma.T, rtol=1e-10, atol=0):
                raise BnemValueError(f"covars_[{s}] is not symmetric")
            coef = np.linalg.solve(sigma[:j, :j], sigma[:j, j]) if j else np.zeros(0)
            w[s], b0[s] = coef, mu[j] - coef @ mu[:j]
            var[s] = sigma[j, j] - sigma[:j, j] @ coef
        if not (var > 0).all():
            raise BnemValueError("covars_ must be positive definite covariance matrices")
        out[c] = {"intercept": b0, "weights": w, "variance": var}
    return out


def _moments_of(net: BayesianNetwork, cols: list, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Means ``(k, d)`` and covariances ``(k, d, d)`` per state of a regression chain."""
    d = len(cols)
    b = np.zeros((k, d))
    weights = np.zeros((k, d, d))
    var = np.zeros((k, d))
    for j, c in enumerate(cols):
        cpd = net.cpd(slice_name(c, 0))
        b[:, j] = np.ravel(cpd.intercept)
        var[:, j] = np.ravel(cpd.variance)
        parents = [p.rsplit("[", 1)[0] for p in net.parents(slice_name(c, 0))
                   if p in net.continuous_nodes]
        for i, p in enumerate(parents):
            weights[:, j, cols.index(p)] = np.asarray(cpd.weights).reshape(k, -1)[:, i]
    inv = np.linalg.inv(np.eye(d) - weights)               # x = B x + b + e
    means = np.einsum("kij,kj->ki", inv, b)
    covars = np.einsum("kij,kj,klj->kil", inv, var, inv)
    return means, covars


def _spread(observed: list) -> np.ndarray:
    """Each column's variance (1 where it does not vary): starting variances."""
    return np.array([np.var(v) if np.var(v) > 0 else 1.0 for v in observed])


def _is_codes(column: pd.Series) -> bool:
    """Whether a column holds integer codes: whole numbers >= 0, not text."""
    seen = column.dropna()
    if not len(seen) or isinstance(column.dtype, pd.CategoricalDtype) or \
            seen.map(lambda v: isinstance(v, (str, bool))).any():
        return False
    numbers = pd.to_numeric(seen, errors="coerce")
    if not numbers.notna().all():
        return False
    values = numbers.to_numpy(dtype=float)
    return bool(np.isfinite(values).all() and (values >= 0).all()
                and (values == np.round(values)).all())


def _codes_or_labels(column: pd.Series, name: str) -> list[str]:
    """A categorical column's symbols. Integer codes: ``"0"`` .. ``str(max)`` (hmmlearn's
    symbols, in code order, unseen ones included) when they are dense (``max`` below 100
    or twice the number of distinct codes), else the codes seen in numeric order (an
    ID-like column would otherwise give one state per number up to its largest). Other
    values: the labels seen, sorted (:func:`~bnem.network.from_data.column_states`)."""
    if _is_codes(column):
        values = np.unique(pd.to_numeric(column.dropna()).to_numpy(dtype=float))
        top = int(values.max())
        if top < max(100, 2 * values.size):
            return [str(i) for i in range(top + 1)]
        return [str(int(v)) for v in values]
    return column_states(column, name)


def _slice_given(two: BayesianNetwork, state: int) -> BayesianNetwork:
    """Slice 1 of a two-slice HMM as its own network, its chain fixed at ``state``."""
    head = slice_name(HIDDEN, 1)
    nodes = [n for n in two.nodes if n.endswith("[1]")]
    variables = {n: ("continuous" if n in two.continuous_nodes else list(two.states(n)))
                 for n in nodes}
    parents = {n: [] if n == head else list(two.parents(n)) for n in nodes}
    k = len(two.states(head))
    cpds: dict = {n: two.cpd(n) for n in nodes if n != head}
    cpds[head] = np.eye(k)[state]
    return BayesianNetwork(variables, parents, cpds)
