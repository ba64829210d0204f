"""Masks and selection: comparisons, logic, NaN/inf tests, where, tril/triu."""

import numpy as np

from .base import TensorRTOpConverter, register_converter
from .helpers import elementwise, lifted_inputs, scalar_constant, tensor_of, unary

class ComparisonConverter(TensorRTOpConverter):
    input_types = ("tensor", "tensor")
    operations: tuple = ()

    def convert(self, params):
        lhs, rhs = lifted_inputs(params)
        found = [elementwise(params, lhs, rhs, op) for op in self.operations]
        result = found[0]
        for other in found[1:]:
            result = elementwise(params, result, other, "OR")
        return [result]


def comparison_converter(name: str, *operations: str) -> type:
    """The OR of ordered comparisons (trt.ElementWiseOperation names)."""
    return type(f"{name}Converter", (ComparisonConverter,), {"operations": operations})


# TVM compares with ordered predicates (NaN is unequal, unordered and not-equal to everything,
# LLVM's `one`), so the derived comparisons are ORs of ordered ones: NOT(EQUAL) would call NaN
# not-equal, and NOT(GREATER) would call it less-or-equal.
register_converter("equal")(comparison_converter("Equal", "EQUAL"))
register_converter("less")(comparison_converter("Less", "LESS"))
register_converter("greater")(comparison_converter("Greater", "GREATER"))
register_converter("not_equal")(comparison_converter("NotEqual", "LESS", "GREATER"))
register_converter("less_equal")(comparison_converter("LessEqual", "LESS", "EQUAL"))
register_converter("greater_equal")(comparison_converter("GreaterEqual", "GREATER", "EQUAL"))


class LogicalConverter(TensorRTOpConverter):
    input_types = ("tensor", "tensor")
    operation = ""

    def convert(self, params):
        return [elementwise(params, *lifted_inputs(params), self.operation)]


register_converter("logical_and")(type("AndConverter", (LogicalConverter,), {"operation": "AND"}))
register_converter("logical_or")(type("OrConverter", (LogicalConverter,), {"operation": "OR"}))
register_converter("logical_xor")(type("XorConverter", (LogicalConverter,), {"operation": "XOR"}))


class UnaryTestConverter(TensorRTOpConverter):
    operation = ""

    def convert(self, params):
        return [unary(params, tensor_of(params, 0), self.operation)]


register_converter("logical_not")(type("NotConverter", (UnaryTestConverter,), {"operation": "NOT"}))
register_converter("isnan")(type("IsnanConverter", (UnaryTestConverter,), {"operation": "ISNAN"}))
register_converter("isinf")(type("IsinfConverter", (UnaryTestConverter,), {"operation": "ISINF"}))


@register_converter("isfinite")
class IsFiniteConverter(TensorRTOpConverter):
    def convert(self, params):
        x = tensor_of(params, 0)
        special = elementwise(params, unary(params, x, "ISNAN"), unary(params, x, "ISINF"), "OR")
        return [unary(params, special, "NOT")]


@register_converter("where")
class WhereConverter(TensorRTOpConverter):
    input_types = ("tensor", "tensor", "tensor")

    def convert(self, params):
        return [params.network.add_select(*lifted_inputs(params)).get_output(0)]


class TriangleConverter(TensorRTOpConverter):
    """A constant mask over the last two axes selects x or zero: the mask is known when the
    engine is built, so TensorRT can fold it."""

    @staticmethod
    def keep(row, col, k):
        raise NotImplementedError

    def convert(self, params):
        item = params.inputs[0]
        rows, cols = item.shape[-2:]
        mask = self.keep(np.arange(rows)[:, None], np.arange(cols)[None, :], int(params.attrs["k"]))
        mask = params.constant(mask.reshape((1,) * (len(item.shape) - 2) + (rows, cols)))
        zero = scalar_constant(params, 0, item.dtype, len(item.shape))
        return [params.network.add_select(mask, tensor_of(params, 0), zero).get_output(0)]


@register_converter("tril")
class TrilConverter(TriangleConverter):
    @staticmethod
    def keep(row, col, k):
        return col - row <= k


@register_converter("triu")
class TriuConverter(TriangleConverter):
    @staticmethod
    def keep(row, col, k):
        return col - row >= k
