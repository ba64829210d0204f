"""Numeric verification without a GPU: a CPU evaluator for TensorRT networks, and verify()."""

from .api import DEFAULT_TOLERANCES, SubgraphCheck, VerifyReport, verify
from .evaluator import ArithmeticVariant, EvaluationError, UnsupportedLayerError, evaluate_network, supported_layer_types

__all__ = ["ArithmeticVariant", "DEFAULT_TOLERANCES", "EvaluationError", "SubgraphCheck", "UnsupportedLayerError", "VerifyReport",
           "evaluate_network", "supported_layer_types", "verify"]
