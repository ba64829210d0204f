"""Element-wise math: one TensorRT unary layer each."""

from .base import TensorRTOpConverter, register_converter
from .helpers import tensor_of


class UnaryConverter(TensorRTOpConverter):
    operation = ""

    def convert(self, params):
        op = getattr(params.trt.UnaryOperation, self.operation)
        return [params.network.add_unary(tensor_of(params, 0), op).get_output(0)]


for _name, _operation in (("exp", "EXP"), ("log", "LOG"), ("sqrt", "SQRT"), ("abs", "ABS"), ("negative", "NEG"),
                          ("sin", "SIN"), ("cos", "COS"), ("atan", "ATAN"), ("ceil", "CEIL"), ("floor", "FLOOR"),
                          ("erf", "ERF")):
    register_converter(_name)(type(f"{_operation.title()}Converter", (UnaryConverter,), {"operation": _operation}))
