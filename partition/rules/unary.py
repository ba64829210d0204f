"""Element-wise math: a TensorRT unary layer each (rsqrt and square compose two), exact for
float tensors of any shape; abs, square and sign also for integers.

The gates are the TensorRT releases whose unary layer gained each operation (see gates.py for
the newer ones).
"""

from ..checks import NUMERIC_DTYPES
from ..registry import register_rule
from .gates import TENSORRT_10


def no_limits(call, config):
    return None


for _name in ("exp", "log", "sqrt", "negative"):
    register_rule(_name, dynamic=True, original=_name)(no_limits)
register_rule("abs", dynamic=True, original="abs", dtypes=NUMERIC_DTYPES)(no_limits)  # ABS takes int32/int64 too
for _name in ("sin", "cos", "atan", "ceil", "floor"):
    register_rule(_name, dynamic=True, min_version=(5, 1, 5), original=_name)(no_limits)
register_rule("erf", dynamic=True, min_version=(7, 0, 0), original="erf")(no_limits)


for _name in ("tan", "sinh", "cosh", "asin", "acos", "asinh", "acosh", "atanh"):
    register_rule(_name, dynamic=True, min_version=(5, 1, 5))(no_limits)  # in the unary layer since sin/cos/atan
register_rule("rsqrt", dynamic=True)(no_limits)  # RECIP(SQRT(x)), as TVM computes it
register_rule("square", dynamic=True, dtypes=NUMERIC_DTYPES)(no_limits)  # x * x, exact for integers too
register_rule("round", dynamic=True, min_version=TENSORRT_10)(no_limits)  # halves to even in both
register_rule("sign", dynamic=True, min_version=TENSORRT_10, dtypes=NUMERIC_DTYPES,
              limits="sign(NaN) is 0 in TVM and may differ")(no_limits)
