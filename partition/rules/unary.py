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


# Each op key written out, so a search for it finds its rule and its converter.
register_rule("exp", dynamic=True, original="exp")(no_limits)
register_rule("log", dynamic=True, original="log")(no_limits)
register_rule("sqrt", dynamic=True, original="sqrt")(no_limits)
register_rule("negative", dynamic=True, original="negative")(no_limits)
register_rule("abs", dynamic=True, original="abs", dtypes=NUMERIC_DTYPES)(no_limits)  # ABS takes int32/int64 too
register_rule("sin", dynamic=True, min_version=(5, 1, 5), original="sin")(no_limits)
register_rule("cos", dynamic=True, min_version=(5, 1, 5), original="cos")(no_limits)
register_rule("atan", dynamic=True, min_version=(5, 1, 5), original="atan")(no_limits)
register_rule("ceil", dynamic=True, min_version=(5, 1, 5), original="ceil")(no_limits)
register_rule("floor", dynamic=True, min_version=(5, 1, 5), original="floor")(no_limits)
register_rule("erf", dynamic=True, min_version=(7, 0, 0), original="erf")(no_limits)

# in the unary layer since sin/cos/atan
register_rule("tan", dynamic=True, min_version=(5, 1, 5))(no_limits)
register_rule("sinh", dynamic=True, min_version=(5, 1, 5))(no_limits)
register_rule("cosh", dynamic=True, min_version=(5, 1, 5))(no_limits)
register_rule("asin", dynamic=True, min_version=(5, 1, 5))(no_limits)
register_rule("acos", dynamic=True, min_version=(5, 1, 5))(no_limits)
register_rule("asinh", dynamic=True, min_version=(5, 1, 5))(no_limits)
register_rule("acosh", dynamic=True, min_version=(5, 1, 5))(no_limits)
register_rule("atanh", dynamic=True, min_version=(5, 1, 5))(no_limits)
register_rule("rsqrt", dynamic=True)(no_limits)  # RECIP(SQRT(x)), as TVM computes it
register_rule("square", dynamic=True, dtypes=NUMERIC_DTYPES)(no_limits)  # x * x, exact for integers too
register_rule("round", dynamic=True, min_version=TENSORRT_10)(no_limits)  # halves to even in both
register_rule("sign", dynamic=True, min_version=TENSORRT_10, dtypes=NUMERIC_DTYPES,
              limits="sign(NaN) is 0 in TVM and may differ")(no_limits)
