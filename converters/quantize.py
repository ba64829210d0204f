"""quantize / dequantize.

Symmetric int8 (zero point 0): TensorRT's quantize and dequantize layers (explicit quantization).
Networks are strongly typed, so the scale is a constant of the float side's type (the input's for
quantize, the output's for dequantize): 0-d for one scale per tensor, 1-D along `axis` for one
per channel. The zero point (0) is left out, as TensorRT then takes it.

Asymmetric (a zero point other than 0, or uint8; partition/rules/quantize.py): fake-quantized in
float, computing what onnxruntime computes:
    q = min(max(round(x / scale) + zero_point, lo), hi)    (ROUND is half to even in TensorRT)
    x' = (q - zero_point) * scale
An int8 q is cast to int8 (exact: q is a whole number in range); a uint8 q stays float, since
TensorRT takes uint8 tensors only at network inputs and outputs (the rule offloads such a
quantize only with its dequantizes). A dequantize of constant weights folds to float weights.
"""

from __future__ import annotations

import numpy as np

from .base import TensorRTOpConverter, register_converter, trt_weights
from .helpers import normalise_axis, tensor_of, weight_of

QUANTIZED = {"int8": (-128, 127), "uint8": (0, 255)}
FLOATS = ("float32", "float16", "bfloat16")


def _numpy_float(name: str):
    """float32/float16, or bfloat16 through ml_dtypes (which TVM already imports)."""
    if name == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return np.dtype(name)


def _asymmetric(dtype: str, zero_point: np.ndarray) -> bool:
    return dtype != "int8" or bool(np.any(zero_point != 0))


def _along_axis(values: np.ndarray, axis, rank: int) -> np.ndarray:
    """A scalar or per-channel constant shaped to broadcast against a rank-`rank` tensor."""
    values = np.asarray(values)
    if values.size == 1:
        return values.reshape((1,) * rank)
    axis = normalise_axis(axis, rank)
    return values.reshape([-1 if a == axis else 1 for a in range(rank)])


def _elementwise(params, a, b, op: str):
    return params.network.add_elementwise(a, b, getattr(params.trt.ElementWiseOperation, op)).get_output(0)


def _float_constant(params, values, axis, rank: int, dtype: str):
    """A float constant (in the network's `dtype`) broadcasting along `axis`."""
    array = np.ascontiguousarray(_along_axis(np.asarray(values, dtype=np.float32), axis, rank),
                                 dtype=_numpy_float(dtype))
    return params.network.add_constant(array.shape, trt_weights(params.trt, array, params.keep_alive)).get_output(0)


def _trt_float(params, dtype: str):
    return {"float16": params.trt.float16, "bfloat16": params.trt.bfloat16}.get(dtype, params.trt.float32)


class QuantizationConverter(TensorRTOpConverter):
    input_types = ("tensor", "weight", "weight")

    def float_side(self, params) -> str:
        raise NotImplementedError

    def add_layer(self, params, x, scale):
        raise NotImplementedError

    def convert(self, params):
        scale = weight_of(params, 1)
        array = np.ascontiguousarray(scale.reshape(()) if scale.size == 1 else scale.reshape(-1),
                                     dtype=_numpy_float(self.float_side(params)))
        scale_tensor = params.network.add_constant(tuple(array.shape),
                                                   trt_weights(params.trt, array, params.keep_alive)).get_output(0)
        layer = self.add_layer(params, tensor_of(params, 0), scale_tensor)
        if scale.size > 1:
            layer.axis = normalise_axis(params.attrs["axis"], len(params.inputs[0].shape))
        return [layer.get_output(0)]


@register_converter("quantize")
class QuantizeConverter(QuantizationConverter):
    def float_side(self, params) -> str:
        return params.compute_dtype if params.inputs[0].dtype == "float32" else params.inputs[0].dtype

    def add_layer(self, params, x, scale):
        return params.network.add_quantize(x, scale, params.trt.int8)

    def convert(self, params):
        out_dtype = params.output_dtypes[0]
        zero_point = np.asarray(weight_of(params, 2))
        if not _asymmetric(out_dtype, zero_point):
            return super().convert(params)
        dtype, rank, axis = self.float_side(params), len(params.inputs[0].shape), params.attrs.get("axis", -1)
        lo, hi = QUANTIZED[out_dtype]
        q = _elementwise(params, tensor_of(params, 0), _float_constant(params, weight_of(params, 1), axis, rank, dtype),
                         "DIV")
        q = params.network.add_unary(q, params.trt.UnaryOperation.ROUND).get_output(0)
        if np.any(zero_point != 0):
            q = _elementwise(params, q, _float_constant(params, zero_point, axis, rank, dtype), "SUM")
        q = _elementwise(params, q, _float_constant(params, lo, axis, rank, dtype), "MAX")
        q = _elementwise(params, q, _float_constant(params, hi, axis, rank, dtype), "MIN")
        if out_dtype == "int8":
            q = params.network.add_cast(q, params.trt.int8).get_output(0)
        return [q]  # uint8: carried in float (TensorRT has no uint8 tensors inside a network)


@register_converter("dequantize")
class DequantizeConverter(QuantizationConverter):
    def float_side(self, params) -> str:
        return params.output_dtypes[0]

    def add_layer(self, params, x, scale):
        return params.network.add_dequantize(x, scale, _trt_float(params, params.output_dtypes[0]))

    def convert(self, params):
        source = params.inputs[0]
        scale, zero_point = weight_of(params, 1), np.asarray(weight_of(params, 2))
        if not _asymmetric(source.dtype, zero_point):
            return super().convert(params)
        dtype, rank, axis = self.float_side(params), len(source.shape), params.attrs.get("axis", -1)
        if source.weight is not None:  # quantized weights: dequantized here, float weights in the engine
            weights = (np.asarray(source.weight, dtype=np.float32) - _along_axis(zero_point, axis, rank)) \
                * _along_axis(scale.astype(np.float32), axis, rank)
            array = np.ascontiguousarray(weights, dtype=_numpy_float(dtype))
            return [params.network.add_constant(array.shape, trt_weights(params.trt, array,
                                                                         params.keep_alive)).get_output(0)]
        x = source.tensor
        if x.dtype != _trt_float(params, dtype):  # int8 or uint8 (a network input), or a float q of another type
            x = params.network.add_cast(x, _trt_float(params, dtype)).get_output(0)
        if np.any(zero_point != 0):
            x = _elementwise(params, x, _float_constant(params, zero_point, axis, rank, dtype), "SUB")
        return [_elementwise(params, x, _float_constant(params, scale, axis, rank, dtype), "PROD")]
