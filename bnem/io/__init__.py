"""Input and output: BIF and JSON read/write, pgmpy interop, other formats (io layer).

pgmpy is imported only inside the functions that use it.
"""

from .bif_read import BIFNormalizationWarning, read_bif
from .bif_write import format_bif, write_bif
from .bundled import load_network, network_names
from .formats import read_network
from .json_format import JSONFormatError, format_json, read_json, write_json
from .pgmpy_interop import from_pgmpy, to_pgmpy

__all__ = ["read_bif", "write_bif", "format_bif", "read_json", "write_json", "format_json",
           "read_network", "load_network", "network_names", "to_pgmpy", "from_pgmpy", "BIFNormalizationWarning", "JSONFormatError"]
