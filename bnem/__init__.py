"""bnem: learn Bayesian-network parameters by EM from incomplete data."""

from .data.variables import Variable
from .errors import (BIFParseError, BnemError, ConvergenceWarning, CycleError, DataError,
                     DegenerateWarning, ImpossibleRowError, MonotonicityError, NetworkError)
from .network.bayesnet import BayesianNetwork
from .network.cpd import TabularCPD

__version__ = "0.1.0"

__all__ = [
    "BayesianNetwork", "TabularCPD", "Variable",
    "BnemError", "NetworkError", "CycleError", "DataError", "BIFParseError",
    "ImpossibleRowError", "MonotonicityError", "ConvergenceWarning", "DegenerateWarning",
]

from .data.table import read_table
from .em.loop import fit
from .em.result import FitResult

__all__ += ["fit", "FitResult", "read_table"]
