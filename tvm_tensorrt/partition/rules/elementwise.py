"""Binary element-wise ops with numpy broadcasting (TensorRT broadcasts equal-rank inputs;
the converter lifts the lower-rank side, so any numpy-broadcastable pair is fine)."""

from ..checks import static_shape
from ..registry import register_rule


def broadcast_reason(call, config):
    lhs, rhs = (static_shape(a.ty) for a in call.args)
    for a, b in zip(reversed(lhs), reversed(rhs)):
        if a != b and 1 not in (a, b):
            return f"shapes {lhs} and {rhs} do not broadcast"
    return None


for _name in ("add", "subtract", "multiply", "divide", "maximum", "minimum"):
    register_rule(_name)(broadcast_reason)
