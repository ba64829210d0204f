"""Binary element-wise ops with numpy broadcasting (TensorRT broadcasts equal-rank inputs;
the converter lifts the lower-rank side, so any numpy-broadcastable pair is fine).

Implicit batch: broadcasting must not stretch anything over the batch dimension. A computed
operand needs the output's rank (a lower-rank one would line its dim 0 up with a non-batch axis),
and a constant of the output's rank must have dim 0 == 1, or it would tie the engine to one
batch size.
"""

from ..checks import IMPLICIT_HINT, NUMERIC_DTYPES, dims, implicit_batch, is_constant
from ..registry import register_rule

BATCH_LIMITS = ("computed operands of the output's rank; constants of that rank need dim 0 = 1 "
                "(nothing broadcasts over the batch)")


def broadcast_reason(call, config):
    lhs, rhs = (dims(a) for a in call.args)
    for a, b in zip(reversed(lhs), reversed(rhs)):
        if a != b and 1 not in (a, b):
            return f"shapes {lhs} and {rhs} do not broadcast"
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
for _name, _original, _dtypes in (("add", ("add", "nn.bias_add"), NUMERIC_DTYPES),
                                  ("subtract", "subtract", NUMERIC_DTYPES), ("multiply", "multiply", NUMERIC_DTYPES),
                                  ("divide", "divide", None), ("power", "power", None),
                                  ("maximum", "maximum", NUMERIC_DTYPES), ("minimum", "minimum", NUMERIC_DTYPES)):
    register_rule(_name, original=_original, batch_limits=BATCH_LIMITS, dtypes=_dtypes,
                  limits="numpy-broadcastable shapes")(broadcast_reason)
