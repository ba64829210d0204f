"""Reductions: TensorRT's reduce layer over an axis bitmask (axis=None: every axis)."""

from .base import TensorRTOpConverter, register_converter
from .helpers import axes_mask, elementwise, tensor_of


class ReduceConverter(TensorRTOpConverter):
    operation = ""

    def convert(self, params):
        rank = len(params.inputs[0].shape)
        axes = params.attrs.get("axis")
        axes = range(rank) if axes is None else axes
        op = getattr(params.trt.ReduceOperation, self.operation)
        layer = params.network.add_reduce(tensor_of(params, 0), op, axes_mask(axes, rank),
                                          bool(params.attrs.get("keepdims", False)))
        return [layer.get_output(0)]


register_converter("sum")(type("SumConverter", (ReduceConverter,), {"operation": "SUM"}))
register_converter("prod")(type("ProdConverter", (ReduceConverter,), {"operation": "PROD"}))
register_converter("max")(type("MaxConverter", (ReduceConverter,), {"operation": "MAX"}))
register_converter("min")(type("MinConverter", (ReduceConverter,), {"operation": "MIN"}))
register_converter("mean")(type("MeanConverter", (ReduceConverter,), {"operation": "AVG"}))


@register_converter("variance")
class VarianceConverter(TensorRTOpConverter):
    """mean((x - mean(x))^2) over the axes: TensorRT has no variance layer, and the two-pass form
    is what TVM computes (no cancellation as in mean(x^2) - mean(x)^2)."""

    def convert(self, params):
        rank = len(params.inputs[0].shape)
        axes = params.attrs.get("axis")
        mask = axes_mask(range(rank) if axes is None else axes, rank)
        x, avg = tensor_of(params, 0), params.trt.ReduceOperation.AVG
        mean = params.network.add_reduce(x, avg, mask, True).get_output(0)
        centred = elementwise(params, x, mean, "SUB")
        squares = elementwise(params, centred, centred, "PROD")
        return [params.network.add_reduce(squares, avg, mask, bool(params.attrs.get("keepdims", False))).get_output(0)]
