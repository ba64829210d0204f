"""Normalisation and softmax: batch_norm (inference), layer_norm, group_norm and instance_norm
(TensorRT's normalization layer), rms_norm (a composition: TensorRT has no RMS layer) and softmax
over chosen axes.

TensorRT normalises instances and groups of NCHW-style data only: channel axis 1, statistics over
every later axis, which is how ONNX and PyTorch lay them out. TVM's group_norm, instance_norm and
layer_norm apply gamma and beta whatever center and scale say, so those flags must be True.
"""

import numpy as np

from ..checks import (IMPLICIT_HINT, check_axes_avoid_batch, check_constant, check_version, constant_array, dims,
                      first_reason, implicit_batch, is_constant, normalise_axis, rank_of)
from ..registry import register_rule


@register_rule("nn.batch_norm", original="nn.batch_norm", batch_limits="axis != 0", dynamic=True,
               limits="inference mode; constant gamma/beta/mean/var; rank 2-5 (rank 5 needs TensorRT >= 6.0.1)")
def batch_norm_rule(call, config):
    attrs = call.attrs
    if attrs.training:
        return "batch_norm in training mode updates statistics; only inference batch_norm is offloaded"
    rank = rank_of(call.args[0])
    if rank < 2 or rank > 5:
        return f"batch_norm needs 2 to 5 dimensions, got {rank}"
    axis = normalise_axis(int(attrs.axis), rank)
    if axis == 0 and implicit_batch(config):
        return f"batch_norm over axis 0, the batch dimension ({IMPLICIT_HINT})"
    reasons = [check_constant(arg, f"batch_norm {name}") for name, arg in
               zip(("gamma", "beta", "moving_mean", "moving_var"), call.args[1:])]
    return first_reason(*reasons, check_version(config, (6, 0, 1), "batch_norm of a rank-5 input") if rank == 5
                        else None)


@register_rule("nn.layer_norm", dynamic=True, original="nn.layer_norm", batch_limits="axes exclude 0",
               limits="axes in increasing order; center and scale True")
def layer_norm_rule(call, config):
    reason = affine_flags_reason(call, "layer_norm")
    if reason:
        return reason
    rank = rank_of(call.args[0])
    axes = [normalise_axis(int(a), rank) for a in call.attrs.axes]
    if axes != sorted(set(axes)):
        return f"layer_norm axes {tuple(int(a) for a in call.attrs.axes)} must be distinct and in increasing order"
    shape = dims(call.args[0])
    if any(shape[a] < 0 for a in axes):
        return f"layer_norm over a symbolic axis of {shape}: gamma and beta are laid out when the engine is built"
    return check_axes_avoid_batch(axes, rank, config, "layer_norm axes")


@register_rule("nn.softmax", dynamic=True, original="nn.softmax", batch_limits="axis != 0")
def softmax_rule(call, config):
    rank = rank_of(call.args[0])
    if rank == 0:
        return "softmax of a scalar is not offloaded"
    return check_axes_avoid_batch([int(call.attrs.axis)], rank, config, "softmax axis")


def _filled_with(expr, value: float) -> bool:
    return is_constant(expr) and bool(np.all(constant_array(expr) == value))


def affine_flags_reason(call, op: str):
    """center=False with zeros as beta, scale=False with ones as gamma (TVM's ONNX importer
    writes GroupNormalization-21 so, its affine after it) compute what the flags say."""
    if not ((call.attrs.center or _filled_with(call.args[2], 0.0)) and
            (call.attrs.scale or _filled_with(call.args[1], 1.0))):
        return (f"{op} with center=False or scale=False: TVM's own lowering applies gamma and beta anyway, "
                "so no offload could match it")
    return None


def channel_first_reason(call, op: str):
    """TensorRT's instance and group normalization: channel axis 1, statistics over axes 2.."""
    rank = rank_of(call.args[0])
    channel = normalise_axis(int(call.attrs.channel_axis), rank)
    axes = sorted(normalise_axis(int(a), rank) for a in call.attrs.axes)
    if rank < 3 or channel != 1 or axes != list(range(2, rank)):
        return (f"{op} with channel_axis {int(call.attrs.channel_axis)} and axes {[int(a) for a in call.attrs.axes]} "
                f"on rank {rank}: TensorRT normalises channel axis 1 over every later axis (N, C, D1, ...)")
    return None


@register_rule("nn.group_norm", min_version=(8, 6, 0), dynamic=True,
               limits="channel_axis 1, axes = every axis after it; center and scale True")
def group_norm_rule(call, config):
    return affine_flags_reason(call, "group_norm") or channel_first_reason(call, "group_norm")


@register_rule("nn.instance_norm", min_version=(8, 6, 0), dynamic=True,
               limits="channel_axis 1, axes = every axis after it; center and scale True")
def instance_norm_rule(call, config):
    return affine_flags_reason(call, "instance_norm") or channel_first_reason(call, "instance_norm")


@register_rule("nn.rms_norm", dynamic=True, batch_limits="axes exclude 0", limits="axes distinct and in increasing order")
def rms_norm_rule(call, config):
    rank = rank_of(call.args[0])
    axes = [normalise_axis(int(a), rank) for a in call.attrs.axes]
    if rank == 0:
        return "rms_norm of a scalar is not offloaded"
    if axes != sorted(set(axes)):
        return f"rms_norm axes {tuple(int(a) for a in call.attrs.axes)} must be distinct and in increasing order"
    if any(dims(call.args[0])[a] < 0 for a in axes):
        return f"rms_norm over a symbolic axis of {dims(call.args[0])}: its weight is laid out when the engine is built"
    return check_axes_avoid_batch(axes, rank, config, "rms_norm axes")
