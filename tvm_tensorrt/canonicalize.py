"""Relax rewrites that undo importer idioms TensorRT rules cannot see through.

TVM's ONNX importer writes the variadic Sum/Max/Min as broadcast_to + stack + reduce over a
new axis 0. That reads the batch axis (so implicit-batch mode must refuse it) and costs three
ops; the pairwise binary op (add/maximum/minimum) means the same thing under numpy
broadcasting. After the rewrite, the dead broadcast/stack bindings are removed.
"""

from __future__ import annotations

import tvm
import tvm_ffi
from tvm import relax

_PAIRWISE = {"relax.sum": relax.op.add, "relax.max": relax.op.maximum, "relax.min": relax.op.minimum}


def _call_of(mutator, expr, op_name):
    value = mutator.lookup_binding(expr) if isinstance(expr, relax.Var) else expr
    if isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.Op) and value.op.name == op_name:
        return value
    return None


@relax.expr_functor.mutator
class _StackReduceToPairwise(relax.PyExprMutator):
    def visit_call_(self, original):
        call = relax.Call(original.op, [self.visit_expr(a) for a in original.args], original.attrs,
                          original.ty_args)
        pairwise = _PAIRWISE.get(call.op.name) if isinstance(call.op, tvm.ir.Op) else None
        if pairwise is None or call.attrs.keepdims or [int(a) for a in (call.attrs.axis or [])] != [0]:
            return call
        stack = _call_of(self, call.args[0], "relax.stack")
        if stack is None or int(stack.attrs.axis) != 0:
            return call
        fields = stack.args[0].fields if isinstance(stack.args[0], relax.Tuple) else None
        if not fields or len(fields) < 2:
            return call
        operands = []
        for field in fields:
            broadcast = _call_of(self, field, "relax.broadcast_to")
            operands.append(broadcast.args[0] if broadcast is not None else field)
        result = operands[0]
        for operand in operands[1:]:
            result = self.builder_.normalize(pairwise(result, operand))
        if not tvm_ffi.structural_equal(result.ty, original.ty):
            return call  # the broadcast also expanded the result; keep the original form
        return result


def _stacks(func: relax.Function) -> bool:
    """Whether the function has the pattern's stack at all (models without Sum/Max/Min do not)."""
    return any(isinstance(b.value, relax.Call) and isinstance(b.value.op, tvm.ir.Op) and b.value.op.name == "relax.stack"
               for block in func.body.blocks for b in block.bindings)


def canonicalize(mod: tvm.IRModule) -> tvm.IRModule:
    functions = [(gvar, func) for gvar, func in mod.functions.items()
                 if isinstance(func, relax.Function) and _stacks(func)]
    if functions:  # the mutator rebuilds every call (0.05 s on ResNet-50): only where it can act
        mutator = _StackReduceToPairwise(mod)
        for gvar, func in functions:
            mutator.builder_.update_func(gvar, mutator.visit_expr(func))
        mod = mutator.builder_.get()
    return relax.transform.DeadCodeElimination()(mod)
