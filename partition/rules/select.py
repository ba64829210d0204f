"""Masks and selection: comparisons, logic, NaN/inf tests, where, tril/triu.

These carry bool tensors between float or integer ones, so each rule declares every dtype and
checks which operand may have which. Broadcasting follows the element-wise rules (same
implicit-batch limits).
"""

from ..checks import (ANY_DTYPES, FLOAT_DTYPES, IMPLICIT_HINT, NUMERIC_DTYPES, dtype_of, first_reason,
                      implicit_batch, rank_of)
from ..registry import register_rule
from .elementwise import BATCH_LIMITS, broadcast_reason
from .gates import TENSORRT_10

BROADCASTING = "numpy-broadcastable shapes"


def operands_in(call, dtypes: tuple, what: str):
    for i, arg in enumerate(call.args):
        dtype = dtype_of(arg.ty)
        if dtype not in dtypes:
            return f"input {i} has dtype {dtype}; {what} in TensorRT take {'/'.join(dtypes)} tensors"
    return None


def comparison_rule(call, config):
    # TensorRT compares numbers only; bool masks compare with logical_xor / logical_not.
    return first_reason(operands_in(call, NUMERIC_DTYPES, "comparisons"), broadcast_reason(call, config))


COMPARISON = {"dynamic": True, "min_version": TENSORRT_10, "dtypes": ANY_DTYPES, "batch_limits": BATCH_LIMITS,
              "limits": f"{BROADCASTING}; numeric operands"}
register_rule("equal", **COMPARISON)(comparison_rule)
register_rule("not_equal", **COMPARISON)(comparison_rule)
register_rule("less", **COMPARISON)(comparison_rule)
register_rule("less_equal", **COMPARISON)(comparison_rule)
register_rule("greater", **COMPARISON)(comparison_rule)
register_rule("greater_equal", **COMPARISON)(comparison_rule)

LOGICAL = {"dynamic": True, "min_version": TENSORRT_10, "dtypes": ("bool",), "batch_limits": BATCH_LIMITS,
           "limits": BROADCASTING}
register_rule("logical_and", **LOGICAL)(broadcast_reason)
register_rule("logical_or", **LOGICAL)(broadcast_reason)
register_rule("logical_xor", **LOGICAL)(broadcast_reason)


@register_rule("logical_not", dynamic=True, min_version=TENSORRT_10, dtypes=("bool",))
def logical_not_rule(call, config):
    return None


def float_test_rule(call, config):
    # ISNAN/ISINF take float tensors only (on integers TVM's answer is all False anyway).
    return operands_in(call, FLOAT_DTYPES, "ISNAN and ISINF")


FLOAT_TEST = {"dynamic": True, "min_version": TENSORRT_10, "dtypes": ANY_DTYPES, "limits": "float inputs"}
register_rule("isnan", **FLOAT_TEST)(float_test_rule)
register_rule("isinf", **FLOAT_TEST)(float_test_rule)
register_rule("isfinite", **FLOAT_TEST)(float_test_rule)


# Relax's where already requires a bool condition and equal dtypes for the values.
register_rule("where", dynamic=True, min_version=TENSORRT_10, dtypes=ANY_DTYPES, batch_limits=BATCH_LIMITS,
              limits=BROADCASTING)(broadcast_reason)


def triangle_rule(call, config):
    """The mask is a constant over the last two axes: k must be known, and in implicit-batch
    mode those axes must not include the batch."""
    k = call.args[1]
    value = getattr(k, "value", k)  # an IntImm, or a PrimValue holding one
    if not isinstance(getattr(value, "value", value), int):
        return f"{call.op.name[6:]} k = {k} is not known at compile time; the mask is a constant"
    if implicit_batch(config) and rank_of(call.args[0]) < 3:
        return (f"{call.op.name[6:]} of a rank-{rank_of(call.args[0])} input masks axis 0, the batch "
                f"dimension ({IMPLICIT_HINT})")
    return None


TRIANGLE = {"min_version": TENSORRT_10, "dtypes": ANY_DTYPES, "batch_limits": "rank >= 3 (the mask spans the last "
            "two axes)", "limits": "k known at compile time"}
register_rule("tril", **TRIANGLE)(triangle_rule)
register_rule("triu", **TRIANGLE)(triangle_rule)
