"""Binary element-wise ops with numpy broadcasting."""

from .base import TensorRTOpConverter, register_converter
from .helpers import lift_to_rank, tensor_of


class BinaryConverter(TensorRTOpConverter):
    input_types = ("tensor", "tensor")
    operation = ""

    def convert(self, params):
        rank = max(len(i.shape) for i in params.inputs)
        lhs, rhs = (lift_to_rank(params, tensor_of(params, i), params.inputs[i].shape, rank, params.inputs[i].dims)
                    for i in range(2))
        op = getattr(params.trt.ElementWiseOperation, self.operation)
        return [params.network.add_elementwise(lhs, rhs, op).get_output(0)]


for _name, _operation in (("add", "SUM"), ("subtract", "SUB"), ("multiply", "PROD"), ("divide", "DIV"),
                          ("power", "POW"), ("maximum", "MAX"), ("minimum", "MIN")):
    register_converter(_name)(type(f"{_operation.title()}Converter", (BinaryConverter,), {"operation": _operation}))
