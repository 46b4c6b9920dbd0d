"""Input and output: BIF read/write, pgmpy interop, other formats (io layer).

pgmpy is imported only inside the functions that use it.
"""

from .bif_read import BIFNormalizationWarning, read_bif
from .bif_write import format_bif, write_bif
from .formats import read_network
from .pgmpy_interop import from_pgmpy, to_pgmpy

__all__ = ["read_bif", "write_bif", "format_bif", "read_network", "to_pgmpy", "from_pgmpy",
           "BIFNormalizationWarning"]
