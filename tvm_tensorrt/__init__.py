"""tvm-tensorrt: offload the parts of a TVM Relax model that TensorRT can run.

Importing the package registers the runtime functions that exported modules call, so
`tvm.runtime.load_module(...)` works in a fresh process after `import tvm_tensorrt`, and the
codegen `relax.ext.tensorrt` that `relax.transform.RunCodegen()` looks for.

The import is light on purpose: a device that only loads and runs libraries needs tvm, numpy
and TensorRT, not the ONNX frontend, networkx or the partitioner. The compile-time API
(`from_onnx`, `partition_for_tensorrt`, `build`, `verify`, ...) is imported on first use.
"""

import importlib
import logging

import tvm

from .common import __version__  # noqa: E402
from .errors import (BackendUnavailableError, ConfigError, ConversionError, CorruptLibraryError, DeviceUnavailableError,  # noqa: E402
                     InputError, LibraryTooLargeError, ModelImportError, RegistryError, SubgraphFormatError,
                     TensorRTError, WeightsFileError)
from .library_file import check_library, export_library  # noqa: E402
from tvm_tensorrt.runtime import executor as _executor  # noqa: E402,F401  (registers tvm_tensorrt.* packed functions)
from tvm_tensorrt.runtime.model import LoadedModel, load  # noqa: E402
from . import verification as _verification  # noqa: E402,F401  (light: the evaluator, numpy only)

logger = logging.getLogger("tvm_tensorrt")

# name -> module that defines it, imported when the name is first used
_COMPILE_TIME = {
    "from_onnx": ".frontend",
    "partition_for_tensorrt": ".partition",
    "PartitionReport": ".partition.report",
    "explain": ".partition.report",
    "explain_onnx": ".onnx_explain",
    "annotate_onnx": ".onnx_explain",
    "build": ".flows",
    "calibrate": ".calibration",
    "LowerToTensorRT": ".flows",
    "PartitionForTensorRT": ".flows",
    "pipeline": ".flows",
    "serve": ".triton",
    "export_triton": ".triton",
    "VerifyReport": ".verification.api",
    "verify": ".verification.api",
}


def __getattr__(name):
    if name in _COMPILE_TIME:
        value = getattr(importlib.import_module(_COMPILE_TIME[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tvm_tensorrt' has no attribute {name!r}")


def _tensorrt_codegen(functions, options, constant_names):
    """relax.ext.tensorrt, for RunCodegen: the codegen (compile-time code) loads on first use."""
    from .lowering.codegen import codegen

    return codegen(functions, options, constant_names)


tvm.register_global_func("relax.ext.tensorrt", _tensorrt_codegen, override=True)

__all__ = ["BackendUnavailableError", "ConfigError", "ConversionError", "CorruptLibraryError", "DeviceUnavailableError",
           "InputError", "LibraryTooLargeError", "ModelImportError", "RegistryError", "SubgraphFormatError",
           "WeightsFileError", "check_library", "export_library",
           "LoadedModel", "LowerToTensorRT", "PartitionForTensorRT", "PartitionReport", "TensorRTError",
           "VerifyReport", "build", "calibrate", "explain", "from_onnx", "load", "partition_for_tensorrt", "pipeline", "serve", "export_triton", "verify"]
