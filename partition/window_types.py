"""The output type of a convolution or pooling call, computed from its attributes.

TVM infers these types through layout transforms that it builds and simplifies for every call:
0.5-0.8 ms a call, against 10 us for the rest of importing one. That was 0.04 s of ResNet-50's
import (53 convolutions) and the largest part of SqueezeNet's. Where every dim is static and
the layout is channels-first (what ONNX gives), the type is plain arithmetic; anything else
(symbolic dims, other layouts, inconsistent channels) is left to TVM, which also raises its own
errors for what is malformed. tests/test_window_types.py checks these types against TVM's
inference over a sweep of shapes, strides, pads, dilations and ceil modes.
"""

from __future__ import annotations

from typing import Optional

import tvm
from tvm import relax

from .checks import listed, static_shape
from .graph import op_name, retyped

CONVOLUTIONS = {"nn.conv1d", "nn.conv2d", "nn.conv3d"}
POOLS = {f"nn.{kind}_pool{rank}d" for kind in ("max", "avg") for rank in (1, 2, 3)}
_SPATIAL = {1: "W", 2: "HW", 3: "DHW"}


def _window_out(size: int, kernel: int, stride: int, dilation: int, before: int, after: int, ceil: bool) -> int:
    span = size + before + after - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil else 0)) // stride + 1
    if ceil and (out - 1) * stride >= size + before:  # no window may start in the end padding
        out -= 1
    return out


def _spatial_out(shape: tuple, kernel, attrs, ceil: bool) -> list:
    rank = len(shape) - 2
    kernel, pads, strides, dilation = ([int(v) for v in listed(a)] for a in
                                       (kernel, attrs.padding, attrs.strides, attrs.dilation))
    return [_window_out(shape[2 + i], kernel[i], strides[i], dilation[i], pads[i], pads[rank + i], ceil)
            for i in range(rank)]


def window_type(call) -> Optional[relax.TensorType]:
    """The type TVM would infer for a conv1d-3d or max/avg pool1d-3d call; None where this
    cannot be sure (then TVM infers it)."""
    name = op_name(call)
    if name not in CONVOLUTIONS and name not in POOLS:
        return None
    data = call.args[0]
    shape = static_shape(data.ty)
    if shape is None or len(shape) < 3:
        return None
    attrs, layout = call.attrs, "NC" + _SPATIAL.get(len(shape) - 2, "?")
    if name in POOLS:
        if str(attrs.layout) != layout or str(attrs.out_layout) != layout:
            return None
        dims = _spatial_out(shape, attrs.pool_size, attrs, bool(attrs.ceil_mode))
        channels, dtype = shape[1], str(data.ty.dtype)
    else:
        weight = static_shape(call.args[1].ty)
        if weight is None or len(weight) != len(shape) or str(attrs.data_layout) != layout \
                or str(attrs.out_layout) != layout or str(attrs.kernel_layout) != "OI" + layout[2:]:
            return None
        ints = [[int(v) for v in listed(a)] for a in (attrs.strides, attrs.padding, attrs.dilation)]
        return conv_type(shape, str(data.ty.dtype), weight, str(call.args[1].ty.dtype), *ints, int(attrs.groups),
                         None if attrs.out_dtype is None else str(attrs.out_dtype))
    if min(dims) <= 0:
        return None
    return relax.TensorType([shape[0], channels, *dims], dtype)


def conv_type(shape, dtype: str, weight, weight_dtype: str, strides, pads, dilations, groups: int,
              out_dtype: Optional[str] = None) -> Optional[relax.TensorType]:
    """A channels-first convolution's type from plain ints (strides, dilations: one per spatial
    dim; pads: the begins, then the ends), or None where TVM's inference should say what is wrong."""
    rank = len(shape) - 2
    if len(weight) != len(shape) or len(strides) != rank or len(dilations) != rank or len(pads) != 2 * rank:
        return None
    if shape[1] != weight[1] * groups or weight[0] % groups or weight_dtype != dtype:
        return None
    dims = [_window_out(shape[2 + i], weight[2 + i], strides[i], dilations[i], pads[i], pads[rank + i], False)
            for i in range(rank)]
    if min(dims) <= 0:
        return None
    return relax.TensorType([shape[0], weight[0], *dims], dtype if out_dtype is None else out_dtype)


def window_typed(expr):
    """`expr` with its type set when it is a sliding-window call whose type window_type knows,
    so that normalizing it skips TVM's inference."""
    ty = window_type(expr) if isinstance(expr, relax.Call) and type(expr.ty) is tvm.ir.Type else None
    return retyped(expr, ty) if ty is not None else expr
