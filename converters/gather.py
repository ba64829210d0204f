"""take, gather_elements, gather_nd -> TensorRT's gather layer (DEFAULT, ELEMENT, ND modes).

take's "wrap" and "clip" modes are computed on the indices first (TensorRT itself wraps an
index in [-d, 0) once and fails on the rest), so they hold for any index; see the rule.
"""

import numpy as np

from .base import TensorRTOpConverter, register_converter
from .helpers import normalise_axis, elementwise, tensor_of


def index_constant(params, value: int, like_dtype: str, rank: int):
    """A one-element constant of the indices' dtype with `rank` unit dims (0-d included)."""
    array = np.full((1,) * rank, value, dtype=like_dtype)
    return params.network.add_constant((1,) * rank, params.weights(array)).get_output(0)


def wrap_indices(params, indices, extent: int, dtype: str, rank: int):
    """Python's modulo, as TVM's wrap mode: i - floor(i / d) * d."""
    d = index_constant(params, extent, dtype, rank)
    quotient = elementwise(params, indices, d, "FLOOR_DIV")
    return elementwise(params, indices, elementwise(params, quotient, d, "PROD"), "SUB")


def clip_indices(params, indices, extent: int, dtype: str, rank: int):
    low = elementwise(params, indices, index_constant(params, extent - 1, dtype, rank), "MIN")
    return elementwise(params, low, index_constant(params, 0, dtype, rank), "MAX")


@register_converter("take")
class TakeConverter(TensorRTOpConverter):
    input_types = ("tensor", "tensor")

    def convert(self, params):
        data, indices = params.inputs
        axis = normalise_axis(params.attrs.get("axis") or 0, len(data.shape))
        index_tensor, index_shape = tensor_of(params, 1), tuple(indices.shape)
        mode = params.attrs.get("mode", "fast")
        if mode in ("wrap", "clip"):
            adjust = wrap_indices if mode == "wrap" else clip_indices
            index_tensor = adjust(params, index_tensor, data.shape[axis], indices.dtype, len(index_shape))
        layer = params.network.add_gather(tensor_of(params, 0), index_tensor, axis)
        return [layer.get_output(0)]


@register_converter("gather_elements")
class GatherElementsConverter(TensorRTOpConverter):
    input_types = ("tensor", "tensor")

    def convert(self, params):
        layer = params.network.add_gather_v2(tensor_of(params, 0), tensor_of(params, 1),
                                             params.trt.GatherMode.ELEMENT)
        layer.axis = normalise_axis(params.attrs.get("axis", 0), len(params.inputs[0].shape))
        return [layer.get_output(0)]


@register_converter("gather_nd")
class GatherNdConverter(TensorRTOpConverter):
    input_types = ("tensor", "tensor")

    def convert(self, params):
        layer = params.network.add_gather_v2(tensor_of(params, 0), tensor_of(params, 1), params.trt.GatherMode.ND)
        layer.num_elementwise_dims = int(params.attrs.get("batch_dims", 0))
        return [layer.get_output(0)]


@register_converter("scatter_nd")
class ScatterNdConverter(TensorRTOpConverter):
    """The updates replace data at each index tuple (the last indices axis indexes the leading dims)."""

    input_types = ("tensor", "tensor", "tensor")

    def convert(self, params):
        layer = params.network.add_scatter(tensor_of(params, 0), tensor_of(params, 1), tensor_of(params, 2),
                                           params.trt.ScatterMode.ND)
        return [layer.get_output(0)]
