"""Resize layers (nearest, linear and cubic interpolation)."""

from __future__ import annotations

import math

import numpy as np

from .core import _LayerFailure, _enum_name, _handler, _input, _ints, _is_float, _shape_values, _unsupported


@_handler("RESIZE")
def _resize(ev, layer, ins, dtypes):
    x = ins[0]
    mode = _enum_name(layer.resize_mode)
    if mode not in ("NEAREST", "LINEAR", "CUBIC"):
        raise _unsupported(f"resize mode {mode}")
    out_tensor = layer.get_output(0)
    given = _input(ins, 1)
    scales = None
    if given is not None:
        if _is_float(given.dtype):
            scales = [float(s) for s in np.asarray(given).reshape(-1)]
        else:
            out_shape = _shape_values(given, "resize shape")
    elif layer.shape is not None and len(layer.shape):
        out_shape = list(_ints(layer.shape))
    elif layer.scales:
        scales = [float(s) for s in layer.scales]
    else:
        declared = _ints(out_tensor.shape)
        if any(d < 0 for d in declared):
            raise _LayerFailure("no output shape or scales")
        out_shape = list(declared)
    if scales is not None:
        if len(scales) != x.ndim:
            raise _LayerFailure(f"{len(scales)} scales for rank {x.ndim}")
        out_shape = [int(math.floor(i * s)) for i, s in zip(x.shape, scales)]
    if len(out_shape) != x.ndim:
        raise _LayerFailure(f"output shape {out_shape} for rank {x.ndim}")
    transform = _enum_name(layer.coordinate_transformation)
    selector = _enum_name(layer.selector_for_single_pixel)
    rounding = _enum_name(layer.nearest_rounding)
    y = x if mode == "NEAREST" else x.astype(np.float64)
    for axis, (size, out) in enumerate(zip(x.shape, out_shape)):
        scale = scales[axis] if scales is not None else (out / size if size else 1.0)
        if out == size and scale == 1.0:
            continue
        o = np.arange(out, dtype=np.float64)
        if out == 1 and selector == "UPPER":
            coord = np.zeros(1)
        elif transform == "HALF_PIXEL":
            coord = (o + 0.5) / scale - 0.5
        elif transform == "ASYMMETRIC":
            coord = o / scale
        elif transform == "ALIGN_CORNERS":
            # with scales, the resized length is size * scale before flooring (as in ONNX)
            length = size * scales[axis] if scales is not None else out
            coord = o * (size - 1) / (length - 1) if length != 1 else np.zeros(out)
        else:
            raise _unsupported(f"coordinate transformation {transform}")
        if mode == "NEAREST":
            if rounding == "HALF_UP":
                idx = np.floor(coord + 0.5)
            elif rounding == "HALF_DOWN":
                idx = np.ceil(coord - 0.5)
            elif rounding == "FLOOR":
                idx = np.floor(coord)
            elif rounding == "CEIL":
                idx = np.ceil(coord)
            else:
                raise _unsupported(f"nearest rounding {rounding}")
            y = np.take(y, np.clip(idx, 0, size - 1).astype(np.int64), axis=axis)
        elif mode == "CUBIC":
            y = _cubic_along(y, axis, coord, size, float(layer.cubic_coeff), bool(layer.exclude_outside))
        else:
            coord = np.clip(coord, 0, size - 1)
            lo = np.floor(coord).astype(np.int64)
            hi = np.minimum(lo + 1, size - 1)
            w = (coord - lo).reshape((1,) * axis + (-1,) + (1,) * (x.ndim - axis - 1))
            y = np.take(y, lo, axis=axis) * (1 - w) + np.take(y, hi, axis=axis) * w
    return [np.asarray(y).astype(dtypes[0])]


def _cubic_weight(d, a):
    """Keys' cubic convolution kernel with coefficient `a` at distance d (ONNX's Resize)."""
    d = np.abs(d)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def _cubic_along(y, axis, coord, size, a, exclude_outside):
    """Four taps around each coordinate (not clamped), reading edge pixels past the border;
    with exclude_outside, taps past the border get weight 0 and the rest are renormalised."""
    lo = np.floor(coord)
    taps = [lo + k for k in (-1, 0, 1, 2)]
    weights = [_cubic_weight(coord - t, a) for t in taps]
    if exclude_outside:
        weights = [np.where((t < 0) | (t > size - 1), 0.0, w) for t, w in zip(taps, weights)]
        total = sum(weights)
        weights = [w / total for w in weights]
    shape = (1,) * axis + (-1,) + (1,) * (y.ndim - axis - 1)
    return sum(np.take(y, np.clip(t, 0, size - 1).astype(np.int64), axis=axis) * w.reshape(shape)
               for t, w in zip(taps, weights))
