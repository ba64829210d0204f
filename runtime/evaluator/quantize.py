"""Explicit quantization (TensorRT's IQuantizeLayer / IDequantizeLayer), as TensorRT defines it:
quantize is saturate(round_half_to_even(x / scale)) into int8's [-128, 127], dequantize is
x * scale, both in float32; a 1-D scale applies along `axis` (per channel), a scalar to all."""

from __future__ import annotations

import numpy as np

from tvm_tensorrt.common import normalise_axis
from .core import _LayerFailure, _handler, _input, _unsupported


def _scale_along_axis(layer, x, scale) -> np.ndarray:
    scale = np.asarray(scale, dtype=np.float32)
    if scale.size == 1:
        return scale.reshape(())
    axis = normalise_axis(layer.axis, x.ndim)
    if scale.ndim != 1 or not 0 <= axis < x.ndim or x.shape[axis] != scale.size:
        raise _LayerFailure(f"scale of shape {scale.shape} along axis {layer.axis} of a {x.shape} input")
    return scale.reshape([-1 if a == axis else 1 for a in range(x.ndim)])


def _zero_point(ins):
    zero = _input(ins, 2)
    if zero is not None and np.any(np.asarray(zero) != 0):
        raise _unsupported("a non-zero zero point (TensorRT's INT8 is symmetric)")


@_handler("QUANTIZE")
def _quantize(ev, layer, ins, dtypes):
    if dtypes[0] != np.int8:
        raise _unsupported(f"quantizing to {dtypes[0]}")
    _zero_point(ins)
    x = ins[0].astype(np.float32)
    scaled = x / _scale_along_axis(layer, x, ins[1])
    return [np.clip(np.rint(scaled), -128, 127).astype(np.int8)]  # rint: ties to even


@_handler("DEQUANTIZE")
def _dequantize(ev, layer, ins, dtypes):
    _zero_point(ins)
    x = ins[0]
    return [(x.astype(np.float32) * _scale_along_axis(layer, x, ins[1])).astype(dtypes[0])]
