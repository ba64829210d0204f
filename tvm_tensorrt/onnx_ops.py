"""ONNX ops that TVM 0.27's importer writes as opaque TIR (`call_tir` of a TE function), which no
rule can see into: Einsum and Pad. These importers emit the Relax operators instead
(`relax.einsum`, `relax.nn.pad`), which TVM legalizes to the same TE code when it compiles
them, and which our rules and converters can judge and offload.

TVM's importer has no public hook for per-op converters, so `relax_importers()` swaps them into
its converter map for the duration of one import (under a lock: the map is module-global).
"""

from __future__ import annotations

import contextlib
import threading

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


OVERRIDES = {"Einsum": EinsumAsRelax, "Pad": PadAsRelax}
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
