"""Symbolic dimensions as TVM writes them (TIR expressions in a tensor type's shape), read for
the rules and the runtime: which dims are symbolic, which shape variables a type or a call uses,
and each dim as formats.dims data the runtime evaluates (`dim_ast`)."""

from __future__ import annotations

import contextvars

import tvm
from tvm import relax


def dim_text(d) -> str:
    return str(int(d)) if isinstance(d, tvm.ir.prim.expr.IntImm) else str(d)


_DIM_OPS = {"Add": "add", "Sub": "sub", "Mul": "mul", "FloorDiv": "floordiv", "FloorMod": "floormod",
            "Max": "max", "Min": "min"}


_ANALYZER = contextvars.ContextVar("tvm_tensorrt_analyzer", default=None)


def simplified(dim):
    """TVM's simplification of a dimension (one analyzer per thread: it is not thread-safe)."""
    from tvm.sym.analyzer import Analyzer

    analyzer = _ANALYZER.get()
    if analyzer is None:
        analyzer = Analyzer()
        _ANALYZER.set(analyzer)
    return analyzer.simplify(dim)


def _prim_dtype(expr) -> str:
    return str(getattr(expr, "dtype", None) or expr.ty)


def dim_ast(dim):
    """A TIR dimension as formats.dims data (int, variable name, [op, a, b]); None when it uses
    something the runtime cannot evaluate."""
    if isinstance(dim, tvm.ir.prim.expr.IntImm):
        return int(dim)
    if isinstance(dim, tvm.ir.prim.expr.Var):
        return str(dim.name)
    op = _DIM_OPS.get(type(dim).__name__)
    if op is None and type(dim).__name__ == "Cast":  # a size through float and back (a detector's grid)
        inner = dim.value
        if not _prim_dtype(dim).startswith("int"):
            return None
        if type(inner).__name__ == "Cast" and _prim_dtype(inner) in ("float32", "float64") \
                and _prim_dtype(inner.value).startswith("int"):
            return dim_ast(inner.value)  # int -> float -> int is exact for any size below 2**24
        return dim_ast(inner) if _prim_dtype(inner).startswith("int") else None
    if op is None and type(dim).__name__ == "Div":  # C division: `batch * 4 / 4` (SAM's windows) is batch
        simpler = simplified(dim)
        return None if type(simpler).__name__ == "Div" else dim_ast(simpler)
    if op is None:
        return None
    a, b = dim_ast(dim.a), dim_ast(dim.b)
    return None if a is None or b is None else [op, a, b]


def symbolic_dims(ty) -> list:
    """[(axis, TIR dim)] of a tensor type's symbolic dims (none when its shape is unknown)."""
    values = (getattr(ty.shape, "values", None) or ())[:]  # a slice: one call for all elements
    return [(i, d) for i, d in enumerate(values) if not isinstance(d, tvm.ir.prim.expr.IntImm)]


def shape_vars(ty) -> set:
    """Names of the shape variables a tensor (or tuple) type's dims use."""
    found: set = set()
    if isinstance(ty, relax.TupleType):
        return found.union(*(shape_vars(f) for f in ty.fields))
    if isinstance(ty, relax.TensorType) and ty.shape is not None and getattr(ty.shape, "values", None) is not None:
        for _, d in symbolic_dims(ty):
            found |= {str(v.name) for v in tir_vars(d)}
    return found


def is_size(arg) -> bool:
    """An integer scalar argument (arange's end): a TIR expression, not a Relax value."""
    return isinstance(getattr(arg, "ty", None), tvm.ir.PrimType) and "int" in str(arg.ty)


def call_size_vars(call) -> set:
    """Shape variables a call reads as sizes in shape or scalar arguments (arange's end,
    shape_to_tensor's shape), beside those in its tensors' types."""
    found: set = set()
    for arg in call.args:
        sizes = arg.values if isinstance(arg, relax.ShapeExpr) else [arg] if is_size(arg) else []
        for size in sizes:
            found |= {str(v.name) for v in tir_vars(size)}
    return found


def bound_vars(ty) -> set:
    """Shape variables a tensor type has as plain dims: a value of this type tells them."""
    if not isinstance(ty, relax.TensorType) or ty.shape is None or getattr(ty.shape, "values", None) is None:
        return set()
    return {str(d.name) for _, d in symbolic_dims(ty) if isinstance(d, tvm.ir.prim.expr.Var)}


def tir_vars(dim) -> list:
    """The TIR variables in a dimension expression."""
    if isinstance(dim, tvm.ir.prim.expr.Var):
        return [dim]
    if hasattr(dim, "a") and hasattr(dim, "b"):
        return tir_vars(dim.a) + tir_vars(dim.b)
    return []
