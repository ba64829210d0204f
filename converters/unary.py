"""Element-wise math: one TensorRT unary layer each, or two (rsqrt, square)."""

from .base import TensorRTOpConverter, register_converter
from .helpers import elementwise, tensor_of, unary


class UnaryConverter(TensorRTOpConverter):
    operation = ""

    def convert(self, params):
        op = getattr(params.trt.UnaryOperation, self.operation)
        return [params.network.add_unary(tensor_of(params, 0), op).get_output(0)]


for _name, _operation in (("exp", "EXP"), ("log", "LOG"), ("sqrt", "SQRT"), ("abs", "ABS"), ("negative", "NEG"),
                          ("sin", "SIN"), ("cos", "COS"), ("atan", "ATAN"), ("ceil", "CEIL"), ("floor", "FLOOR"),
                          ("erf", "ERF"), ("tan", "TAN"), ("sinh", "SINH"), ("cosh", "COSH"), ("asin", "ASIN"),
                          ("acos", "ACOS"), ("asinh", "ASINH"), ("acosh", "ACOSH"), ("atanh", "ATANH"),
                          ("sign", "SIGN"), ("round", "ROUND")):
    register_converter(_name)(type(f"{_operation.title()}Converter", (UnaryConverter,), {"operation": _operation}))


@register_converter("rsqrt")
class RsqrtConverter(TensorRTOpConverter):
    def convert(self, params):
        return [unary(params, unary(params, tensor_of(params, 0), "SQRT"), "RECIP")]


@register_converter("square")
class SquareConverter(TensorRTOpConverter):
    def convert(self, params):
        x = tensor_of(params, 0)
        return [elementwise(params, x, x, "PROD")]
