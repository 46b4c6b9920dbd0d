"""bnem: learn Bayesian-network parameters by EM from incomplete data.

>>> import bnem
>>> net = bnem.read_bif("networks/asia.bif")                      # doctest: +SKIP
>>> res = bnem.fit(net, net.sample(1000, seed=0, missing=0.2))    # doctest: +SKIP
"""

from .data.files import files
from .data.table import read_table
from .data.variables import ContinuousVariable, Variable
from .em.information import standard_errors
from .em.loop import Progress, fit
from .em.online import OnlineEM
from .inference.compiled import CompiledNetwork, compile
from .inference.api import most_probable
from .em.result import FitResult
from .errors import (BIFParseError, BnemError, ConvergenceWarning, CycleError, DataError,
                     DegenerateWarning, FormatWarning, ImpossibleRowError, InferenceTooLargeError, InterruptedWarning,
                     MonotonicityError, NetworkError)
from .io import from_pgmpy, load_network, network_names, read_bif, read_json, read_network, to_pgmpy, write_bif, write_json
from .data.sequences import Sequences
from .network.bayesnet import BayesianNetwork
from .models.labels import best_permutation, match_states, relabel_states
from .models.mixture import gaussian_mixture, mixture_parameters
from .models.scores import aic, anomaly_threshold, bic, flag_anomalies
from .models.selection import plot_cardinality, select_cardinality
from .models.sequences import (dynamic_network, forward_backward, hidden_markov_network,
                               sequence_rows, viterbi)
from .network.cpd import TabularCPD
from .network.forms import count_states
from .network.gaussian import GaussianCPD
from .network import facades as _facades
from .inference import api as _api
from .inference.impute import impute as _impute

# the network's conveniences, done by upper layers: wired here, above every layer
_facades.register(log_prob=_api.log_prob, log_likelihood=_api.log_likelihood,
                  posterior=_api.posterior, impute=_impute, to_pgmpy=to_pgmpy,
                  from_pgmpy=from_pgmpy)

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``bnem.GaussianMixture``, ``bnem.LatentClassModel`` and ``bnem.HiddenMarkovModel``:
    imported on first use (they need scikit-learn)."""
    if name == "GaussianMixture":
        from .models.sklearn_mixture import GaussianMixture
        return GaussianMixture
    if name == "LatentClassModel":
        from .models.latent_class import LatentClassModel
        return LatentClassModel
    if name == "HiddenMarkovModel":
        from .models.hmm import HiddenMarkovModel
        return HiddenMarkovModel
    raise AttributeError(f"module 'bnem' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, the estimators imported on first use among them."""
    return sorted(set(__all__) | {"GaussianMixture", "LatentClassModel", "HiddenMarkovModel",
                                  "__version__"})


__all__ = [
    "BayesianNetwork", "TabularCPD", "GaussianCPD", "Variable", "ContinuousVariable",
    "count_states",
    "fit", "FitResult", "Progress", "compile", "CompiledNetwork", "OnlineEM",
    "most_probable",
    "gaussian_mixture", "mixture_parameters", "bic", "aic", "anomaly_threshold",
    "flag_anomalies", "dynamic_network", "hidden_markov_network", "sequence_rows", "Sequences", "viterbi", "forward_backward", "select_cardinality", "plot_cardinality", "standard_errors", "best_permutation", "match_states", "relabel_states",
    "load_network", "network_names", "read_bif", "write_bif", "read_json", "write_json", "read_network", "read_table", "files",
    "to_pgmpy", "from_pgmpy",
    "BnemError", "NetworkError", "CycleError", "DataError", "BIFParseError",
    "ImpossibleRowError", "InferenceTooLargeError", "MonotonicityError", "ConvergenceWarning", "DegenerateWarning", "FormatWarning", "InterruptedWarning",
]
