"""Numeric verification without a GPU: a CPU evaluator for TensorRT networks, and verify().

The evaluator needs only numpy (a RunCodegen library falls back to it at run time); verify()
partitions and compiles, so it loads on first use.
"""

import importlib

from .evaluator import (ArithmeticVariant, EvaluationError, UnsupportedLayerError, evaluate_network,
                        supported_layer_types)

_COMPILE_TIME = {"DEFAULT_TOLERANCES", "SubgraphCheck", "VerifyReport", "verify"}


def __getattr__(name):
    if name in _COMPILE_TIME:
        value = getattr(importlib.import_module(".api", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tvm_tensorrt.verify' has no attribute {name!r}")


__all__ = ["ArithmeticVariant", "DEFAULT_TOLERANCES", "EvaluationError", "SubgraphCheck", "UnsupportedLayerError",
           "VerifyReport", "evaluate_network", "supported_layer_types", "verify"]
