"""Explicit quantization: relax.quantize / relax.dequantize, which TVM's importer makes of ONNX
QuantizeLinear / DequantizeLinear (QDQ models from onnxruntime's quantize_static or NVIDIA's
ModelOpt). Scales and zero points are constants, per tensor or per channel.

Symmetric int8 (zero point 0): TensorRT runs the layers between a quantize and a dequantize in
INT8, and quantized weights (a dequantize of int8 constants) stay int8 in the engine.

Asymmetric (a zero point other than 0, or uint8, as onnxruntime's quantize_static writes by
default): TensorRT's INT8 is symmetric, so the pair is fake-quantized in float inside the engine
(converters/quantize.py): q = clamp(round_half_to_even(x / scale) + zero_point, lo, hi),
x' = (q - zero_point) * scale, the numbers onnxruntime computes. TensorRT takes uint8 tensors only
at network inputs and outputs, so inside a network a uint8 quantize's result is carried in float:
such a quantize is offloaded only where dequantizes alone read it (they go in its subgraph).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from tvm import relax

from ..checks import FLOAT_DTYPES, _JUDGED, constant_array, is_constant
from ..registry import register_rule
from .gates import TENSORRT_10

QUANTIZE_LIMITS = ("int8 or uint8, constant scale (per tensor or per channel) and zero point; zero point 0: "
                   "INT8 layers, else fake-quantized in float (a uint8 quantize only where dequantizes read it)")
QUANTIZED = {"int8": (-128, 127), "uint8": (0, 255)}


def is_asymmetric(dtype: str, zero_point) -> bool:
    """Not TensorRT's INT8 (int8, zero point 0): fake-quantized in float."""
    return dtype != "int8" or bool(np.any(np.asarray(zero_point) != 0))


def _scale_and_zero_point_reason(call, what: str, dtype: str) -> Optional[str]:
    scale, zero_point = call.args[1], call.args[2]
    if not is_constant(scale) or not is_constant(zero_point):
        return f"{what} scale and zero point must be constants: TensorRT builds them into the engine"
    values = constant_array(scale)
    if values.ndim > 1:
        return f"{what} scale has shape {values.shape}; TensorRT takes a scalar or one scale per channel"
    if not np.all(np.isfinite(values)) or (values <= 0).any():
        return f"{what} scale must be positive and finite, got {values.min()}"
    zeros = constant_array(zero_point)
    if zeros.ndim > 1 or (zeros.size > 1 and values.size > 1 and zeros.size != values.size):
        return f"{what} zero point has shape {zeros.shape}; TensorRT takes a scalar or one per channel"
    lo, hi = QUANTIZED[dtype]
    if zeros.size and (zeros.min() < lo or zeros.max() > hi):
        return f"{what} zero point {zeros.min()}..{zeros.max()} is outside {dtype}'s range [{lo}, {hi}]"
    return None


_READERS: list = [None, None]  # [the judged block, {var: [values reading it]}] of the last block asked


def _readers(judged) -> dict:
    if _READERS[0] is not judged:
        readers: dict = {}
        for value in judged.values.values():
            for var in relax.analysis.free_vars(value):
                readers.setdefault(var, []).append(value)
        _READERS[:] = [judged, readers]
    return _READERS[1]


def _dequantizes_alone_read(call) -> bool:
    """Whether the var bound to `call` is read, in its block, by dequantize calls only."""
    judged = _JUDGED.get()
    var = next((v for v, value in judged.values.items() if value.same_as(call)), None)
    if var is None:
        return False
    readers = _readers(judged).get(var, [])
    return bool(readers) and all(isinstance(r, relax.Call) and getattr(r.op, "name", None) == "relax.dequantize"
                                 and r.args[0].same_as(var) for r in readers)


@register_rule("quantize", min_version=TENSORRT_10, dtypes=FLOAT_DTYPES + ("int8", "uint8"),
               limits=QUANTIZE_LIMITS)
def quantize_rule(call, config):
    dtype = str(call.attrs.out_dtype)
    if dtype not in QUANTIZED:
        return f"quantize to {dtype}: TensorRT quantizes to int8 (uint8 fake-quantized in float) here"
    reason = _scale_and_zero_point_reason(call, "quantize", dtype)
    if reason is None and dtype == "uint8" and not _dequantizes_alone_read(call):
        reason = ("quantize to uint8 read by other than dequantizes: TensorRT takes uint8 tensors only at "
                  "network inputs and outputs, so the engine carries this one in float to its dequantizes")
    return reason


@register_rule("dequantize", min_version=TENSORRT_10, dtypes=FLOAT_DTYPES + ("int8", "uint8"),
               limits=QUANTIZE_LIMITS)
def dequantize_rule(call, config):
    dtype = str(call.args[0].ty.dtype)
    if dtype not in QUANTIZED:
        return f"dequantize of {dtype}: TensorRT dequantizes int8 (uint8 in float) here"
    return _scale_and_zero_point_reason(call, "dequantize", dtype)


def symmetric_scale(scale, zero_point, dtype: str) -> np.ndarray:
    """The symmetric int8 scale covering what an asymmetric quantization represents:
    max(|lo|, |hi|) / 127 over its range [(qmin - zero_point) * scale, (qmax - zero_point) * scale]."""
    qmin, qmax = QUANTIZED[dtype]
    scale, zero_point = np.asarray(scale, np.float64), np.asarray(zero_point, np.float64)
    peak = np.maximum(np.abs((qmin - zero_point) * scale), np.abs((qmax - zero_point) * scale))
    return (peak / 127.0).astype(np.float32)


def _broadcasting(values, axis: int, rank: int) -> np.ndarray:
    values = np.asarray(values)
    if values.size == 1:
        return values.reshape(())
    axis = axis % rank
    return values.reshape([-1 if a == axis else 1 for a in range(rank)])


def requantize_symmetric(mod):
    """Asymmetric activation quantize/dequantize pairs (constant scale and zero point) made
    symmetric int8 (zero point 0, scale from symmetric_scale), so TensorRT runs real INT8
    layers instead of fake-quantizing in float. The input is first clamped to the range the
    asymmetric quantization represents (a maximum and a minimum): onnxruntime drops a ReLU whose
    output a quantize with zero point qmin saturates, so the clamp is that ReLU. It changes the
    numbers: the range keeps its extent but not its offset, so a one-sided range (after a ReLU)
    loses one bit of resolution.
    Dequantizes of constants (weights) are left as they are."""
    import tvm

    values = {}
    for func in mod.functions.values():
        if isinstance(func, relax.Function):
            for block in func.body.blocks:
                values.update({b.var: b.value for b in block.bindings if isinstance(b, relax.VarBinding)})

    def requantized(call) -> Optional[np.ndarray]:
        if not isinstance(call, relax.Call) or getattr(call.op, "name", None) != "relax.quantize":
            return None
        dtype = str(call.attrs.out_dtype)
        if dtype not in QUANTIZED or not is_constant(call.args[1]) or not is_constant(call.args[2]):
            return None
        zero_point = constant_array(call.args[2])
        if not is_asymmetric(dtype, zero_point):
            return None
        return symmetric_scale(constant_array(call.args[1]), zero_point, dtype)

    def represented_range(call):
        qmin, qmax = QUANTIZED[str(call.attrs.out_dtype)]
        scale = constant_array(call.args[1]).astype(np.float64)
        zero_point = constant_array(call.args[2]).astype(np.float64)
        return (qmin - zero_point) * scale, (qmax - zero_point) * scale

    def qparams(scale):
        scale = np.asarray(scale, np.float32)
        zero = np.zeros(scale.shape, np.int8)
        return relax.const(scale, "float32"), relax.const(zero, "int8")

    @relax.expr_functor.mutator
    class Requantizer(relax.PyExprMutator):
        def visit_call_(self, original):
            call = super().visit_call_(original)
            name = getattr(original.op, "name", None)
            if name == "relax.quantize":
                scale = requantized(original)
                if scale is not None:
                    data = call.args[0]
                    lo, hi = represented_range(original)
                    rank = len(data.ty.shape.values)
                    for op, bound in ((relax.op.maximum, lo), (relax.op.minimum, hi)):
                        bound = _broadcasting(bound, int(original.attrs.axis), rank)
                        data = self.builder_.emit(op(data, relax.const(bound, str(data.ty.dtype))))
                    return relax.op.quantize(data, *qparams(scale), axis=int(original.attrs.axis), out_dtype="int8")
            elif name == "relax.dequantize" and isinstance(original.args[0], relax.Var):
                scale = requantized(values.get(original.args[0]))
                if scale is not None:
                    return relax.op.dequantize(call.args[0], *qparams(scale), axis=int(original.attrs.axis),
                                               out_dtype=str(original.attrs.out_dtype))
            return call

    mutator = Requantizer(mod)
    for gv, func in mod.functions.items():
        if isinstance(func, relax.Function):
            mutator.builder_.update_func(gv, mutator.visit_expr(func))
    result = mutator.builder_.get()
    assert isinstance(result, tvm.IRModule)
    return result
