"""Normalisation and softmax: batch_norm (inference), layer_norm and softmax over chosen axes."""

from ..checks import (IMPLICIT_HINT, check_axes_avoid_batch, check_constant, check_version, first_reason,
                      implicit_batch, normalise_axis, rank_of)
from ..registry import register_rule


@register_rule("nn.batch_norm", original="nn.batch_norm", batch_limits="axis != 0",
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


@register_rule("nn.layer_norm", original="nn.layer_norm", batch_limits="axes exclude 0",
               limits="axes in increasing order; center and scale True")
def layer_norm_rule(call, config):
    if not (call.attrs.center and call.attrs.scale):
        return ("layer_norm with center=False or scale=False: TVM's own lowering applies gamma and beta anyway, "
                "so no offload could match it")
    rank = rank_of(call.args[0])
    axes = [normalise_axis(int(a), rank) for a in call.attrs.axes]
    if axes != sorted(set(axes)):
        return f"layer_norm axes {tuple(int(a) for a in call.attrs.axes)} must be distinct and in increasing order"
    return check_axes_avoid_batch(axes, rank, config, "layer_norm axes")


@register_rule("nn.softmax", original="nn.softmax", batch_limits="axis != 0")
def softmax_rule(call, config):
    rank = rank_of(call.args[0])
    if rank == 0:
        return "softmax of a scalar is not offloaded"
    return check_axes_avoid_batch([int(call.attrs.axis)], rank, config, "softmax axis")
