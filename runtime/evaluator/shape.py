"""Layers that make, move or select tensor data without arithmetic on it: constant, identity,
cast, shape, shuffle, concatenation, slice, padding, gather, squeeze/unsqueeze, fill."""

from __future__ import annotations

import numpy as np

from tvm_tensorrt.common import normalise_axis
from .core import (_LayerFailure, _enum_name, _handler, _input, _ints, _is_float,
                   _normalize_axes, _shape_values, _unsupported)


@_handler("CONSTANT")
def _constant(ev, layer, ins, dtypes):
    weights = np.array(ev.layer_weights(layer, "weights"), copy=True)
    shape = _ints(layer.shape)
    if weights.size != int(np.prod(shape)):
        raise _LayerFailure(f"{weights.size} weights for shape {shape}")
    if weights.dtype != dtypes[0]:
        raise _unsupported(f"weights are returned as {weights.dtype} for a {dtypes[0]} constant")
    return [weights.reshape(shape)]


@_handler("IDENTITY")
def _identity(ev, layer, ins, dtypes):
    return [ins[0].copy()]


@_handler("CAST")
def _cast(ev, layer, ins, dtypes):
    target = ev.np_dtype(layer.to_type)
    if target != dtypes[0]:
        raise _LayerFailure(f"to_type {target} differs from the output dtype {dtypes[0]}")
    x = ins[0]
    if target.kind == "b":
        return [x != 0]
    if _is_float(x.dtype) and not _is_float(target):
        # float -> integer: round toward zero, as a C cast does
        return [np.trunc(x.astype(np.float64)).astype(target)]
    return [x.astype(target)]


@_handler("SHAPE")
def _shape(ev, layer, ins, dtypes):
    return [np.array(ins[0].shape, dtype=dtypes[0])]


def _permutation(perm, rank, what):
    order = list(perm)[:rank]
    if sorted(order) != list(range(rank)):
        raise _LayerFailure(f"{what} {tuple(order)} is not a permutation of {rank} axes")
    return order


@_handler("SHUFFLE")
def _shuffle(ev, layer, ins, dtypes):
    x = ins[0]
    x = x.transpose(_permutation(layer.first_transpose, x.ndim, "first_transpose"))
    dims_tensor = _input(ins, 1)
    if dims_tensor is not None:
        dims = _shape_values(dims_tensor, "reshape dimensions input")
    else:
        dims = None if layer.reshape_dims is None else list(_ints(layer.reshape_dims))
    if dims is not None:
        placeholder = bool(layer.zero_is_placeholder)
        resolved = []
        for i, d in enumerate(dims):
            if d == 0 and placeholder:
                if i >= x.ndim:
                    raise _LayerFailure(f"reshape dim {i} is 0 (copy) but the input has rank {x.ndim}")
                d = x.shape[i]
            elif d < -1:
                raise _LayerFailure(f"reshape dims {tuple(dims)} contain {d}")
            resolved.append(d)
        if resolved.count(-1) > 1:
            raise _LayerFailure(f"reshape dims {tuple(dims)} contain more than one -1")
        if -1 in resolved:
            known = int(np.prod([d for d in resolved if d != -1]))
            if known == 0 or x.size % known:
                raise _LayerFailure(f"cannot infer -1 in {tuple(dims)} for {x.size} elements")
            resolved[resolved.index(-1)] = x.size // known
        if int(np.prod(resolved)) != x.size:
            raise _LayerFailure(f"cannot reshape {x.shape} to {tuple(resolved)}")
        x = x.reshape(resolved)
    x = x.transpose(_permutation(layer.second_transpose, x.ndim, "second_transpose"))
    return [x]


@_handler("CONCATENATION")
def _concatenation(ev, layer, ins, dtypes):
    rank = ins[0].ndim
    axis = normalise_axis(layer.axis, rank)
    if not 0 <= axis < rank or any(t.ndim != rank for t in ins):
        raise _LayerFailure(f"axis {layer.axis} / input ranks {[t.ndim for t in ins]}")
    return [np.concatenate(ins, axis=axis)]


def _sample_indices(start, size, stride, dim, mode):
    idx = start + np.arange(size, dtype=np.int64) * stride
    valid = (idx >= 0) & (idx < dim)
    if mode == "STRICT_BOUNDS":
        if not valid.all():
            raise _LayerFailure(f"slice start {start} size {size} stride {stride} leaves a dim of {dim} "
                                "(STRICT_BOUNDS mode)")
        return idx, None
    if mode == "WRAP":
        if dim == 0:
            raise _LayerFailure("WRAP slice of an empty dim")
        return np.mod(idx, dim), None
    if mode == "CLAMP":
        return np.clip(idx, 0, max(dim - 1, 0)), None
    if mode == "FILL":
        return np.clip(idx, 0, max(dim - 1, 0)), valid
    if mode == "REFLECT":
        if dim == 1:
            return np.zeros_like(idx), None
        period = 2 * (dim - 1)
        m = np.mod(idx, period)
        return np.where(m < dim, m, period - m), None
    raise _unsupported(f"slice mode {mode}")


@_handler("SLICE")
def _slice(ev, layer, ins, dtypes):
    x = ins[0]
    rank = x.ndim
    mode = _enum_name(layer.mode)
    if mode == "DEFAULT":
        mode = "STRICT_BOUNDS"

    def param(index, attr):
        tensor = _input(ins, index)
        if tensor is not None:
            return _shape_values(tensor, f"slice input {index}")
        value = getattr(layer, attr)
        return None if value is None else list(_ints(value))

    start, size, stride = param(1, "start"), param(2, "shape"), param(3, "stride")
    axes = param(5, "axes")
    if start is None or size is None or stride is None:
        raise _LayerFailure("slice start/size/stride are neither set nor given as inputs")
    axes = list(range(rank)) if axes is None else _normalize_axes(axes, rank)
    if not (len(start) == len(size) == len(stride) == len(axes)) or len(set(axes)) != len(axes):
        raise _LayerFailure(f"start {start}, size {size}, stride {stride}, axes {axes} disagree")
    full = [(0, d, 1) for d in x.shape]
    for a, b, n, s in zip(axes, start, size, stride):
        full[a] = (b, n, s)
    indices, masks = [], []
    for (b, n, s), dim in zip(full, x.shape):
        idx, valid = _sample_indices(b, n, s, dim, mode)
        indices.append(idx)
        masks.append(valid)
    if mode == "FILL" and any(dim == 0 for dim in x.shape):
        y = np.zeros([len(i) for i in indices], dtype=x.dtype)
    else:
        y = x[np.ix_(*indices)] if rank else x.copy()
    if mode == "FILL":
        fill = _input(ins, 4)
        fill_value = np.zeros((), dtype=x.dtype) if fill is None else np.asarray(fill).reshape(())
        inside = np.ones(y.shape, dtype=bool)
        for d, valid in enumerate(masks):
            inside &= valid.reshape((1,) * d + (-1,) + (1,) * (rank - d - 1))
        y = np.where(inside, y, fill_value.astype(x.dtype))
    elif _input(ins, 4) is not None:
        raise _LayerFailure("a fill value is only allowed in FILL mode")
    return [y]


@_handler("PADDING")
def _padding(ev, layer, ins, dtypes):
    x = ins[0]
    pre, post = _ints(layer.pre_padding_nd), _ints(layer.post_padding_nd)
    nd = len(pre)
    if len(post) != nd or nd > x.ndim:
        raise _LayerFailure(f"padding {pre}/{post} does not fit rank {x.ndim}")
    lead = x.ndim - nd
    widths = [(0, 0)] * lead + [(max(b, 0), max(a, 0)) for b, a in zip(pre, post)]
    y = np.pad(x, widths, mode="constant")
    crop = [slice(None)] * lead + [slice(max(-b, 0), y.shape[lead + i] - max(-a, 0))
                                   for i, (b, a) in enumerate(zip(pre, post))]
    return [y[tuple(crop)]]


def _wrap_indices(indices, dim, what):
    idx = indices.astype(np.int64)
    if np.any((idx < -dim) | (idx >= dim)):
        raise _LayerFailure(f"{what} index out of range for a dim of {dim}")
    return np.where(idx < 0, idx + dim, idx)


@_handler("GATHER")
def _gather(ev, layer, ins, dtypes):
    data, indices = ins
    if indices.dtype.kind not in "iu":
        raise _LayerFailure(f"indices are {indices.dtype}")
    mode = _enum_name(layer.mode)
    axis = int(layer.axis)
    batch = int(layer.num_elementwise_dims)
    if mode == "DEFAULT":
        if not 0 <= axis < data.ndim:
            raise _LayerFailure(f"axis {axis} out of range for rank {data.ndim}")
        idx = _wrap_indices(indices, data.shape[axis], "gather")
        if batch == 0:
            return [np.take(data, idx, axis=axis)]
        if batch == 1:
            if axis < 1 or data.shape[0] != indices.shape[0]:
                raise _LayerFailure(f"elementwise dim with axis {axis}, data {data.shape}, indices {indices.shape}")
            return [np.stack([np.take(data[i], idx[i], axis=axis - 1) for i in range(data.shape[0])])]
        raise _LayerFailure(f"num_elementwise_dims {batch} in DEFAULT mode")
    if mode == "ELEMENT":
        if batch != 0 or indices.ndim != data.ndim or not 0 <= axis < data.ndim:
            raise _LayerFailure(f"ELEMENT gather with axis {axis}, data {data.shape}, indices {indices.shape}")
        idx = _wrap_indices(indices, data.shape[axis], "gather")
        if any(q > d for k, (q, d) in enumerate(zip(indices.shape, data.shape)) if k != axis):
            raise _LayerFailure(f"indices {indices.shape} exceed data {data.shape} off the gather axis")
        region = tuple(slice(None) if k == axis else slice(0, q) for k, q in enumerate(indices.shape))
        return [np.take_along_axis(data[region], idx, axis=axis)]
    if mode == "ND":
        depth = indices.shape[-1] if indices.ndim else 0
        if indices.ndim < 1 or batch + depth > data.ndim or data.shape[:batch] != indices.shape[:batch]:
            raise _LayerFailure(f"ND gather with {batch} batch dims, data {data.shape}, indices {indices.shape}")
        nb = int(np.prod(data.shape[:batch]))
        d = data.reshape((nb,) + data.shape[batch:])
        q = indices.reshape(nb, -1, depth).astype(np.int64)
        rows = []
        for i in range(nb):
            coords = [_wrap_indices(q[i][:, j], data.shape[batch + j], "gather") for j in range(depth)]
            rows.append(d[i][tuple(coords)])
        y = np.stack(rows)
        return [y.reshape(indices.shape[:-1] + data.shape[batch + depth:])]
    raise _unsupported(f"gather mode {mode}")


@_handler("SCATTER")
def _scatter(ev, layer, ins, dtypes):
    """ND mode: each index tuple (the last indices axis) names a slice of data's leading dims that
    the matching updates replace; ELEMENT mode: along `axis`, as ONNX ScatterElements."""
    data, indices, updates = ins
    if indices.dtype.kind not in "iu":
        raise _LayerFailure(f"indices are {indices.dtype}")
    mode, out = _enum_name(layer.mode), data.copy()
    if mode == "ND":
        depth = indices.shape[-1]
        if depth > data.ndim or updates.shape != indices.shape[:-1] + data.shape[depth:]:
            raise _LayerFailure(f"ND scatter of updates {updates.shape} at indices {indices.shape} into {data.shape}")
        q = indices.reshape(-1, depth)
        coords = tuple(_wrap_indices(q[:, j], data.shape[j], "scatter") for j in range(depth))
        out[coords] = updates.reshape((-1,) + data.shape[depth:])
        return [out]
    if mode == "ELEMENT":
        axis = int(layer.axis)
        np.put_along_axis(out, _wrap_indices(indices, data.shape[axis], "scatter"), updates, axis=axis)
        return [out]
    raise _unsupported(f"scatter mode {mode}")


@_handler("SQUEEZE")
def _squeeze(ev, layer, ins, dtypes):
    x = ins[0]
    if _input(ins, 1) is None:
        raise _unsupported("squeeze without an axes input")
    axes = _normalize_axes(_shape_values(ins[1], "squeeze axes"), x.ndim)
    if any(x.shape[a] != 1 for a in axes):
        raise _LayerFailure(f"cannot squeeze axes {axes} of shape {x.shape}")
    return [np.squeeze(x, axis=tuple(axes))]


@_handler("UNSQUEEZE")
def _unsqueeze(ev, layer, ins, dtypes):
    x = ins[0]
    if _input(ins, 1) is None:
        raise _unsupported("unsqueeze without an axes input")
    raw = _shape_values(ins[1], "unsqueeze axes")
    axes = _normalize_axes(raw, x.ndim + len(raw))
    return [np.expand_dims(x, axis=tuple(axes))]


@_handler("FILL")
def _fill(ev, layer, ins, dtypes):
    op = _enum_name(layer.operation)
    if op != "LINSPACE":
        raise _unsupported(f"fill operation {op} (random fills have no reference value)")
    shape_input = _input(ins, 0)
    shape = _shape_values(shape_input, "fill shape") if shape_input is not None else list(_ints(layer.shape))
    start = _input(ins, 1)
    delta = _input(ins, 2)
    start = float(layer.alpha) if start is None else np.asarray(start).reshape(())
    if delta is None:
        if len(shape) != 1:
            raise _unsupported("static LINSPACE fill of rank != 1")
        delta = np.array([layer.beta])
    delta = np.asarray(delta).reshape(-1)
    if delta.size != len(shape):
        raise _LayerFailure(f"delta has {delta.size} values for a rank-{len(shape)} fill")
    work = np.int64 if dtypes[0].kind in "iu" else np.float64
    y = np.full(shape, start, dtype=work)
    for d, step in enumerate(delta):
        y = y + (np.arange(shape[d], dtype=work) * step.astype(work)).reshape((1,) * d + (-1,) + (1,) * (len(shape) - d - 1))
    return [y.astype(dtypes[0])]
