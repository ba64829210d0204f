"""Element-wise math: one TensorRT unary layer each, exact for float tensors of any shape.

The gates are the TensorRT releases whose unary layer gained each operation.
"""

from ..registry import register_rule


def no_limits(call, config):
    return None


for _name in ("exp", "log", "sqrt", "abs", "negative"):
    register_rule(_name, original=_name)(no_limits)
for _name in ("sin", "cos", "atan", "ceil", "floor"):
    register_rule(_name, min_version=(5, 1, 5), original=_name)(no_limits)
register_rule("erf", min_version=(7, 0, 0), original="erf")(no_limits)
