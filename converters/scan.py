"""cumsum (cumulative layer), topk, argmax and argmin (topk layer).

TensorRT's topk needs rank >= 2 and returns int32 indices, so a 1-D or flattened input gets a
leading unit dim, and indices are cast to the dtype Relax gives them (argmax: int64)."""

import numpy as np

from .base import TensorRTOpConverter, register_converter
from .helpers import normalise_axis, cast_to, reshape, tensor_of


@register_converter("cumsum")
class CumsumConverter(TensorRTOpConverter):
    def convert(self, params):
        x, shape = tensor_of(params, 0), params.inputs[0].shape
        axis = params.attrs.get("axis")
        if axis is None:  # TVM scans the flattened data
            x, axis = reshape(params, x, (-1,)), 0
        axis_array = np.array([normalise_axis(axis, len(shape))], dtype=np.int32)
        axis_tensor = params.network.add_constant((), params.weights(axis_array)).get_output(0)  # a 0-D constant
        layer = params.network.add_cumulative(x, axis_tensor, params.trt.CumulativeOperation.SUM,
                                              bool(params.attrs.get("exclusive") or False), False)
        return [layer.get_output(0)]


def top_k(params, x, shape, axis: int, k: int, largest: bool) -> tuple:
    """(values, int32 indices) of the k largest/smallest along `axis` (1-D data included)."""
    trt = params.trt
    if len(shape) == 1:
        x, axis = reshape(params, x, (1, shape[0])), 1
    op = trt.TopKOperation.MAX if largest else trt.TopKOperation.MIN
    layer = params.network.add_topk(x, op, k, 1 << axis)
    values, indices = layer.get_output(0), layer.get_output(1)
    if len(shape) == 1:
        values, indices = reshape(params, values, (k,)), reshape(params, indices, (k,))
    return values, indices


@register_converter("topk")
class TopkConverter(TensorRTOpConverter):
    def convert(self, params):
        attrs, shape = params.attrs, params.inputs[0].shape
        axis = normalise_axis(attrs.get("axis", -1), len(shape))
        k = int(attrs["k"]) if int(attrs["k"]) >= 1 else shape[axis]
        values, indices = top_k(params, tensor_of(params, 0), shape, axis, k, bool(attrs.get("largest", True)))
        ret_type = attrs.get("ret_type", "both")
        if ret_type == "values":
            return [values]
        indices = cast_to(params, indices, params.output_dtypes[-1])
        return [indices] if ret_type == "indices" else [values, indices]


class ArgReduceConverter(TensorRTOpConverter):
    largest = True

    def convert(self, params):
        x, shape = tensor_of(params, 0), params.inputs[0].shape
        axis = params.attrs.get("axis")
        if axis is None:  # over every element: a top-1 of the flattened data
            x, shape, axis = reshape(params, x, (1, -1)), (1, -1), 1
        _, indices = top_k(params, x, shape, normalise_axis(axis, len(shape)), 1, self.largest)
        indices = reshape(params, indices, params.output_dims[0])  # drops the axis unless keepdims
        return [cast_to(params, indices, params.output_dtypes[0])]


@register_converter("argmax")
class ArgmaxConverter(ArgReduceConverter):
    largest = True


@register_converter("argmin")
class ArgminConverter(ArgReduceConverter):
    largest = False
