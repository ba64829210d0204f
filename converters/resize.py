"""image.resize2d (NCHW) -> TensorRT's resize layer.

TVM samples clamped pixels (edge replication) and does not clamp coordinates, which is what
TensorRT's resize does for these modes. pytorch_half_pixel is half_pixel except that a length-1
output reads pixel 0: TensorRT's UPPER single-pixel selector. Nearest rounding is where the two
part: TVM's "round" rounds halves to even, and TensorRT has only HALF_UP and HALF_DOWN, so
`half_even_rounding` picks the one that agrees on every coordinate that falls on a half (the
rule refuses a resize where neither does). The functions here are pure Python so the rule can
use them too.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Optional

from .base import TensorRTOpConverter, register_converter
from .helpers import runtime_size, shape_tensor, tensor_of

TRANSFORMS = {"half_pixel": "HALF_PIXEL", "pytorch_half_pixel": "HALF_PIXEL", "align_corners": "ALIGN_CORNERS",
              "asymmetric": "ASYMMETRIC"}
METHODS = {"nearest_neighbor": "NEAREST", "linear": "LINEAR", "cubic": "CUBIC"}
# TVM rounding method -> TensorRT round mode ("round" is decided per resize: half_even_rounding)
ROUNDING = {"round_prefer_floor": "HALF_DOWN", "round_prefer_ceil": "HALF_UP", "floor": "FLOOR", "ceil": "CEIL"}


def rounding_method(attrs) -> str:
    """TVM's default: "round" for align_corners, "floor" otherwise."""
    method = str(attrs.get("rounding_method") or "")
    if method:
        return method
    return "round" if attrs["coordinate_transformation_mode"] == "align_corners" else "floor"


def source_coordinate(o: int, size: int, out: int, transform: str) -> Fraction:
    """Where output index `o` reads on an axis of `size` resized to `out`, exactly."""
    if transform == "align_corners":
        return Fraction(o * (size - 1), out - 1)
    if transform == "asymmetric":
        return Fraction(o * size, out)
    if transform == "pytorch_half_pixel" and out == 1:
        return Fraction(0)
    return (o + Fraction(1, 2)) * Fraction(size, out) - Fraction(1, 2)


def half_even_rounding(in_sizes, out_sizes, transform: str) -> Optional[str]:
    """The TensorRT round mode that matches rounding halves to even on these axes, or None."""
    modes = ["HALF_UP", "HALF_DOWN"]
    for size, out in zip(in_sizes, out_sizes):
        def clamp(i):
            return min(max(i, 0), size - 1)
        for o in range(out):
            c = source_coordinate(o, size, out, transform)
            if c.denominator != 2:
                continue
            low = c.numerator // 2  # floor(c)
            even = clamp(low if low % 2 == 0 else low + 1)
            if clamp(low + 1) != even and "HALF_UP" in modes:
                modes.remove("HALF_UP")
            if clamp(low) != even and "HALF_DOWN" in modes:
                modes.remove("HALF_DOWN")
    return modes[0] if modes else None


def nearest_round_mode(attrs, in_sizes, out_sizes) -> Optional[str]:
    method = rounding_method(attrs)
    if method == "round":
        return half_even_rounding(in_sizes, out_sizes, attrs["coordinate_transformation_mode"])
    return ROUNDING.get(method)


@register_converter("image.resize2d")
class Resize2dConverter(TensorRTOpConverter):
    def convert(self, params):
        trt, attrs = params.trt, params.attrs
        x = tensor_of(params, 0)
        in_shape, out_shape = params.inputs[0].shape, params.output_shapes[0]
        layer = params.network.add_resize(x)
        if any(d < 0 for d in out_shape[1:]):  # symbolic sizes (height * 2): computed from the shape variables
            layer.set_input(1, shape_tensor(params, params.output_dims[0]))
        elif out_shape[0] < 0:  # a symbolic batch only: the size comes from x at run time
            layer.set_input(1, runtime_size(params, x, out_shape))
        else:
            layer.shape = tuple(out_shape)
        transform = attrs["coordinate_transformation_mode"]
        layer.coordinate_transformation = getattr(trt.ResizeCoordinateTransformation, TRANSFORMS[transform])
        layer.selector_for_single_pixel = (trt.ResizeSelector.UPPER if transform == "pytorch_half_pixel"
                                           else trt.ResizeSelector.FORMULA)
        layer.resize_mode = getattr(trt.InterpolationMode, METHODS[attrs["method"]])
        if attrs["method"] == "nearest_neighbor":
            mode = nearest_round_mode(attrs, in_shape[2:], out_shape[2:])
            layer.nearest_rounding = getattr(trt.ResizeRoundMode, mode)
        elif attrs["method"] == "cubic":
            layer.cubic_coeff = float(attrs["cubic_alpha"])
            layer.exclude_outside = bool(attrs["cubic_exclude"])
        return [layer.get_output(0)]
