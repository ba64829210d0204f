"""Numeric verification without a GPU: verify(), and the runtime's CPU evaluator of TensorRT
networks it checks with (runtime/evaluator, numpy only: a RunCodegen library falls back to it).
verify() partitions and compiles, so it loads on first use.
"""

import importlib

from tvm_tensorrt.runtime.evaluator import (ArithmeticVariant, EvaluationError, UnsupportedLayerError, evaluate_network,
                                 supported_layer_types)

_COMPILE_TIME = {"DEFAULT_TOLERANCES", "SubgraphCheck", "VerifyReport", "verify"}


def __getattr__(name):
    if name in _COMPILE_TIME:
        value = getattr(importlib.import_module(".api", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tvm_tensorrt.verification' has no attribute {name!r}")


__all__ = ["ArithmeticVariant", "DEFAULT_TOLERANCES", "EvaluationError", "SubgraphCheck", "UnsupportedLayerError",
           "VerifyReport", "evaluate_network", "supported_layer_types", "verify"]
