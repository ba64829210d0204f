"""ONNX ops that TVM 0.27's importer writes as opaque TIR (`call_tir` of a TE function), which no
rule can see into: Einsum, Pad and Clip. These importers emit the Relax operators instead
(`relax.einsum`, `relax.nn.pad`, `relax.clip`), which TVM legalizes to the same TE code when it
compiles them, and which our rules and converters can judge and offload (a Clip with both
bounds is then one TensorRT activation layer, as NVIDIA's parser makes it).

TVM's importer has no public hook for per-op converters, so `relax_importers()` swaps them into
its converter map for the duration of one import (under a lock: the map is module-global).
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import tvm
from tvm import relax
from tvm.relax.frontend.onnx import onnx_frontend

ONNX_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


class EinsumAsRelax(onnx_frontend.Einsum):
    @classmethod
    def _impl_v12(cls, bb, inputs, attr, params):
        return relax.op.einsum(list(inputs), attr["equation"].decode("utf-8"))


class PadAsRelax(onnx_frontend.Pad):
    @classmethod
    def _lower_pad(cls, bb, inputs, attr, params, allowed_modes):
        pad_before, pad_after, constant_value = cls._parse_pads_and_axes(inputs, params)
        mode = attr.get("mode", b"constant").decode("utf-8")
        if mode not in allowed_modes or min(pad_before + pad_after) < 0:  # TVM's own errors and cropping
            return super()._lower_pad(bb, inputs, attr, params, allowed_modes)
        widths = [w for pair in zip(pad_before, pad_after) for w in pair]
        return relax.op.nn.pad(inputs[0], widths, ONNX_PAD_MODES[mode], float(constant_value))


def _scalar_bound(bound):
    """A constant scalar bound as a float; None when computed, absent or NaN (ONNX: unbounded)."""
    if bound is None or not isinstance(bound, tvm.ir.expr.GenericConst):
        return None
    value = bound.value.numpy()
    return float(value) if value.size == 1 and not np.isnan(value).any() else None


class ClipAsRelax(onnx_frontend.Clip):
    @classmethod
    def _impl_v1(cls, bb, inputs, attr, params):
        if "min" in attr and "max" in attr:
            return relax.op.clip(inputs[0], float(attr["min"]), float(attr["max"]))
        return super()._impl_v1(bb, inputs, attr, params)

    @classmethod
    def _impl_v13(cls, bb, inputs, attr, params):
        given = (list(inputs) + [None, None])[1:3]
        low, high = (_scalar_bound(b) for b in given)
        if any(b is not None and v is None for b, v in zip(given, (low, high))):
            return super()._impl_v13(bb, inputs, attr, params)  # a computed or NaN bound: TVM's way
        if low is not None and high is not None:
            return relax.op.clip(inputs[0], low, high)
        x, dtype = inputs[0], inputs[0].ty.dtype  # one bound: a maximum or a minimum
        if low is not None:
            x = relax.op.maximum(x, relax.const(low, dtype))
        if high is not None:
            x = relax.op.minimum(x, relax.const(high, dtype))
        return x


OVERRIDES = {"Einsum": EinsumAsRelax, "Pad": PadAsRelax, "Clip": ClipAsRelax}
_LOCK = threading.Lock()


@contextlib.contextmanager
def relax_importers():
    """TVM's ONNX importer, with the importers above in its converter map."""
    original = onnx_frontend._get_convert_map

    def convert_map():
        return {**original(), **OVERRIDES}

    with _LOCK:
        onnx_frontend._get_convert_map = convert_map
        try:
            yield
        finally:
            onnx_frontend._get_convert_map = original
