"""Window arithmetic shared by convolution and pooling: output size and padding per axis, and
a strided view of every output position's window."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .core import _LayerFailure, _unsupported


def _window_geometry(size, window, stride, dilation, pre, post, mode: str):
    """(output size, pre padding, post padding) of a convolution/pooling window along one axis,
    with TensorRT's PaddingMode formulas. Post padding may exceed the declared one for
    EXPLICIT_ROUND_UP (the last window runs past the padded input)."""
    extent = 1 + dilation * (window - 1)
    if mode in ("EXPLICIT_ROUND_DOWN", "EXPLICIT_ROUND_UP"):
        padded = size + pre + post
        if padded < extent:
            raise _LayerFailure(f"window extent {extent} is larger than the padded input {padded}")
        if mode == "EXPLICIT_ROUND_DOWN":
            out = (padded - extent) // stride + 1
        else:
            out = -(-(padded - extent) // stride) + 1
        return out, pre, post
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        out = -(-size // stride)
        total = (size - 1) // stride * stride + extent - size
        small, large = total // 2, total - total // 2
        return (out, small, large) if mode == "SAME_UPPER" else (out, large, small)
    raise _unsupported(f"padding mode {mode}")


def _windows(x, nd, windows, strides, dilations, pres, outs, fill):
    """View of shape x.shape[:-nd] + outs + windows: each output position's (dilated) window over
    x padded with `fill` (pre paddings may be negative: cropping)."""
    lead = x.ndim - nd
    pad_width = [(0, 0)] * lead
    crop = [slice(None)] * lead
    extents = []
    for size, window, stride, dilation, pre, out in zip(x.shape[lead:], windows, strides, dilations, pres, outs):
        extent = 1 + dilation * (window - 1)
        need = (out - 1) * stride + extent
        before = max(pre, 0)
        after = max(need - pre - size, 0)
        pad_width.append((before, after))
        start = max(-pre, 0)
        crop.append(slice(start, start + need))
        extents.append(extent)
    padded = np.pad(x, pad_width, mode="constant", constant_values=fill)[tuple(crop)]
    view = sliding_window_view(padded, tuple(extents), axis=tuple(range(lead, x.ndim)))
    index = ([slice(None)] * lead + [slice(None, None, s) for s in strides]
             + [slice(None, None, d) for d in dilations])
    return view[tuple(index)]
