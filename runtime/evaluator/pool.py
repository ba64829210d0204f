"""Pooling (max, average, blend) and local response normalization layers."""

from __future__ import annotations

import numpy as np

from .core import _LayerFailure, _enum_name, _handler, _ints, _is_float, _unsupported
from .geometry import _window_geometry, _windows


def _overlap_counts(size, window, stride, pre, out, lo, hi):
    """Per output position: how many window taps fall inside [lo, hi) (input coordinates)."""
    starts = np.arange(out) * stride - pre
    return np.clip(np.minimum(starts + window, hi) - np.maximum(starts, lo), 0, None)


@_handler("POOLING")
def _pooling(ev, layer, ins, dtypes):
    x = ins[0]
    kind = _enum_name(layer.type)  # IPoolingLayer.type is the PoolingType
    window = _ints(layer.window_size_nd)
    nd = len(window)
    strides = _ints(layer.stride_nd)
    pre, post = _ints(layer.pre_padding), _ints(layer.post_padding)
    mode = _enum_name(layer.padding_mode)
    if x.ndim < nd + 1 or not (len(strides) == len(pre) == len(post) == nd):
        raise _LayerFailure(f"window {window}, stride {strides}, padding {pre}/{post} do not fit input rank {x.ndim}")
    if not _is_float(x.dtype):
        raise _unsupported(f"pooling on {x.dtype}")
    spatial = x.shape[-nd:]
    geometry = [_window_geometry(i, f, s, 1, b, a, mode) for i, f, s, b, a in zip(spatial, window, strides, pre, post)]
    outs = [g[0] for g in geometry]
    pres = [g[1] for g in geometry]
    results = {}
    lead = x.ndim - nd
    reduce_axes = tuple(range(x.ndim, x.ndim + nd))
    if kind in ("MAX", "MAX_AVERAGE_BLEND"):
        win = _windows(x, nd, window, strides, (1,) * nd, pres, outs, -np.inf)
        results["MAX"] = win.max(axis=reduce_axes).astype(np.float32)
    if kind in ("AVERAGE", "MAX_AVERAGE_BLEND"):
        win = _windows(x.astype(np.float32), nd, window, strides, (1,) * nd, pres, outs, 0)
        total = win.sum(axis=reduce_axes, dtype=np.float32)
        excludes = bool(layer.average_count_excludes_padding)
        count = np.ones((), dtype=np.float32)
        for d, (size, f, s, (o, b, a)) in enumerate(zip(spatial, window, strides, geometry)):
            lo, hi = (0, size) if excludes else (-b, size + a)
            per_axis = _overlap_counts(size, f, s, b, o, lo, hi).astype(np.float32)
            count = np.multiply.outer(count, per_axis)
        if np.any(count == 0):
            raise _unsupported("an average-pooling window covers no element it may count (empty window)")
        results["AVERAGE"] = total / count.reshape((1,) * lead + tuple(outs))
    if kind == "MAX":
        y = results["MAX"]
    elif kind == "AVERAGE":
        y = results["AVERAGE"]
    elif kind == "MAX_AVERAGE_BLEND":
        blend = np.float32(layer.blend_factor)
        y = (1 - blend) * results["MAX"] + blend * results["AVERAGE"]
    else:
        raise _unsupported(f"pooling type {kind}")
    return [y.astype(dtypes[0])]


@_handler("LRN")
def _lrn(ev, layer, ins, dtypes):
    x = ins[0]
    if x.ndim < 3:
        raise _LayerFailure(f"LRN input rank {x.ndim} < 3")
    window = int(layer.window_size)
    alpha, beta, k = float(layer.alpha), float(layer.beta), float(layer.k)
    if window < 1 or window % 2 == 0:
        raise _unsupported(f"LRN window {window} (TensorRT takes odd windows)")
    xf = x.astype(np.float64)
    squares = np.square(xf)
    half = window // 2
    c = x.shape[1]
    padded = np.pad(squares, [(0, 0), (half, half)] + [(0, 0)] * (x.ndim - 2))
    total = sum(padded[:, i:i + c] for i in range(window))
    # Caffe/ONNX semantics: alpha is divided by the window size.
    return [(xf / np.power(k + alpha / window * total, beta)).astype(dtypes[0])]
