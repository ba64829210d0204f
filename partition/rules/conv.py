"""Convolutions and transposed convolutions, 1-D to 3-D, in TensorRT's channel-first layouts.

NHWC-family models are converted to these layouts before partitioning (api.DESIRED_LAYOUTS),
so the layout checks reject only layouts ConvertLayout could not rewrite.
"""

from ..checks import (check_constant, check_constant_kernel, check_layout, check_same_dtype_out, dims, first_reason, ints,
                      numel, static_shape)
from ..registry import register_rule

LAYOUTS = {1: ("NCW", "OIW", "IOW"), 2: ("NCHW", "OIHW", "IOHW"), 3: ("NCDHW", "OIDHW", "IODHW")}


def conv_macs(call) -> int:
    """Each output element sums C_in / groups * kernel elements."""
    weight = dims(call.args[1])
    return numel(dims(call.ty)) * numel(weight[1:])


def conv_transpose_macs(call) -> int:
    """Each input element is scattered to C_out / groups * kernel elements."""
    weight = dims(call.args[1])
    return numel(dims(call.args[0])) * numel(weight[1:])


def _conv_reason(call, nd: int, transpose: bool, config):
    attrs, name = call.attrs, call.op.name.removeprefix("relax.")
    data, kernel_oi, kernel_io = LAYOUTS[nd]
    return first_reason(
        check_layout(attrs.data_layout, [data], f"{name} data_layout"),
        check_layout(attrs.kernel_layout, [kernel_io if transpose else kernel_oi], f"{name} kernel_layout"),
        check_layout(attrs.out_layout, [data], f"{name} out_layout"),
        check_constant(call.args[1], f"{name} weight") if transpose else _kernel_reason(call.args[1], nd, name, config),
        check_same_dtype_out(call, name),
    )


def _kernel_reason(kernel, nd: int, name: str, config):
    """A computed kernel (weight standardisation left unfolded, dynamic convolutions, a kernel a
    hypernetwork makes) is the convolution layer's second input, as NVIDIA's parser gives it:
    TensorRT takes one of static shape for 2-D and 3-D convolutions, in explicit batch mode
    (an implicit batch would make it a kernel per batch item)."""
    if check_constant_kernel(kernel, "") is None:
        return None
    if nd in (2, 3) and static_shape(kernel.ty) is not None and not config["use_implicit_batch"]:
        return None
    return (f"{name} weight is computed; TensorRT takes a computed kernel only of static shape, for 2-D and 3-D "
            "convolutions, in explicit batch mode (a constant kernel always)")


def conv_rule(nd: int):
    def check(call, config):
        return _conv_reason(call, nd, transpose=False, config=config)

    return check


def conv_transpose_rule(nd: int):
    def check(call, config):
        reason = _conv_reason(call, nd, transpose=True, config=config)
        if reason:
            return reason
        name = call.op.name.removeprefix("relax.")
        if any(d != 1 for d in ints(call.attrs.dilation)):
            return f"{name} dilation {tuple(ints(call.attrs.dilation))} is not supported (TensorRT deconvolution)"
        post = ints(call.attrs.padding)[nd:]
        extra = ints(call.attrs.output_padding)
        if any(o > p for o, p in zip(extra, post)):
            return (f"{name} output_padding {tuple(extra)} exceeds the end padding {tuple(post)}: the extra "
                    "rows would lie outside what TensorRT's deconvolution computes")
        return None

    return check


CONV_LIMITS = "{} data, {} kernel, constant kernel, out_dtype = input dtype"
COMPUTED_KERNEL = "; or a computed kernel of static shape (explicit batch)"
TRANSPOSE_LIMITS = CONV_LIMITS + ", dilation 1, output_padding <= end padding"
# TensorRT's convolution takes whatever spatial size arrives (dynamic=True: an export with symbolic
# height and width, or a symbolic audio length, goes whole); 1-D runs as 2-D with a unit axis.
register_rule("nn.conv1d", original="nn.conv1d", macs=conv_macs, dynamic=True,
              limits=CONV_LIMITS.format(*LAYOUTS[1][:2]))(conv_rule(1))
register_rule("nn.conv2d", original="nn.conv2d", macs=conv_macs, dynamic=True,
              limits=CONV_LIMITS.format(*LAYOUTS[2][:2]) + COMPUTED_KERNEL)(conv_rule(2))
register_rule("nn.conv3d", min_version=(6, 0, 1), original="nn.conv3d", macs=conv_macs, dynamic=True,
              limits=CONV_LIMITS.format(*LAYOUTS[3][:2]) + COMPUTED_KERNEL)(conv_rule(3))
register_rule("nn.conv2d_transpose", original="nn.conv2d_transpose", macs=conv_transpose_macs, dynamic=True,
              limits=TRANSPOSE_LIMITS.format(LAYOUTS[2][0], LAYOUTS[2][2]))(conv_transpose_rule(2))
register_rule("nn.conv3d_transpose", min_version=(6, 0, 1), original="nn.conv3d_transpose",
              macs=conv_transpose_macs, dynamic=True,
              limits=TRANSPOSE_LIMITS.format(LAYOUTS[3][0], LAYOUTS[3][2]))(conv_transpose_rule(3))
