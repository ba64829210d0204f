"""Serving a compiled library on NVIDIA's Triton Inference Server.

`serve` runs a local server for one library (server.py); `export_triton` writes a model
repository for a production server (repository.py); both read what the library takes and gives
from the library itself (signature.py). The server and its client come with the `[serve]` extra.
"""

from .repository import export_triton
from .server import ServeError, TritonServer, serve
from .signature import Signature, read_signature

__all__ = ["ServeError", "Signature", "TritonServer", "export_triton", "read_signature", "serve"]
