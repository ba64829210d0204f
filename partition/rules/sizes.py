"""Ops that turn sizes into data: shape_to_tensor and arange (position ids, causal masks).

On static shapes the folding before partitioning already made them constants; what reaches
these rules has symbolic sizes, which the engine computes from its inputs' shapes at run time
(the partitioner makes sure an input of the subgraph carries every size variable used).
"""

from tvm import relax

from ..checks import INT_DTYPES
from ..symbolic_dims import dim_ast, is_size, tir_vars
from ..registry import register_rule
from .gates import TENSORRT_10


def _size_reason(size, what: str):
    if dim_ast(size) is None:
        return f"{what} {size} is an expression the TensorRT runtime cannot evaluate"
    return None


@register_rule("shape_to_tensor", dtypes=INT_DTYPES, dynamic=True, min_version=TENSORRT_10,
               limits="sizes that are ints, shape variables or +, -, *, //, %, max, min of them")
def shape_to_tensor_rule(call, config):
    shape = call.args[0]
    if not isinstance(shape, relax.ShapeExpr):
        return "shape_to_tensor of a shape computed at run time (not a shape expression)"
    for size in shape.values:
        reason = _size_reason(size, "size")
        if reason:
            return reason
    return None


@register_rule("arange", dtypes=INT_DTYPES + ("float32", "float16"), dynamic=True, min_version=TENSORRT_10,
               limits="start and end sizes; step a constant != 0")
def arange_rule(call, config):
    for name, arg in zip(("start", "end", "step"), call.args):
        if not is_size(arg):
            return f"arange {name} must be an integer size, got {arg}"
        reason = _size_reason(arg, f"arange {name}")
        if reason:
            return reason
    step = call.args[2]
    if tir_vars(step) or int(step) == 0:
        return f"arange step {step}: the converter needs a constant step != 0 to count the values"
    return None
