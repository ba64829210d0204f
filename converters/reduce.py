"""Reductions: TensorRT's reduce layer over an axis bitmask (axis=None: every axis)."""

from .base import TensorRTOpConverter, register_converter
from .helpers import axes_mask, tensor_of


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


for _name, _operation in (("sum", "SUM"), ("prod", "PROD"), ("max", "MAX"), ("min", "MIN"), ("mean", "AVG")):
    register_converter(_name)(type(f"{_name.title()}Converter", (ReduceConverter,), {"operation": _operation}))
