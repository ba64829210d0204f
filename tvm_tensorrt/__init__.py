"""tvm-tensorrt: offload the parts of a TVM Relax model that TensorRT can run.

Importing the package registers the runtime functions that exported modules call, so
`tvm.runtime.load_module(...)` works in a fresh process after `import tvm_tensorrt`.
"""

import logging

__version__ = "0.1.0"  # before the imports below: the engine cache keys include it

from .errors import (BackendUnavailableError, ConfigError, ConversionError, RegistryError,
                     SubgraphFormatError, TensorRTError)
from .frontend import from_onnx
from .partition import partition_for_tensorrt
from .partition.report import PartitionReport, explain
from .runtime import codegen as _codegen  # noqa: F401  (registers relax.ext.tensorrt for RunCodegen)
from .runtime import executor as _executor  # noqa: F401  (registers tvm_tensorrt.* packed functions)
from .runtime.build import build
from .pipeline import LowerToTensorRT, PartitionForTensorRT, pipeline
from .runtime.model import LoadedModel, load
from .verify import VerifyReport, verify

logger = logging.getLogger("tvm_tensorrt")

__all__ = ["BackendUnavailableError", "ConfigError", "ConversionError", "RegistryError", "SubgraphFormatError",
           "LoadedModel", "LowerToTensorRT", "PartitionForTensorRT", "PartitionReport", "TensorRTError",
           "VerifyReport", "build", "explain", "from_onnx", "load", "partition_for_tensorrt", "pipeline", "verify"]
