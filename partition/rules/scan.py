"""Scans and selections along one axis: cumsum (TensorRT's cumulative layer), topk, and argmax /
argmin as a top-1 (TensorRT's topk layer, whose int32 indices are cast to Relax's dtype).

TensorRT's topk takes k <= 3840 and does not document how it orders equal values, so ties may
come back in another order than TVM's (random float data has none)."""

from ..checks import (FLOAT_DTYPES, IMPLICIT_HINT, INT_DTYPES, NUMERIC_DTYPES, check_axes_avoid_batch, check_version,
                      dims, dtype_of, implicit_batch, rank_of)
from ..registry import register_rule
from .gates import TENSORRT_10

MAX_TOPK_K = 3840  # TensorRT's kMAX_TOPK_K
TOPK_DATA_DTYPES = FLOAT_DTYPES + ("int32",)


def axis_reason(call, op: str, config):
    """The scanned axis: given, and not the batch (axis=None flattens the data, batch included)."""
    rank = rank_of(call.args[0])
    if rank == 0:
        return f"{op} of a scalar is not offloaded"
    axis = call.attrs.axis
    if axis is None:
        if implicit_batch(config):
            return f"{op} with axis=None flattens the data, batch dimension included ({IMPLICIT_HINT})"
        return None
    return check_axes_avoid_batch([int(axis)], rank, config, f"{op} axis")


def data_reason(call, op: str):
    dtype = dtype_of(call.args[0].ty)
    if dtype not in TOPK_DATA_DTYPES:
        return f"{op} of {dtype} data: TensorRT's topk takes {'/'.join(TOPK_DATA_DTYPES)}"
    return None


@register_rule("cumsum", dynamic=True, min_version=TENSORRT_10, dtypes=NUMERIC_DTYPES,
               batch_limits="axis given and != 0", limits="dtype = input dtype")
def cumsum_rule(call, config):
    dtype, data_dtype = call.attrs.dtype, dtype_of(call.args[0].ty)
    if dtype is not None and str(dtype) not in ("", "void", data_dtype):
        return f"cumsum dtype {dtype} differs from its input dtype {data_dtype}"
    return axis_reason(call, "cumsum", config)


@register_rule("topk", dtypes=FLOAT_DTYPES + INT_DTYPES, batch_limits="axis != 0",
               limits=f"k <= {MAX_TOPK_K} (k < 1: the whole axis); data {'/'.join(TOPK_DATA_DTYPES)}")
def topk_rule(call, config):
    reason = data_reason(call, "topk") or axis_reason(call, "topk", config)
    if reason:
        return reason
    k = int(call.attrs.k)
    if k < 1:
        k = dims(call.args[0])[int(call.attrs.axis)]
    if k > MAX_TOPK_K:
        return f"topk k={k} exceeds TensorRT's limit of {MAX_TOPK_K}"
    if str(call.attrs.dtype) == "int64":
        return check_version(config, TENSORRT_10, "topk with int64 indices")
    return None


def arg_reduce_rule(call, config):
    op = call.op.name.removeprefix("relax.")
    return data_reason(call, op) or axis_reason(call, op, config)


ARG_REDUCE_LIMITS = f"data {'/'.join(TOPK_DATA_DTYPES)} (int64 output: TensorRT >= 10)"
# A top-1 along the axis, whatever its length (dynamic=True): CLIP's text pooling takes the argmax
# of token ids over a symbolic sequence.
register_rule("argmax", min_version=TENSORRT_10, dtypes=TOPK_DATA_DTYPES + ("int64",), dynamic=True,
              batch_limits="axis given and != 0", limits=ARG_REDUCE_LIMITS)(arg_reduce_rule)
register_rule("argmin", min_version=TENSORRT_10, dtypes=TOPK_DATA_DTYPES + ("int64",), dynamic=True,
              batch_limits="axis given and != 0", limits=ARG_REDUCE_LIMITS)(arg_reduce_rule)
