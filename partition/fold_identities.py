"""Calls that compute their input unchanged, and reshapes of reshapes.

Exports are full of them: a Cast to the dtype the tensor already has (LLaMA's RMSNorm casts to
float32 and back), a Reshape or Expand to the shape it already has, a bias of zeros or a scale
of ones (layer-scale and norm weights as initialised), a Reshape of a Reshape around a Gemm.
Each would be a TensorRT layer and a node in every report. onnxslim removes them; models that
no longer go through onnxslim (frontend.py) would keep them, so they are removed here, for
ONNX and Relax input alike.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import tvm_ffi
from tvm import relax

from .checks import constant_array, is_constant
from .graph import op_name

_SAME_SHAPE_IDENTITIES = ("astype", "reshape", "broadcast_to")
# op -> (the neutral constant, which argument positions it may take)
_NEUTRAL = {"add": (0, (0, 1)), "subtract": (0, (1,)), "multiply": (1, (0, 1)), "divide": (1, (1,))}


def _same_type(a, b) -> bool:
    return tvm_ffi.structural_equal(a.ty, b.ty)


def _keeps_axes(axes, rank: int) -> bool:
    """Does permute_dims with these axes leave every axis in place? None reverses them."""
    if axes is None:
        return rank <= 1
    return [int(a) for a in axes] == list(range(len(axes)))


def identity_source(call) -> Optional[relax.Expr]:
    """The argument `call` returns unchanged, or None."""
    name = op_name(call)
    if name in _SAME_SHAPE_IDENTITIES or name == "permute_dims":
        source = call.args[0]
        if not isinstance(source.ty, relax.TensorType) or not _same_type(source, call):
            return None
        if name == "permute_dims" and not _keeps_axes(call.attrs.axes, source.ty.ndim):
            return None  # a square transpose keeps the shape but not the data
        return source
    if name in _NEUTRAL and len(call.args) == 2:
        neutral, positions = _NEUTRAL[name]
        for position in positions:
            constant, source = call.args[position], call.args[1 - position]
            if not is_constant(constant):
                continue
            values = constant_array(constant)  # a bias is seldom all zeros: the values first, the types last
            if values.size and values.size <= (1 << 16) and values.flat[0] == neutral and np.all(values == neutral) \
                    and _same_type(source, call):
                return source
    return None


def merged_reshape(call, values: dict) -> Optional[relax.Call]:
    """reshape(reshape(x, a), b) as reshape(x, b): one layer, same data (both are row-major)."""
    if op_name(call) != "reshape":
        return None
    inner = values.get(call.args[0])
    if op_name(inner) != "reshape":
        return None
    return relax.op.reshape(inner.args[0], call.args[1])
