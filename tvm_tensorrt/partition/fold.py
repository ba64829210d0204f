"""Fold calls whose inputs are all constants (ONNX models compute weights in the graph:
ConstantOfShape, transposed Gemm weights, reshaped biases), so TensorRT sees constant weights.

Shape arithmetic on static shapes folds too: ONNX exports read shapes at run time (Shape ->
Gather -> Concat -> Reshape), which TVM imports as shape_of / shape_to_tensor and int64 math.
Where the shape is static it is a constant, and so is everything computed from it; left in the
graph those ops would cut the TensorRT subgraphs apart.

Relax's FoldConstant legalizes every call in the module to find the foldable ones, which costs
seconds per thousand ops; this walks the bindings once and hands only the foldable calls to it.
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax

from .checks import is_constant, static_shape
from .graph import used_vars
from .outline import substitute


def _foldable(value) -> bool:
    if not isinstance(value, relax.Call) or not isinstance(value.op, tvm.ir.Op):
        return False
    if not isinstance(value.ty, relax.TensorType):
        return False
    for arg in value.args:
        fields = arg.fields if isinstance(arg, relax.Tuple) else [arg]
        for f in fields:
            if isinstance(f, relax.Var):
                return False
    return any(is_constant(f) for a in value.args for f in (a.fields if isinstance(a, relax.Tuple) else [a]))


def _static_shape_value(value):
    """shape_of(static tensor) -> ShapeExpr; shape_to_tensor(static ShapeExpr) -> int64 const."""
    if not isinstance(value, relax.Call) or not isinstance(value.op, tvm.ir.Op):
        return None
    name = value.op.name
    if name == "relax.shape_of":
        shape = static_shape(value.args[0].ty)
        return relax.ShapeExpr([tvm.ir.prim.expr.IntImm("int64", d) for d in shape]) if shape is not None else None
    if name == "relax.shape_to_tensor" and isinstance(value.args[0], relax.ShapeExpr):
        values = value.args[0].values
        if all(isinstance(v, tvm.ir.prim.expr.IntImm) for v in values):
            return relax.const(np.array([int(v) for v in values], dtype="int64"), "int64")
    return None


def _evaluate(call) -> relax.Expr:
    """The folded constant for `call`, or the call itself when TVM cannot fold it."""
    bb = relax.BlockBuilder()
    with bb.function("main", []):
        with bb.dataflow():  # FoldConstant only folds inside dataflow blocks
            out = bb.emit_output(call)
        bb.emit_func_output(out)
    result = relax.transform.FoldConstant()(bb.get())["main"].body.body
    return result if is_constant(result) else call


def fold_constants(func: relax.Function) -> relax.Function:
    folded: dict = {}
    new_blocks = []
    changed = False
    normalizer = relax.BlockBuilder()
    for block in func.body.blocks:
        bindings = []
        for binding in block.bindings:
            value = binding.value
            if folded and any(v in folded for v in used_vars(value)):
                value = normalizer.normalize(substitute(value, folded))
            shape_value = _static_shape_value(value) if isinstance(binding, relax.VarBinding) else None
            if shape_value is not None:
                folded[binding.var] = shape_value
                changed = True
                value = shape_value
            elif isinstance(binding, relax.VarBinding) and _foldable(value):
                result = _evaluate(value)
                if is_constant(result):
                    folded[binding.var] = result
                    changed = True
                    value = result
            if isinstance(binding, relax.MatchCast):
                bindings.append(binding)
            else:
                bindings.append(relax.VarBinding(binding.var, value))
        new_blocks.append(type(block)(bindings))
    if not changed:
        return func
    body = relax.SeqExpr(new_blocks, substitute(func.body.body, folded))
    return relax.Function(func.params, body, func.ret_ty, func.is_pure, func.attrs)


def fold_module(mod: tvm.IRModule) -> tvm.IRModule:
    updates = {}
    for gv, func in mod.functions.items():
        if isinstance(func, relax.Function) and not (func.attrs and "Codegen" in func.attrs):
            new = fold_constants(func)
            if not new.same_as(func):
                updates[gv] = new
    if not updates:
        return mod
    mod = mod.clone()  # never edit the caller's module
    for gv, func in updates.items():
        mod[gv] = func
    return relax.transform.DeadCodeElimination()(relax.transform.Normalize()(mod))
