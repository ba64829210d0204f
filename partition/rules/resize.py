"""image.resize2d on NCHW data: the coordinate modes and interpolations TensorRT's resize layer
computes as TVM does (see converters/resize.py for how they correspond)."""

from ..checks import check_layout, dims, dtype_of, first_reason
from ..registry import register_rule
from tvm_tensorrt.converters.resize import METHODS, TRANSFORMS, nearest_round_mode, rounding_method


def _attrs(call) -> dict:
    a = call.attrs
    return {"coordinate_transformation_mode": str(a.coordinate_transformation_mode),
            "rounding_method": str(a.rounding_method), "method": str(a.method)}


@register_rule("image.resize2d", min_version=(8, 0, 0), dynamic=True,
               limits="NCHW; coordinate modes half_pixel, pytorch_half_pixel, align_corners (output size > 1), "
                      "asymmetric; nearest_neighbor (every rounding method; `round`, half to even, only where "
                      "HALF_UP or HALF_DOWN agree with it), linear, cubic; out_dtype = input dtype")
def resize2d_rule(call, config):
    attrs = _attrs(call)
    method, transform = attrs["method"], attrs["coordinate_transformation_mode"]
    out_dtype = call.attrs.out_dtype
    reason = first_reason(
        check_layout(str(call.attrs.layout), ("NCHW",), "resize2d layout"),
        None if method in METHODS else f"resize2d method {method} has no TensorRT resize mode",
        None if transform in TRANSFORMS else
        (f"resize2d coordinate_transformation_mode {transform} has no TensorRT equivalent "
         f"(TensorRT takes {', '.join(TRANSFORMS)})"),
        None if out_dtype is None or str(out_dtype) in ("", "void", dtype_of(call.args[0].ty)) else
        f"resize2d out_dtype {out_dtype} differs from its input dtype {dtype_of(call.args[0].ty)}")
    if reason:
        return reason
    in_hw, out_hw = dims(call.args[0])[2:], dims(call.ty)[2:]
    if transform == "align_corners" and 1 in out_hw:
        return "resize2d align_corners to an output size of 1 divides by zero in TVM (its scale is (in-1)/(out-1))"
    if method == "nearest_neighbor":
        rounding = rounding_method(attrs)
        if rounding not in ("round", "round_prefer_floor", "round_prefer_ceil", "floor", "ceil"):
            return f"resize2d rounding_method {rounding} is not one TVM defines"
        if rounding == "round" and any(d < 0 for d in list(in_hw) + list(out_hw)):
            return ("resize2d nearest rounding 'round' (halves to even) on symbolic sizes: whether TensorRT's HALF_UP "
                    "or HALF_DOWN agrees depends on the sizes (rounding_method='round_prefer_floor' is offloaded)")
        if nearest_round_mode(attrs, in_hw, out_hw) is None:
            return (f"resize2d nearest rounding 'round' rounds halves to even, and output coordinates of "
                    f"{tuple(in_hw)} -> {tuple(out_hw)} ({transform}) include halves that go down and halves that go "
                    "up; TensorRT rounds every half up or every half down (rounding_method='round_prefer_floor' or "
                    "'round_prefer_ceil' is offloaded)")
    return None
