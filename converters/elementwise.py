"""Binary element-wise ops with numpy broadcasting."""

from .base import TensorRTOpConverter, register_converter
from .helpers import elementwise, lifted_inputs, unary


class BinaryConverter(TensorRTOpConverter):
    input_types = ("tensor", "tensor")
    operation = ""

    def convert(self, params):
        lhs, rhs = lifted_inputs(params)
        op = getattr(params.trt.ElementWiseOperation, self.operation)
        return [params.network.add_elementwise(lhs, rhs, op).get_output(0)]


def binary_converter(operation: str) -> type:
    """The converter class of one trt.ElementWiseOperation."""
    return type(f"{operation.title()}Converter", (BinaryConverter,), {"operation": operation})


register_converter("add")(binary_converter("SUM"))
register_converter("subtract")(binary_converter("SUB"))
register_converter("multiply")(binary_converter("PROD"))
register_converter("divide")(binary_converter("DIV"))
register_converter("power")(binary_converter("POW"))
register_converter("maximum")(binary_converter("MAX"))
register_converter("minimum")(binary_converter("MIN"))


def quotient(params, lhs, rhs, rounding: str):
    """a / b rounded as TVM rounds it: `rounding` "floor" or "trunc". Integers: FLOOR_DIV floors,
    DIV truncates. Floats: floor(a / b), as TVM computes it (NVIDIA's ONNX parser also avoids
    FLOOR_DIV on floats)."""
    if params.inputs[0].dtype.startswith("int"):
        return elementwise(params, lhs, rhs, "FLOOR_DIV" if rounding == "floor" else "DIV")
    return unary(params, elementwise(params, lhs, rhs, "DIV"), rounding.upper())


class QuotientConverter(TensorRTOpConverter):
    input_types = ("tensor", "tensor")
    rounding = "floor"
    remainder = False  # a - b * quotient, in TVM's order of operations

    def convert(self, params):
        lhs, rhs = lifted_inputs(params)
        result = quotient(params, lhs, rhs, self.rounding)
        if self.remainder:
            result = elementwise(params, lhs, elementwise(params, result, rhs, "PROD"), "SUB")
        return [result]


register_converter("floor_divide")(type("FloorDivideConverter", (QuotientConverter,), {}))
register_converter("floor_mod")(type("FloorModConverter", (QuotientConverter,), {"remainder": True}))
register_converter("mod")(type("TruncModConverter", (QuotientConverter,), {"rounding": "trunc", "remainder": True}))
