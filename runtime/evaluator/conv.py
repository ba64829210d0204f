"""Convolution and deconvolution layers, computed as grouped N-D correlations (im2col + matmul)."""

from __future__ import annotations

import numpy as np

from .core import _LayerFailure, _acc_dtype, _enum_name, _handler, _input, _ints, _is_float, _unsupported
from .geometry import _window_geometry, _windows


def _conv_nd(ev, x, kernel, groups, strides, dilations, pres, outs):
    """Grouped N-D correlation. x: (N, C, *S), kernel: (K, C/groups, *F) -> (N, K, *outs)."""
    nd = kernel.ndim - 2
    n, c = x.shape[:2]
    k = kernel.shape[0]
    win = _windows(x, nd, kernel.shape[2:], strides, dilations, pres, outs, 0)  # (N, C, *O, *F)
    order = [0] + list(range(2, 2 + nd)) + [1] + list(range(2 + nd, 2 + 2 * nd))
    positions = int(np.prod(outs))
    taps = int(np.prod(kernel.shape[2:]))
    cols = win.transpose(order).reshape(n * positions, groups, (c // groups) * taps)  # im2col (copies)
    weights = kernel.reshape(groups, k // groups, (c // groups) * taps)
    if groups == 1:
        out = ev.contract(cols[:, 0, :], weights[0].T)  # (NP, K)
    else:
        out = ev.contract(cols.transpose(1, 0, 2), weights.transpose(0, 2, 1))  # (G, NP, K/G)
        out = out.transpose(1, 0, 2).reshape(n * positions, k)
    return np.moveaxis(out.reshape((n,) + tuple(outs) + (k,)), -1, 1)


def _conv_params(layer, spatial):
    nd = len(spatial)
    window = _ints(layer.kernel_size_nd)
    strides = _ints(layer.stride_nd)
    dilations = _ints(layer.dilation_nd)
    pre, post = _ints(layer.pre_padding), _ints(layer.post_padding)
    if not (len(window) == len(strides) == len(dilations) == len(pre) == len(post) == nd):
        raise _LayerFailure(f"kernel {window}, stride {strides}, dilation {dilations}, padding {pre}/{post} "
                            f"do not all have {nd} spatial dims")
    if any(s < 1 for s in strides) or any(d < 1 for d in dilations):
        raise _LayerFailure(f"stride {strides} and dilation {dilations} must be >= 1")
    return window, strides, dilations, pre, post, _enum_name(layer.padding_mode)


def _kernel_and_bias(ev, layer, ins, shape, out_channels):
    kernel = _input(ins, 1)
    if kernel is None:
        kernel = ev.layer_weights(layer, "kernel")
    if kernel.size != int(np.prod(shape)):
        raise _LayerFailure(f"kernel has {kernel.size} values; expected shape {shape}")
    bias = _input(ins, 2)
    if bias is None:
        bias = ev.layer_weights(layer, "bias")
        if bias.size == 0:
            bias = None
    if bias is not None:
        if bias.size != out_channels:
            raise _LayerFailure(f"bias has {bias.size} values for {out_channels} output maps")
        bias = bias.reshape(out_channels)
    return np.asarray(kernel).reshape(shape), bias


def _conv_setup(layer, x, what):
    """Checks and parameters convolution and deconvolution share:
    (nd, (window, strides, dilations, pre, post, mode), groups, output maps, input channels)."""
    nd = len(_ints(layer.kernel_size_nd))
    if x.ndim != nd + 2:
        raise _unsupported(f"input rank {x.ndim} with a {nd}-D kernel (expected rank {nd + 2})")
    if not _is_float(x.dtype):
        raise _unsupported(f"{what} on {x.dtype}")
    params = _conv_params(layer, x.shape[2:])
    groups, k, c = int(layer.num_groups), int(layer.num_output_maps), x.shape[1]
    if groups < 1 or c % groups or k % groups:
        raise _LayerFailure(f"{c} input and {k} output channels do not split into {groups} groups")
    return nd, params, groups, k, c


@_handler("CONVOLUTION")
def _convolution(ev, layer, ins, dtypes):
    x = ins[0]
    nd, (window, strides, dilations, pre, post, mode), groups, k, c = _conv_setup(layer, x, "convolution")
    kernel, bias = _kernel_and_bias(ev, layer, ins, (k, c // groups) + window, k)
    geometry = [_window_geometry(i, f, s, d, b, a, mode)
                for i, f, s, d, b, a in zip(x.shape[2:], window, strides, dilations, pre, post)]
    acc = _acc_dtype(x.dtype)
    y = _conv_nd(ev, x.astype(acc), kernel.astype(acc), groups, strides, dilations,
                 [g[1] for g in geometry], [g[0] for g in geometry])
    if bias is not None:
        y = y + bias.astype(acc).reshape((1, k) + (1,) * nd)
    return [y.astype(dtypes[0])]


@_handler("DECONVOLUTION")
def _deconvolution(ev, layer, ins, dtypes):
    x = ins[0]
    nd, (window, strides, dilations, pre, post, mode), groups, k, c = _conv_setup(layer, x, "deconvolution")
    kernel, bias = _kernel_and_bias(ev, layer, ins, (c, k // groups) + window, k)
    # TensorRT's deconvolution formulas (PaddingMode docs): crop B before and A after the full
    # transposed-convolution output of size (I - 1) * S + DK.
    crops = []
    for size, f, s, d, b, a in zip(x.shape[2:], window, strides, dilations, pre, post):
        extent = 1 + d * (f - 1)
        if mode in ("EXPLICIT_ROUND_DOWN", "EXPLICIT_ROUND_UP"):
            crops.append((b, a))
        elif mode in ("SAME_UPPER", "SAME_LOWER"):
            total = max(extent - s, 0)
            small, large = total // 2, total - total // 2
            crops.append((small, large) if mode == "SAME_UPPER" else (large, small))
        else:
            raise _unsupported(f"padding mode {mode}")
    acc = _acc_dtype(x.dtype)
    n = x.shape[0]
    # Equivalent correlation: stride-dilate the input, pad by DK - 1 - crop, flip the kernel.
    dilated_shape = (n, c) + tuple((i - 1) * s + 1 for i, s in zip(x.shape[2:], strides))
    dilated = np.zeros(dilated_shape, dtype=acc)
    dilated[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides)] = x
    cg, kg = c // groups, k // groups
    flipped = kernel.astype(acc)[(slice(None), slice(None)) + (slice(None, None, -1),) * nd]
    conv_kernel = flipped.reshape((groups, cg, kg) + window).swapaxes(1, 2).reshape((k, cg) + window)
    pres, outs = [], []
    for size, f, s, d, (b, a) in zip(x.shape[2:], window, strides, dilations, crops):
        extent = 1 + d * (f - 1)
        pres.append(extent - 1 - b)
        outs.append((size - 1) * s + extent - b - a)
    y = _conv_nd(ev, dilated, conv_kernel, groups, (1,) * nd, dilations, pres, outs)
    if bias is not None:
        y = y + bias.astype(acc).reshape((1, k) + (1,) * nd)
    return [y.astype(dtypes[0])]
