"""Shape ops; with static shapes every one of them is a shuffle, slice or concatenation layer.

Implicit batch: check_batch_dim already keeps reshapes that change dim 0 in TVM; the rules here
add what it cannot see from shapes alone (an axis 0 that is inserted, removed, moved or cut while
dim 0 happens to keep its size).
"""

from __future__ import annotations

from ..checks import (ANY_DTYPES, IMPLICIT_HINT, NUMERIC_DTYPES, check_axes_avoid_batch, dims, implicit_batch,
                      is_constant, normalise_axis, rank_of)
from ..symbolic_dims import dim_ast
from ..registry import register_rule

CHANGES_BATCH = "keeps dim 0 (as every op must)"


@register_rule("reshape", dtypes=ANY_DTYPES, dynamic=True, original=("reshape", "nn.batch_flatten"),
               batch_limits=CHANGES_BATCH)
def reshape_rule(call, config):
    return None


@register_rule("flatten", dtypes=ANY_DTYPES, dynamic=True, original="nn.batch_flatten",
               batch_limits="rank <= 1 (it flattens the batch too)",
               limits="Relax flatten makes a 1-D tensor")
def flatten_rule(call, config):
    return None


@register_rule("nn.batch_flatten", dtypes=ANY_DTYPES, dynamic=True, original="nn.batch_flatten")
def batch_flatten_rule(call, config):
    return None


def _moves_batch(perm: list, config) -> str | None:
    if implicit_batch(config) and perm and perm[0] != 0:
        return f"the permutation {tuple(perm)} moves axis 0, the batch dimension ({IMPLICIT_HINT})"
    return None


@register_rule("permute_dims", dtypes=ANY_DTYPES, dynamic=True, original="transpose",
               batch_limits="axes[0] = 0, unless it permutes a constant")
def permute_dims_rule(call, config):
    rank = rank_of(call.args[0])
    if rank == 0:
        return "permute_dims of a scalar is not offloaded"
    axes = call.attrs.axes
    if is_constant(call.args[0]):
        return None  # a constant has no batch dimension to move
    perm = list(reversed(range(rank))) if axes is None else [normalise_axis(int(a), rank) for a in axes]
    return _moves_batch(perm, config)


def index_map_permutation(index_map) -> list | None:
    """The permutation an IndexMap applies, or None when it splits, fuses or pads axes."""
    initial = list(index_map.initial_indices)
    final = list(index_map.final_indices)
    if len(final) != len(initial):
        return None
    perm = []
    for expr in final:
        found = [i for i, var in enumerate(initial) if expr.same_as(var)]
        if not found:
            return None
        perm.append(found[0])
    return perm if sorted(perm) == list(range(len(initial))) else None


def layout_transform_attributes(call) -> dict:
    """The converter needs the permutation only (the rule admitted nothing else)."""
    return {"permutation": index_map_permutation(call.attrs.index_map)}


@register_rule("layout_transform", dtypes=ANY_DTYPES, dynamic=True, original="layout_transform",
               batch_limits="keeps axis 0 first", attributes=layout_transform_attributes,
               limits="a pure permutation of axes (e.g. NCHW <-> NHWC); no splitting or padding")
def layout_transform_rule(call, config):
    perm = index_map_permutation(call.attrs.index_map)
    if perm is None:
        return (f"layout_transform {call.attrs.index_map} is not a permutation of axes; only NCHW<->NHWC-style "
                "transposes are offloaded")
    return _moves_batch(perm, config)


@register_rule("expand_dims", dtypes=ANY_DTYPES, dynamic=True, original="expand_dims", batch_limits="axis != 0")
def expand_dims_rule(call, config):
    return check_axes_avoid_batch([int(a) for a in call.attrs.axis], call.ty.ndim, config, "expand_dims axis")


@register_rule("squeeze", dtypes=ANY_DTYPES, dynamic=True, original="squeeze",
               batch_limits="axis given and without 0 (or dim 0 != 1)")
def squeeze_rule(call, config):
    rank = rank_of(call.args[0])
    if call.attrs.axis is None:
        shape = dims(call.args[0])
        if implicit_batch(config) and shape and shape[0] in (1, -1):
            return f"squeeze without axis would drop axis 0, the batch dimension ({IMPLICIT_HINT})"
        return None
    return check_axes_avoid_batch([int(a) for a in call.attrs.axis], rank, config, "squeeze axis")


@register_rule("concat", dtypes=ANY_DTYPES, dynamic=True, original="concatenate",
               batch_limits="axis != 0; no constant inputs")
def concat_rule(call, config):
    if call.attrs.axis is None:
        return "concat with axis=None (flattening) is not offloaded"
    rank = call.ty.ndim
    reason = check_axes_avoid_batch([int(call.attrs.axis)], rank, config, "concat axis")
    if reason:
        return reason
    if implicit_batch(config) and any(is_constant(f) for f in call.args[0].fields):
        return f"concat of a constant: the constant would fix the batch size ({IMPLICIT_HINT})"
    return None


@register_rule("split", dtypes=ANY_DTYPES, dynamic=True, min_version=(5, 1, 5), original="split",
               batch_limits="axis != 0")
def split_rule(call, config):
    axis = normalise_axis(int(call.attrs.axis), rank_of(call.args[0]))
    if dims(call.args[0])[axis] < 0:
        return f"split along axis {axis}, whose size is symbolic: the slices are computed when the engine is built"
    return check_axes_avoid_batch([axis], rank_of(call.args[0]), config, "split axis")


def slice_spec(call) -> list | None:
    """[(axis, begin, end, stride)] of a strided_slice whose arguments are sizes: ints, or for
    begin/end formats.dims data (a slice to a symbolic length); None when they are not."""
    x, axes, begin, end = call.args[:4]
    strides = call.args[4] if len(call.args) > 4 else None
    groups = [axes.fields, begin.fields, end.fields, strides.fields if strides is not None else None]
    values = []
    for k, group in enumerate(groups):
        if group is None:
            values.append(None)
            continue
        parsed = [dim_ast(v) for v in group]
        if any(p is None or (k in (0, 3) and not isinstance(p, int)) for p in parsed):
            return None
        values.append(parsed)
    axes, begin, end, strides = values
    strides = strides or [1] * len(axes)
    rank = rank_of(x)
    return [(normalise_axis(a, rank), b, e, s) for a, b, e, s in zip(axes, begin, end, strides)]


WHOLE_AXIS_END = 2 ** 31 - 1  # exporters write "to the end" as INT_MAX (or INT64_MAX)


def keeps_whole_axis(begin: int, end: int, stride: int) -> bool:
    return begin == 0 and stride == 1 and end >= WHOLE_AXIS_END


def sliced_range(size: int, begin: int, end: int, stride: int) -> range:
    """What numpy-style slicing (Relax's strided_slice clamps the same way) selects."""
    return range(size)[slice(begin, end, stride)]


@register_rule("strided_slice", dtypes=ANY_DTYPES, dynamic=True, min_version=(5, 1, 5), original="strided_slice",
               batch_limits="axis 0 whole (begin 0, stride 1, end >= dim 0)",
               limits="constant begin/end/strides; strides != 0; at least one element per axis",
               argument_names=("x", "axes", "begin", "end", "strides"))
def strided_slice_rule(call, config):
    spec = slice_spec(call)
    if spec is None:
        return "strided_slice needs constant axes and strides, and begin/end that are sizes"
    shape = dims(call.args[0])
    for axis, begin, end, stride in spec:
        if stride == 0:
            return f"strided_slice stride 0 on axis {axis}"
        if not (isinstance(begin, int) and isinstance(end, int)):
            if stride != 1 or (isinstance(begin, int) and begin < 0):
                return (f"strided_slice to a symbolic length on axis {axis} needs stride 1 and a begin >= 0 "
                        "(a constant or a size)")
            continue  # Relax sized the output (its assume_inbound contract); the engine reads that size
        if axis == 0 and implicit_batch(config) and (begin != 0 or stride != 1 or (shape[0] < 0 or end < shape[0])):
            return f"strided_slice cuts axis 0, the batch dimension ({IMPLICIT_HINT})"
        if shape[axis] < 0 and not keeps_whole_axis(begin, end, stride):
            return (f"strided_slice cuts axis {axis}, whose size is symbolic: only a slice that keeps the whole "
                    "axis (begin 0, stride 1, no end) is offloaded there")
        if shape[axis] >= 0 and len(sliced_range(shape[axis], begin, end, stride)) == 0:
            return f"strided_slice selects nothing on axis {axis}"
    return None


PAD_MODES = ("constant", "reflect", "replicate", "circular")


@register_rule("nn.pad", dtypes=NUMERIC_DTYPES, original="nn.pad", batch_limits="no padding on axis 0",
               limits="modes constant (any value), reflect (pad < dim), replicate, circular (pad <= dim); "
                      "no negative pads")
def pad_rule(call, config):
    attrs = call.attrs
    widths = [int(w) for w in attrs.pad_width]
    before, after = widths[0::2], widths[1::2]
    if attrs.pad_mode not in PAD_MODES:
        return f"pad mode {attrs.pad_mode!r} is not one of {PAD_MODES}"
    if any(w < 0 for w in widths):
        return f"negative pad widths {tuple(widths)} (cropping) are not offloaded"
    if implicit_batch(config) and (before[0] or after[0]):
        return f"pad widths {tuple(widths)} pad axis 0, the batch dimension ({IMPLICIT_HINT})"
    shape = dims(call.args[0])
    for axis, (b, a) in enumerate(zip(before, after)):
        size = shape[axis]
        if attrs.pad_mode == "reflect" and max(b, a) >= size > 0:
            return f"reflect padding {max(b, a)} on axis {axis} must be smaller than its size {size}"
        if attrs.pad_mode == "circular" and max(b, a) > size > 0:
            return f"circular padding {max(b, a)} on axis {axis} must not exceed its size {size}"
    return None
