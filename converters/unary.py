"""Element-wise math: one TensorRT unary layer each, or two (rsqrt, square)."""

from .base import TensorRTOpConverter, register_converter
from .helpers import elementwise, tensor_of, unary


class UnaryConverter(TensorRTOpConverter):
    operation = ""

    def convert(self, params):
        op = getattr(params.trt.UnaryOperation, self.operation)
        return [params.network.add_unary(tensor_of(params, 0), op).get_output(0)]


def unary_converter(operation: str) -> type:
    """The converter class of one trt.UnaryOperation."""
    return type(f"{operation.title()}Converter", (UnaryConverter,), {"operation": operation})


# Each op key written out, so a search for it finds its rule and its converter.
register_converter("exp")(unary_converter("EXP"))
register_converter("log")(unary_converter("LOG"))
register_converter("sqrt")(unary_converter("SQRT"))
register_converter("abs")(unary_converter("ABS"))
register_converter("negative")(unary_converter("NEG"))
register_converter("sin")(unary_converter("SIN"))
register_converter("cos")(unary_converter("COS"))
register_converter("atan")(unary_converter("ATAN"))
register_converter("ceil")(unary_converter("CEIL"))
register_converter("floor")(unary_converter("FLOOR"))
register_converter("erf")(unary_converter("ERF"))
register_converter("tan")(unary_converter("TAN"))
register_converter("sinh")(unary_converter("SINH"))
register_converter("cosh")(unary_converter("COSH"))
register_converter("asin")(unary_converter("ASIN"))
register_converter("acos")(unary_converter("ACOS"))
register_converter("asinh")(unary_converter("ASINH"))
register_converter("acosh")(unary_converter("ACOSH"))
register_converter("atanh")(unary_converter("ATANH"))
register_converter("sign")(unary_converter("SIGN"))
register_converter("round")(unary_converter("ROUND"))


@register_converter("rsqrt")
class RsqrtConverter(TensorRTOpConverter):
    def convert(self, params):
        return [unary(params, unary(params, tensor_of(params, 0), "SQRT"), "RECIP")]


@register_converter("square")
class SquareConverter(TensorRTOpConverter):
    def convert(self, params):
        x = tensor_of(params, 0)
        return [elementwise(params, x, x, "PROD")]
