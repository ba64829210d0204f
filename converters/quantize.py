"""quantize / dequantize as TensorRT's quantize and dequantize layers (explicit quantization).
Networks are strongly typed, so the scale is a constant of the float side's type (the input's
for quantize, the output's for dequantize): 0-d for one scale per tensor, 1-D along `axis` for
one per channel. The zero point (0, the rule checks) is left out, as TensorRT then takes it."""

from __future__ import annotations

import numpy as np

from .base import TensorRTOpConverter, register_converter, trt_weights
from .helpers import normalise_axis, tensor_of, weight_of

def _numpy_float(name: str):
    """float32/float16, or bfloat16 through ml_dtypes (which TVM already imports)."""
    if name == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return np.dtype(name)


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


@register_converter("dequantize")
class DequantizeConverter(QuantizationConverter):
    def float_side(self, params) -> str:
        return params.output_dtypes[0]

    def add_layer(self, params, x, scale):
        dtype = {"float16": params.trt.float16, "bfloat16": params.trt.bfloat16}.get(params.output_dtypes[0],
                                                                                   params.trt.float32)
        return params.network.add_dequantize(x, scale, dtype)
