"""Verification helpers: a CPU reference evaluator for TensorRT network definitions."""

from .evaluator import EvaluationError, UnsupportedLayerError, evaluate_network, supported_layer_types

__all__ = ["EvaluationError", "UnsupportedLayerError", "evaluate_network", "supported_layer_types"]
