"""Layers that reduce or scan along axes: reduce, softmax, normalization, top-k, cumulative."""

from __future__ import annotations

import numpy as np

from .core import (_LayerFailure, _acc_dtype, _bits, _enum_name, _handler, _input, _is_float, _normalize_axes,
                   _unsupported)


def _one_axis(mask, rank, what):
    axes = _bits(mask, rank, what)
    if len(axes) != 1:
        raise _unsupported(f"{what} bitmask {mask:#x} selects {len(axes)} axes; exactly one is supported")
    return axes[0]


@_handler("SOFTMAX")
def _softmax(ev, layer, ins, dtypes):
    x = ins[0]
    axis = _one_axis(int(layer.axes), x.ndim, "softmax axes")
    xf = x.astype(np.float32)
    e = np.exp(xf - xf.max(axis=axis, keepdims=True))
    return [(e / e.sum(axis=axis, keepdims=True)).astype(dtypes[0])]


@_handler("REDUCE")
def _reduce(ev, layer, ins, dtypes):
    x = ins[0]
    op = _enum_name(layer.op)
    axes = _bits(int(layer.axes), x.ndim, "reduce axes")
    keep = bool(layer.keep_dims)
    acc = _acc_dtype(x.dtype) if _is_float(x.dtype) else x.dtype
    if op in ("SUM", "AVG"):
        for axis in axes:
            order = ev.summation_order(x.shape[axis])
            if order is not None:
                x = np.take(x, order, axis=axis)
    if op == "SUM":
        y = x.astype(acc).sum(axis=axes, keepdims=keep)
    elif op == "PROD":
        y = x.astype(acc).prod(axis=axes, keepdims=keep)
    elif op in ("MAX", "MIN"):
        fn = np.max if op == "MAX" else np.min
        if x.size == 0:  # empty reduction: the identity (-inf for MAX, +inf for MIN)
            if not _is_float(x.dtype):
                raise _unsupported(f"{op} reduction of an empty {x.dtype} tensor")
            y = fn(x, axis=axes, keepdims=keep, initial=-np.inf if op == "MAX" else np.inf)
        else:
            y = fn(x, axis=axes, keepdims=keep)
    elif op == "AVG":
        if not _is_float(x.dtype):
            raise _unsupported(f"AVG reduction of {x.dtype}")
        y = x.astype(acc).mean(axis=axes, keepdims=keep)
    else:
        raise _unsupported(f"reduce operation {op}")
    return [np.asarray(y).astype(dtypes[0])]


@_handler("NORMALIZATION")
def _normalization(ev, layer, ins, dtypes):
    x, scale, bias = ins
    if not _is_float(x.dtype):
        raise _unsupported(f"normalization of {x.dtype}")
    axes = _bits(int(layer.axes), x.ndim, "normalization axes")
    eps = float(layer.epsilon)
    groups = int(layer.num_groups)
    xf = x.astype(np.float32)
    sf, bf = scale.astype(np.float32), bias.astype(np.float32)
    if groups == 1:
        mean = xf.mean(axis=axes, keepdims=True)
        var = np.square(xf - mean).mean(axis=axes, keepdims=True)
        y = (xf - mean) / np.sqrt(var + eps)
        return [(y * sf + bf).astype(dtypes[0])]
    if x.ndim < 3 or x.shape[1] % groups or any(a < 2 for a in axes):
        raise _unsupported(f"group normalization with {groups} groups over axes {axes} of shape {x.shape}")
    n, c = x.shape[:2]
    grouped = xf.reshape((n, groups, c // groups) + x.shape[2:])
    gaxes = (2,) + tuple(a + 1 for a in axes)
    mean = grouped.mean(axis=gaxes, keepdims=True)
    var = np.square(grouped - mean).mean(axis=gaxes, keepdims=True)
    normed = (grouped - mean) / np.sqrt(var + eps)
    per_channel = (1, c) + (1,) * (x.ndim - 2)
    per_group = (1, groups) + (1,) * (x.ndim - 2)
    if sf.shape == per_channel and bf.shape == per_channel:
        y = normed.reshape(x.shape) * sf + bf
    elif sf.shape == per_group and bf.shape == per_group:
        gshape = (1, groups, 1) + (1,) * (x.ndim - 2)
        y = (normed * sf.reshape(gshape) + bf.reshape(gshape)).reshape(x.shape)
    else:
        raise _unsupported(f"group-normalization scale/bias shapes {sf.shape}/{bf.shape} for input {x.shape}")
    return [y.astype(dtypes[0])]


@_handler("TOPK")
def _topk(ev, layer, ins, dtypes):
    x = ins[0]
    axis = _one_axis(int(layer.axes), x.ndim, "topk axes")
    k_input = _input(ins, 1)
    k = int(np.asarray(k_input).reshape(())) if k_input is not None else int(layer.k)
    op = _enum_name(layer.op)
    if op not in ("MAX", "MIN"):
        raise _unsupported(f"topk operation {op}")
    key = x.astype(np.float64)
    order = np.argsort(-key if op == "MAX" else key, axis=axis, kind="stable")
    index = np.take(order, np.arange(k), axis=axis)
    return [np.take_along_axis(x, index, axis=axis), index.astype(dtypes[1])]


@_handler("CUMULATIVE")
def _cumulative(ev, layer, ins, dtypes):
    x = ins[0]
    op = _enum_name(layer.op)
    if op != "SUM":
        raise _unsupported(f"cumulative operation {op}")
    if _input(ins, 1) is None:
        raise _LayerFailure("no axis input")
    axis = _normalize_axes([int(np.asarray(ins[1]).reshape(()))], x.ndim)[0]
    acc = _acc_dtype(x.dtype) if _is_float(x.dtype) else x.dtype
    y = x.astype(acc)
    if layer.reverse:
        y = np.flip(y, axis)
    total = np.cumsum(y, axis=axis, dtype=acc)
    if layer.exclusive:
        total = total - y
    if layer.reverse:
        total = np.flip(total, axis)
    return [total.astype(dtypes[0])]
