"""Shape arithmetic as symbolic values, so it folds away on dynamic shapes too.

Exporters compute sizes at run time: `arange(0, seq)` reaches Relax as shape_to_tensor ->
reshape -> subtract -> floor_divide -> negative -> maximum -> tensor_to_shape -> match_cast to a
fresh size variable, and the arange is sized by that variable. No subgraph input carries such a
variable, so nothing that depends on it could go to TensorRT. Evaluating the chain on symbolic
sizes (TIR expressions simplified by TVM's analyzer) shows the fresh variable is `seq`; binding
it so turns the rest into ordinary shapes of the model's own size variables, and the chain into
dead code.

Only small integer tensors (shapes, their elements) are tracked; anything else is left alone.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import tvm
from tvm import relax
from tvm.ir.prim.expr import IntImm
from tvm.sym.analyzer import Analyzer

from .checks import INT_DTYPES, is_constant
from .symbolic_dims import tir_vars

MAX_ELEMENTS = 8  # shapes have a handful of elements; larger int tensors are data, not shapes
SIZE_BOUND = 1 << 40  # size variables are non-negative: lets max(seq, 0) simplify to seq


class ShapeValues:
    """Walks bindings in order; `replacement(var, value)` gives what a binding folds to."""

    def __init__(self):
        self.known: dict = {}  # relax Var -> (shape (): scalar or (k,), [PrimExpr])
        self.size_bindings: dict = {}  # fresh TIR size var (from match_cast) -> PrimExpr
        self.analyzer = Analyzer()

    # ---- values ---------------------------------------------------------------------------
    def _simplify(self, expr):
        for var in tir_vars(expr):
            self.analyzer.bind(var, tvm.ir.Range(0, SIZE_BOUND))
        return self.analyzer.simplify(expr)

    def value_of(self, expr) -> Optional[tuple]:
        if isinstance(expr, relax.Var):
            return self.known.get(expr)
        if is_constant(expr) and str(expr.ty.dtype) in INT_DTYPES:
            array = expr.value.numpy()
            if array.ndim <= 1 and array.size <= MAX_ELEMENTS:
                return array.shape, [IntImm("int64", int(v)) for v in array.reshape(-1)]
        return None

    # ---- bindings -------------------------------------------------------------------------
    def replacement(self, var, value) -> Optional[relax.Expr]:
        """The constant or ShapeExpr this binding folds to, or None (it may still be recorded
        as a symbolic value for later bindings)."""
        if isinstance(value, relax.ShapeExpr):  # carries its sizes where the var's annotation may not
            return value
        if isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.Op):
            if value.op.name == "relax.shape_of":
                ty = value.args[0].ty
                values = getattr(ty.shape, "values", None) if isinstance(ty, relax.TensorType) else None
                return relax.ShapeExpr(list(values)) if values is not None else None
            if value.op.name == "relax.tensor_to_shape":
                known = self.value_of(value.args[0])
                return relax.ShapeExpr(known[1]) if known is not None and len(known[0]) == 1 else None
            if not isinstance(var.ty, relax.TensorType) or str(var.ty.dtype) not in INT_DTYPES:
                return None  # sizes are integers: a float call (most of a model) is not looked into
            result = self._evaluate(value)
            if result is None:
                return None
            shape, elements = result
            self.known[var] = (shape, elements)
            if all(isinstance(e, IntImm) for e in elements):
                array = np.array([int(e) for e in elements], dtype=str(var.ty.dtype)).reshape(shape)
                return relax.const(array, str(var.ty.dtype))  # relax.const would make int64 int32
        return None

    def match_cast(self, binding) -> None:
        """match_cast(ShapeExpr(sizes), Shape([fresh vars])): the fresh vars are those sizes; a
        match_cast of a known tensor to a tensor type keeps its value."""
        value = binding.value
        if isinstance(binding.ty, relax.TensorType) and self.value_of(value) is not None:
            self.known[binding.var] = self.value_of(value)
            return
        pattern = getattr(binding.ty, "values", None) if isinstance(binding.ty, relax.ShapeType) else None
        if not isinstance(value, relax.ShapeExpr) or pattern is None or len(pattern) != len(value.values):
            return
        for fresh, size in zip(pattern, value.values):
            if isinstance(fresh, tvm.ir.prim.expr.Var) and fresh not in self.size_bindings \
                    and not any(v.same_as(fresh) for v in tir_vars(size)):
                self.size_bindings[fresh] = size

    def _evaluate(self, call) -> Optional[tuple]:
        name = call.op.name.removeprefix("relax.")
        if name == "shape_to_tensor" and isinstance(call.args[0], relax.ShapeExpr):
            values = list(call.args[0].values)
            return (len(values),), values
        args = [self.value_of(a) for a in call.args if isinstance(a.ty, relax.TensorType)]
        if not args or any(a is None for a in args):
            return None
        if name in _BINARY and len(args) == 2:
            return self._binary(_BINARY[name], *args)
        if name == "negative":
            shape, values = args[0]
            return shape, [self._simplify(IntImm("int64", 0) - v) for v in values]
        if name == "astype" and str(call.attrs.dtype) in INT_DTYPES:
            return args[0]
        if name == "reshape":
            target = getattr(call.args[1], "values", None)
            if target is None or not all(isinstance(d, IntImm) for d in target):
                return None
            shape = tuple(int(d) for d in target)
            return (shape, args[0][1]) if len(shape) <= 1 and int(np.prod(shape)) == len(args[0][1]) else None
        if name == "take" and len(args) == 2 and all(isinstance(i, IntImm) for i in args[1][1]):
            values, indices = args[0][1], [int(i) for i in args[1][1]]
            mode = str(call.attrs.mode)
            if mode == "clip":
                indices = [min(max(i, 0), len(values) - 1) for i in indices]
            elif mode == "fast" and not all(-len(values) <= i < len(values) for i in indices):
                return None  # TVM reads out of bounds there: nothing to fold
            return args[1][0], [values[i % len(values)] for i in indices]
        if name == "concat":
            return None if any(len(a[0]) != 1 for a in args) else ((sum(len(a[1]) for a in args),),
                                                                    [v for a in args for v in a[1]])
        return None

    def _binary(self, op, lhs, rhs) -> Optional[tuple]:
        (ls, lv), (rs, rv) = lhs, rhs
        if len(lv) != len(rv) and 1 not in (len(lv), len(rv)):
            return None
        n = max(len(lv), len(rv))
        shape = (n,) if (ls or rs) else ()
        lv, rv = (lv * n if len(lv) == 1 else lv), (rv * n if len(rv) == 1 else rv)
        return shape, [self._simplify(op(a, b)) for a, b in zip(lv, rv)]


_BINARY = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "floor_divide": lambda a, b: tvm.ir.prim.expr.FloorDiv(a, b),
    "maximum": lambda a, b: tvm.ir.prim.expr.Max(a, b),
    "minimum": lambda a, b: tvm.ir.prim.expr.Min(a, b),
}


def bind_sizes(mod: tvm.IRModule, gvar, size_bindings: dict) -> tvm.IRModule:
    """Replace each fresh size variable by the size it was shown to be."""
    if not size_bindings:
        return mod
    return relax.transform.BindSymbolicVars(size_bindings, gvar.name_hint)(mod)
