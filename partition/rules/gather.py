"""Gathers: take (TensorRT gather, DEFAULT mode), gather_elements (ELEMENT) and gather_nd (ND).

Negative and out-of-range indices are where TVM and TensorRT differ. TensorRT wraps an index in
[-d, 0) once and fails on the rest. TVM's take has three modes: "fast" reads memory at the raw
index (out of bounds for a negative one), "wrap" takes the index modulo d, "clip" clamps it to
[0, d - 1]; the converter computes wrap and clip in the network, so those are exact for any
index. gather_elements and gather_nd read at the raw index like "fast". TVM's ONNX importer
maps negative indices into range before these ops, so computed indices are taken as in range
(as TVM itself assumes); constant indices are checked, since a negative one would make TVM
read out of bounds while TensorRT wrapped it.
"""

import numpy as np

from ..checks import (ANY_DTYPES, IMPLICIT_HINT, INT_DTYPES, NUMERIC_DTYPES, check_axes_avoid_batch, dims, dtype_of, first_reason,
                      implicit_batch, is_constant, normalise_axis, rank_of)
from ..registry import register_rule

IN_RANGE_NOTE = "computed indices are taken as in range, as TVM assumes"


def indices_reason(indices, op: str):
    dtype = dtype_of(indices.ty)
    if dtype not in INT_DTYPES:
        return f"{op} indices have dtype {dtype}; TensorRT's gather takes int32/int64 indices"
    return None


def constant_out_of_range(indices, extents, op: str, fix: str = ""):
    """Constant indices outside [0, extent) for the extent of their position; `extents` is one
    int for every index, or one per entry of the last indices axis (gather_nd); a symbolic
    extent (-1) bounds them below only."""
    if not is_constant(indices):
        return None
    values = np.asarray(indices.value.numpy()).astype(np.int64)
    bound = np.asarray(extents, dtype=np.int64)
    upper = np.where(bound < 0, np.iinfo(np.int64).max, bound)
    bad = values[(values < 0) | (values >= upper)] if values.size else values
    if not bad.size:
        return None
    extent = "d" if np.any(bound < 0) else int(np.max(bound))
    return (f"{op} has constant index {int(bad.flat[0])} outside [0, {extent}); TVM reads out of bounds "
            f"there while TensorRT wraps or fails{fix}")


@register_rule("take", dynamic=True, dtypes=ANY_DTYPES, batch_limits="axis != 0 (1-D data always reads it)",
               limits=f"int32/int64 indices; mode fast: constant indices within [0, d) ({IN_RANGE_NOTE}); "
                      "wrap and clip: any index, on an axis of static size")
def take_rule(call, config):
    data, indices = call.args
    rank = rank_of(data)
    axis = 0 if call.attrs.axis is None else normalise_axis(int(call.attrs.axis), rank)
    reason = first_reason(indices_reason(indices, "take"),
                          "take from a scalar is not offloaded" if rank == 0 else None)
    if reason:
        return reason
    if not (is_constant(data) and axis == 0 and rank_of(indices) >= 1):  # an embedding lookup keeps the batch
        reason = check_axes_avoid_batch([axis], rank, config, "take axis")
        if reason:
            return reason
    if str(call.attrs.mode) == "fast":
        return constant_out_of_range(indices, dims(data)[axis], "take mode='fast'", " (mode='wrap' or 'clip' is exact)")
    if dims(data)[axis] < 0:
        return f"take mode='{call.attrs.mode}' on a symbolic axis: the converter adjusts indices by its static size"
    return None


@register_rule("gather_elements", dynamic=True, min_version=(8, 2, 0), dtypes=ANY_DTYPES, batch_limits="axis != 0",
               limits=f"int32/int64 indices; constant indices within [0, d) ({IN_RANGE_NOTE})")
def gather_elements_rule(call, config):
    data, indices = call.args
    rank = rank_of(data)
    if rank == 0:
        return "gather_elements of a scalar is not offloaded"
    axis = normalise_axis(int(call.attrs.axis), rank)
    return first_reason(indices_reason(indices, "gather_elements"),
                        check_axes_avoid_batch([axis], rank, config, "gather_elements axis"),
                        constant_out_of_range(indices, dims(data)[axis], "gather_elements"))


@register_rule("gather_nd", dynamic=True, min_version=(8, 2, 0), dtypes=ANY_DTYPES, batch_limits="batch_dims >= 1",
               limits=f"int32/int64 indices; constant indices within the data's extents ({IN_RANGE_NOTE})")
def gather_nd_rule(call, config):
    data, indices = call.args
    batch_dims = int(call.attrs.batch_dims)
    reason = indices_reason(indices, "gather_nd")
    if reason:
        return reason
    if rank_of(indices) == 0:
        return "gather_nd with scalar indices is not offloaded"
    if implicit_batch(config) and batch_dims < 1:
        return f"gather_nd with batch_dims=0 indexes into axis 0, the batch dimension ({IMPLICIT_HINT})"
    depth = dims(indices)[-1]
    return constant_out_of_range(indices, dims(data)[batch_dims:batch_dims + depth], "gather_nd")


@register_rule("scatter_nd", dynamic=True, min_version=(8, 2, 0), dtypes=NUMERIC_DTYPES,
               limits=f"reduction update (none); int32/int64 indices; constant indices within the data's extents "
                      f"({IN_RANGE_NOTE}); duplicate indices: one of the updates, as ONNX leaves it")
def scatter_nd_rule(call, config):
    """TensorRT's scatter layer in ND mode. BEiT builds its relative-position index with
    ScatterND over the grid size; a reduction (add, mul, ...) has no TensorRT scatter mode."""
    data, indices, _ = call.args
    reduction = str(call.attrs.reduction)
    if reduction != "update":
        return f"scatter_nd with reduction {reduction!r}: TensorRT's scatter layer only replaces values"
    reason = indices_reason(indices, "scatter_nd")
    if reason:
        return reason
    if rank_of(indices) == 0:
        return "scatter_nd with scalar indices is not offloaded"
    if implicit_batch(config):
        return f"scatter_nd indexes into axis 0, the batch dimension ({IMPLICIT_HINT})"
    return constant_out_of_range(indices, dims(data)[:dims(indices)[-1]], "scatter_nd")
