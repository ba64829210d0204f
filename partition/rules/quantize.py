"""Explicit quantization: relax.quantize / relax.dequantize, which TVM's importer makes of ONNX
QuantizeLinear / DequantizeLinear (QDQ models from onnxruntime's quantize_static or NVIDIA's
ModelOpt). TensorRT runs the layers between a quantize and a dequantize in INT8, and quantized
weights (a dequantize of int8 constants) stay int8 in the engine.

TensorRT's INT8 is symmetric: the zero point must be 0 (onnxruntime: quantize_static(...,
extra_options={"ActivationSymmetric": True})). Scales are constants, per tensor or per channel.
"""

from __future__ import annotations

from typing import Optional

from ..checks import FLOAT_DTYPES, constant_array, is_constant
from ..registry import register_rule
from .gates import TENSORRT_10

QUANTIZE_LIMITS = "int8, symmetric (zero point 0), constant scale per tensor or per channel"


def _scale_and_zero_point_reason(call, what: str) -> Optional[str]:
    scale, zero_point = call.args[1], call.args[2]
    if not is_constant(scale) or not is_constant(zero_point):
        return f"{what} scale and zero point must be constants: TensorRT builds them into the engine"
    values = constant_array(scale)
    if values.ndim > 1:
        return f"{what} scale has shape {values.shape}; TensorRT takes a scalar or one scale per channel"
    if (values <= 0).any():
        return f"{what} scale must be positive, got {values.min()}"
    if (constant_array(zero_point) != 0).any():
        return (f"{what} zero point is not 0: TensorRT's INT8 is symmetric (quantize with a zero point of 0, e.g. "
                "onnxruntime's extra_options={'ActivationSymmetric': True})")
    return None


@register_rule("quantize", min_version=TENSORRT_10, dtypes=FLOAT_DTYPES + ("int8",),
               limits=QUANTIZE_LIMITS)
def quantize_rule(call, config):
    if str(call.attrs.out_dtype) != "int8":
        return f"quantize to {call.attrs.out_dtype}: TensorRT quantizes to int8 here"
    return _scale_and_zero_point_reason(call, "quantize")


@register_rule("dequantize", min_version=TENSORRT_10, dtypes=FLOAT_DTYPES + ("int8",),
               limits=QUANTIZE_LIMITS)
def dequantize_rule(call, config):
    if str(call.args[0].ty.dtype) != "int8":
        return f"dequantize of {call.args[0].ty.dtype}: TensorRT dequantizes int8 here"
    return _scale_and_zero_point_reason(call, "dequantize")
