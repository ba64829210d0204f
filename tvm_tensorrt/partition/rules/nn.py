"""Convolution, normalisation, pooling and softmax: the CNN backbone ops."""

from ..checks import check_constant, check_layout, first_reason, rank_of, static_shape
from ..registry import register_rule


@register_rule("nn.conv2d")
def conv2d_rule(call, config):
    attrs = call.attrs
    return first_reason(
        check_layout(attrs.data_layout, ["NCHW"], "conv2d data_layout"),
        check_layout(attrs.kernel_layout, ["OIHW"], "conv2d kernel_layout"),
        check_layout(attrs.out_layout, ["NCHW"], "conv2d out_layout"),
        check_constant(call.args[1], "conv2d weight"),
        None if attrs.out_dtype is None or str(attrs.out_dtype) in ("", "void", str(call.args[0].ty.dtype))
        else f"conv2d out_dtype {attrs.out_dtype} differs from its input dtype",
    )


@register_rule("nn.batch_norm")
def batch_norm_rule(call, config):
    attrs = call.attrs
    if attrs.training:
        return "batch_norm in training mode updates statistics; only inference batch_norm is offloaded"
    if rank_of(call.args[0]) < 2:
        return "batch_norm needs at least 2 dimensions"
    reasons = [check_constant(arg, f"batch_norm {name}") for name, arg in
               zip(("gamma", "beta", "moving_mean", "moving_var"), call.args[1:])]
    return first_reason(*reasons)


def _pool_reason(call, config):
    attrs = call.attrs
    if any(d != 1 for d in attrs.dilation):
        return f"{call.op.name} dilation {tuple(attrs.dilation)} is not supported by TensorRT pooling"
    return check_layout(attrs.layout, ["NCHW"], f"{call.op.name} layout")


register_rule("nn.max_pool2d")(_pool_reason)
register_rule("nn.avg_pool2d")(_pool_reason)


@register_rule("nn.adaptive_avg_pool2d")
def adaptive_avg_pool2d_rule(call, config):
    attrs = call.attrs
    reason = check_layout(attrs.layout, ["NCHW"], "adaptive_avg_pool2d layout")
    if reason:
        return reason
    in_hw = static_shape(call.args[0].ty)[2:]
    out_hw = static_shape(call.ty)[2:]
    if any(i % o for i, o in zip(in_hw, out_hw)):
        return (f"adaptive_avg_pool2d from {in_hw} to {out_hw}: TensorRT pooling is exact only when "
                "the input size is a multiple of the output size")
    return None


@register_rule("nn.softmax")
def softmax_rule(call, config):
    if rank_of(call.args[0]) == 0:
        return "softmax of a scalar is not offloaded"
    return None
