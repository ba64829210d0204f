"""Binary element-wise ops with numpy broadcasting (TensorRT broadcasts equal-rank inputs;
the converter lifts the lower-rank side, so any numpy-broadcastable pair is fine).

Implicit batch: broadcasting must not stretch anything over the batch dimension. A computed
operand needs the output's rank (a lower-rank one would line its dim 0 up with a non-batch axis),
and a constant of the output's rank must have dim 0 == 1, or it would tie the engine to one
batch size.
"""

from itertools import zip_longest

from ..checks import FLOAT_DTYPES, IMPLICIT_HINT, NUMERIC_DTYPES, dims, dtype_of, implicit_batch, is_constant
from ..registry import register_rule
from .gates import TENSORRT_10

BATCH_LIMITS = ("computed operands of the output's rank; constants of that rank need dim 0 = 1 "
                "(nothing broadcasts over the batch)")


def broadcast_reason(call, config):
    """For any number of operands (where takes three)."""
    shapes = [dims(a) for a in call.args]
    for i, (arg, shape) in enumerate(zip(call.args, shapes)):
        if shape is None:  # a bare size (canonicalize makes these tensors) or a tensor of unknown rank
            return f"operand {i} is {arg.ty}, not a tensor of known rank"
    for sizes in zip_longest(*(reversed(s) for s in shapes), fillvalue=1):
        if len(set(sizes) - {1}) > 1:
            return f"shapes {' and '.join(map(str, shapes))} do not broadcast"
    if implicit_batch(config):
        out_rank = call.ty.ndim
        for i, arg in enumerate(call.args):
            shape = dims(arg)
            if not is_constant(arg) and len(shape) != out_rank:
                return (f"input {i} has rank {len(shape)} < {out_rank}: broadcasting it would line its dim 0 up "
                        f"with a non-batch axis ({IMPLICIT_HINT})")
            if is_constant(arg) and len(shape) == out_rank and shape[0] != 1:
                return (f"constant input {i} {shape} spans the batch dimension; it must broadcast over it "
                        f"(dim 0 = 1) ({IMPLICIT_HINT})")
    return None


# Integer add/subtract/multiply/max/min are exact in TensorRT's element-wise layer; integer
# divide and power are not offered (TVM truncates where TensorRT's DIV may not).
BINARY = {"dynamic": True, "batch_limits": BATCH_LIMITS, "limits": "numpy-broadcastable shapes"}
register_rule("add", original=("add", "nn.bias_add"), dtypes=NUMERIC_DTYPES, **BINARY)(broadcast_reason)
register_rule("subtract", original="subtract", dtypes=NUMERIC_DTYPES, **BINARY)(broadcast_reason)
register_rule("multiply", original="multiply", dtypes=NUMERIC_DTYPES, **BINARY)(broadcast_reason)
register_rule("divide", original="divide", dtypes=None, **BINARY)(broadcast_reason)
register_rule("power", original="power", dtypes=None, **BINARY)(broadcast_reason)
register_rule("maximum", original="maximum", dtypes=NUMERIC_DTYPES, **BINARY)(broadcast_reason)
register_rule("minimum", original="minimum", dtypes=NUMERIC_DTYPES, **BINARY)(broadcast_reason)



# Integer quotients floor (FLOOR_DIV) or truncate (DIV) exactly as TVM does; float ones are
# floor(a / b), which is also how TVM computes floor_mod of floats.
register_rule("floor_divide", min_version=TENSORRT_10, dtypes=NUMERIC_DTYPES, **BINARY)(broadcast_reason)
register_rule("floor_mod", min_version=TENSORRT_10, dtypes=NUMERIC_DTYPES, **BINARY)(broadcast_reason)


@register_rule("mod", dynamic=True, min_version=TENSORRT_10, batch_limits=BATCH_LIMITS, dtypes=NUMERIC_DTYPES,
               limits="numpy-broadcastable integer tensors")
def mod_rule(call, config):
    """TVM's float `mod` is fmod, exact; no composition of TensorRT layers reproduces it."""
    dtype = dtype_of(call.args[0].ty)
    if dtype in FLOAT_DTYPES:
        return (f"mod of {dtype} tensors is fmod in TVM, computed exactly; TensorRT has no fmod and "
                "a - b * trunc(a / b) rounds differently (use floor_mod, or integer tensors)")
    return broadcast_reason(call, config)
