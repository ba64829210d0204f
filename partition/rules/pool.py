"""Pooling in channel-first layouts: TensorRT's pooling layer, 2-D and 3-D.

Global pooling has no Relax operator: frontends write it as adaptive_avg_pool2d to (1, 1) or as
mean/max over the spatial axes with keepdims (see the reduce rules).
"""

from ..checks import check_layout, check_version, dims, first_reason, ints
from ..registry import register_rule

LAYOUTS = {2: "NCHW", 3: "NCDHW"}


def _window_reason(call, nd: int, config):
    attrs, name = call.attrs, call.op.name.removeprefix("relax.")
    window, strides, padding = ints(attrs.pool_size), ints(attrs.strides), ints(attrs.padding)
    pre, post = padding[:nd], padding[nd:]
    if any(d != 1 for d in ints(attrs.dilation)):
        return f"{name} dilation {tuple(ints(attrs.dilation))} is not supported by TensorRT pooling"
    if any(p >= w for p, w in zip(pre + post, window + window)):
        return f"{name} padding {tuple(padding)} must be smaller than the window {tuple(window)}"
    if "avg" in name and attrs.count_include_pad and pre != post:
        reason = check_version(config, (10, 0, 0), f"{name} with count_include_pad and asymmetric padding")
        if reason:  # older builders refused it (the original integration's check); TensorRT 10 builds it
            return reason
    if attrs.ceil_mode:
        spatial = dims(call.args[0])[2:]
        out = dims(call.ty)[2:]
        for size, w, s, b, a, o in zip(spatial, window, strides, pre, post, out):
            if size < 0 or o < 0:  # a symbolic size: decide for every size
                reason = _symbolic_ceil_reason(name, w, s, a, "avg" in name and attrs.count_include_pad)
                if reason:
                    return reason
                continue
            rounded_up = -(-(size + b + a - w) // s) + 1  # TensorRT's EXPLICIT_ROUND_UP
            if o != rounded_up:
                return (f"{name} ceil_mode: Relax drops a last window that would start past the input "
                        f"({o} outputs), TensorRT rounds up to {rounded_up}")
            if "avg" in name and attrs.count_include_pad and (o - 1) * s + w > size + b + a:
                return (f"{name} ceil_mode with count_include_pad: the last window runs past the padding, "
                        "where TVM and TensorRT count differently")
    return None


def _symbolic_ceil_reason(name, window, stride, end_pad, counts_padding):
    """ceil_mode on a symbolic size. Relax drops a last window that would start past the input
    (at (o-1)*s >= size + pre); rounding up makes (o-1)*s < size + pre + post - window + stride,
    so with stride + end padding <= window no size drops one and TensorRT's round-up agrees.
    Counting padding, where the last window ends depends on the size."""
    if counts_padding:
        return (f"{name} ceil_mode with count_include_pad on a symbolic size: whether the last window runs past the "
                "padding (where TVM and TensorRT count differently) depends on the size")
    if stride + end_pad > window:
        return (f"{name} ceil_mode on a symbolic size with stride {stride} + end padding {end_pad} > window {window}: "
                "whether Relax drops a last window depends on the size")
    return None


def pool_rule(nd: int):
    def check(call, config):
        attrs, name = call.attrs, call.op.name.removeprefix("relax.")
        return first_reason(
            check_layout(attrs.layout, [LAYOUTS[nd]], f"{name} layout"),
            check_layout(attrs.out_layout, [LAYOUTS[nd]], f"{name} out_layout"),
            check_version(config, (5, 1, 5), f"{name} ceil_mode=True") if attrs.ceil_mode else None,
            _window_reason(call, nd, config),
        )

    return check


POOL_LIMITS = "{}; dilation 1; padding < window; ceil_mode needs TensorRT >= 5.1.5 and no dropped last window"
AVG_LIMITS = POOL_LIMITS + "; count_include_pad with asymmetric padding needs TensorRT >= 10.0.0"
# TensorRT's pooling layer takes any spatial size (dynamic=True), as its convolution does.
register_rule("nn.max_pool2d", original="nn.max_pool2d", dynamic=True,
              limits=POOL_LIMITS.format(LAYOUTS[2]))(pool_rule(2))
register_rule("nn.avg_pool2d", original="nn.avg_pool2d", dynamic=True,
              limits=AVG_LIMITS.format(LAYOUTS[2]))(pool_rule(2))
register_rule("nn.max_pool3d", min_version=(6, 0, 1), original="nn.max_pool3d", dynamic=True,
              limits=POOL_LIMITS.format(LAYOUTS[3]))(pool_rule(3))
register_rule("nn.avg_pool3d", min_version=(6, 0, 1), original="nn.avg_pool3d", dynamic=True,
              limits=AVG_LIMITS.format(LAYOUTS[3]))(pool_rule(3))


@register_rule("nn.adaptive_avg_pool2d", original=("nn.adaptive_avg_pool2d", "nn.global_avg_pool2d"),
               limits="NCHW; input size a multiple of the output size (global pooling: output (1, 1))")
def adaptive_avg_pool2d_rule(call, config):
    attrs = call.attrs
    reason = first_reason(check_layout(attrs.layout, ["NCHW"], "adaptive_avg_pool2d layout"),
                          check_layout(attrs.out_layout, ["NCHW"], "adaptive_avg_pool2d out_layout"))
    if reason:
        return reason
    in_hw = dims(call.args[0])[2:]
    out_hw = dims(call.ty)[2:]
    if any(i % o for i, o in zip(in_hw, out_hw)):
        return (f"adaptive_avg_pool2d from {in_hw} to {out_hw}: TensorRT pooling is exact only when "
                "the input size is a multiple of the output size")
    return None
