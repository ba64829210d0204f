"""Evaluate a TensorRT INetworkDefinition on the CPU, layer by layer, with numpy.

No TensorRT engine can run without a GPU, but the network definition a converter builds can be
read back through the builder API. This package computes what that definition means, so a
converter that builds a valid-but-wrong network (swapped paddings, a wrong axis bitmask, an
inverted permutation) is caught by comparing numbers, not just shapes.

Rules the evaluator keeps:

* Every tensor is stored in the numpy dtype of its TensorRT dtype (HALF -> float16, ...), so
  FP16 networks really run in half precision. Convolutions, matrix multiplies, reductions and
  transcendental functions on FP16 data are computed in float32 and rounded to float16 at the
  layer's output, as GPU kernels do.
* Every computed tensor is checked against the shape and dtype TensorRT declares for it.
* A layer type, mode or parameter this package does not implement raises
  UnsupportedLayerError naming the layer and its type; nothing is guessed.
* Layers are evaluated in dependency order. TensorRT's layer list is *not* always topological
  (NVIDIA's ONNX parser adds constants after the layers that read them), so we sort.

Layout: core.py holds the errors, the handler registry and the walk over the network's layers;
geometry.py the window arithmetic of convolution and pooling. Every other module implements one
family of layers and registers its handlers when imported, and this module imports them all.
"""

from . import attention, conv, elementwise, linalg, nms, pool, quantize, reduce, resize, shape  # noqa: F401  (registers the handlers)
from .core import (ArithmeticVariant, EvaluationError, UnsupportedLayerError, evaluate_network,
                   supported_layer_types)

__all__ = ["ArithmeticVariant", "EvaluationError", "UnsupportedLayerError", "evaluate_network",
           "supported_layer_types"]
