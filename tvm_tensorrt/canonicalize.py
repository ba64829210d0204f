"""Relax rewrites that undo importer idioms TensorRT rules cannot see through.

TVM's ONNX importer writes the variadic Sum/Max/Min as broadcast_to + stack + reduce over a
new axis 0. That reads the batch axis (so implicit-batch mode must refuse it) and costs three
ops; the pairwise binary op (add/maximum/minimum) means the same thing under numpy
broadcasting. After the rewrite, the dead broadcast/stack bindings are removed.
"""

from __future__ import annotations

from typing import Callable, Optional

import tvm
import tvm_ffi
from tvm import relax

_PAIRWISE = {"relax.sum": relax.op.add, "relax.max": relax.op.maximum, "relax.min": relax.op.minimum}


def _call_of(lookup: Callable, expr, op_name):
    value = lookup(expr) if isinstance(expr, relax.Var) else expr
    if isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.Op) and value.op.name == op_name:
        return value
    return None


def _pairwise(call, ty, lookup: Callable, normalize: Callable, emit: Callable) -> Optional[relax.Expr]:
    """reduce(stack([broadcast_to(a), b, ...]), axis=0) as a pairwise chain over a, b, ...; None
    where the call is something else or the chain would not have the reduction's type `ty`.
    `emit` turns each intermediate call into something a call may take as an argument."""
    pairwise = _PAIRWISE.get(call.op.name) if isinstance(call.op, tvm.ir.Op) else None
    if pairwise is None or call.attrs.keepdims or [int(a) for a in (call.attrs.axis or [])] != [0]:
        return None
    stack = _call_of(lookup, call.args[0], "relax.stack")
    if stack is None or int(stack.attrs.axis) != 0:
        return None
    fields = stack.args[0].fields if isinstance(stack.args[0], relax.Tuple) else None
    if not fields or len(fields) < 2:
        return None
    operands = []
    for field in fields:
        broadcast = _call_of(lookup, field, "relax.broadcast_to")
        operands.append(broadcast.args[0] if broadcast is not None else field)
    result = operands[0]
    for operand in operands[1:-1]:
        result = emit(pairwise(result, operand))
    result = normalize(pairwise(result, operands[-1]))
    if not tvm_ffi.structural_equal(result.ty, ty):
        return None  # the broadcast also expanded the result; keep the original form
    return result


@relax.expr_functor.mutator
class _StackReduceToPairwise(relax.PyExprMutator):
    """Rebuilds every call, which re-infers its type: that also simplifies the symbolic shape
    expressions the importer left (BERT with a symbolic sequence: 10 subgraphs without it, 1
    with it)."""

    def visit_call_(self, original):
        args = [self.visit_expr(a) for a in original.args]
        if isinstance(original.op, tvm.ir.Op) and original.op.name in _ELEMENTWISE:
            args = _sizes_as_tensors(args, self.builder_.emit)
        call = relax.Call(original.op, args, original.attrs, original.ty_args)
        normalize = self.builder_.normalize
        pairwise = _pairwise(call, original.ty, self.lookup_binding, normalize, normalize)
        return call if pairwise is None else pairwise


# Binary element-wise ops and comparisons: numpy broadcasting of a 0-d operand is what they mean.
_ELEMENTWISE = frozenset(f"relax.{name}" for name in (
    "add", "subtract", "multiply", "divide", "floor_divide", "power", "maximum", "minimum", "floor_mod",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal"))


def _sizes_as_tensors(args: list, emit: Callable) -> list:
    """A size read as a value (a decode step's position ids: arange(sequence) + past_sequence)
    reaches an element-wise op as a bare TIR expression. As a 0-d tensor made from the shape
    (shape_to_tensor, which TensorRT computes from the shape variables) it is an operand rules
    and converters know; left bare, no rule could judge the op."""
    tensors = [a for a in args if isinstance(a.ty, relax.TensorType)]
    if not tensors or len(tensors) == len(args):
        return args
    dtype = str(tensors[0].ty.dtype)
    out = []
    for arg in args:
        if isinstance(arg.ty, tvm.ir.PrimType) and str(arg.ty.dtype).startswith("int"):
            size = emit(relax.op.reshape(relax.op.shape_to_tensor(relax.ShapeExpr([arg])), ()))
            arg = size if dtype == "int64" else emit(relax.op.astype(size, dtype))
        out.append(arg)
    return out


def _symbolic(func: relax.Function) -> bool:
    for param in func.params:
        if isinstance(param.ty, relax.TensorType):
            shape = param.ty.shape
            if shape is None or not all(isinstance(d, tvm.tirx.IntImm) for d in getattr(shape, "values", ())):
                return True
    return False


def _rewrite_bindings(func: relax.Function) -> relax.Function:
    """Only the reductions rewritten, every other binding kept as it is: for static shapes the
    visit's re-inference changes nothing, and it cost 0.05 s on ResNet-50 (16 residual Sums)."""
    values: dict = {}
    normalizer = relax.BlockBuilder()
    blocks, changed = [], False
    for block in func.body.blocks:
        bindings = []
        var_type = relax.DataflowVar if isinstance(block, relax.DataflowBlock) else relax.Var

        def emit(call, name):
            call = normalizer.normalize(call)
            var = var_type(f"{name}_{len(bindings)}", call.ty)
            bindings.append(relax.VarBinding(var, call))
            return var

        for binding in block.bindings:
            if isinstance(binding, relax.VarBinding):
                values[binding.var] = binding.value
                if isinstance(binding.value, relax.Call):
                    rewritten = _pairwise(binding.value, binding.value.ty, values.get, normalizer.normalize,
                                          lambda call, name=binding.var.name: emit(call, name))
                    if rewritten is not None:
                        binding, changed = relax.VarBinding(binding.var, rewritten), True
            bindings.append(binding)
        blocks.append(type(block)(bindings))
    if not changed:
        return func
    return relax.Function(func.params, relax.SeqExpr(blocks, func.body.body), func.ret_ty, func.is_pure, func.attrs)


def canonicalize(mod: tvm.IRModule) -> tvm.IRModule:
    functions = [(gvar, func) for gvar, func in mod.functions.items() if isinstance(func, relax.Function)]
    symbolic = {gvar for gvar, func in functions if _symbolic(func)}
    if symbolic:
        mutator = _StackReduceToPairwise(mod)
        for gvar, func in functions:
            if gvar in symbolic:
                mutator.builder_.update_func(gvar, mutator.visit_expr(func))
        mod = mutator.builder_.get()
    cloned = False
    for gvar, func in functions:
        new = func if gvar in symbolic else _rewrite_bindings(func)
        if not new.same_as(func):
            if not cloned:  # never edit the caller's module
                mod, cloned = mod.clone(), True
            mod[gvar] = new
    return relax.transform.DeadCodeElimination()(mod)
