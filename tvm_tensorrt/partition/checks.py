"""Shared predicates for rules: each returns None when fine, or the reason it is not.

Rules combine these with `first_reason` so a rejection always names the first thing that failed.
"""

from __future__ import annotations

from typing import Iterable, Optional

import tvm
from tvm import relax

SUPPORTED_DTYPES = ("float32", "float16")


def static_shape(ty) -> Optional[tuple]:
    """The shape as ints, or None when unknown or symbolic."""
    if not isinstance(ty, relax.TensorType) or ty.shape is None:
        return None
    dims = getattr(ty.shape, "values", None)
    if dims is None:
        return None
    if not all(isinstance(d, tvm.ir.prim.expr.IntImm) for d in dims):
        return None
    return tuple(int(d) for d in dims)


def dtype_of(ty) -> Optional[str]:
    return str(ty.dtype) if isinstance(ty, relax.TensorType) else None


def is_constant(expr) -> bool:
    """A tensor constant (TVM 0.27 names the class GenericConst; scalars are IntImm/FloatImm)."""
    return isinstance(expr, tvm.ir.expr.GenericConst)


def tensor_args(call) -> list:
    """Tensor-valued arguments, with tuples (e.g. concat's inputs) flattened."""
    found = []
    for arg in call.args:
        if isinstance(arg, relax.Tuple):
            found.extend(f for f in arg.fields if isinstance(f.ty, relax.TensorType))
        elif isinstance(arg.ty, relax.TensorType):
            found.append(arg)
    return found


def first_reason(*reasons: Optional[str]) -> Optional[str]:
    for reason in reasons:
        if reason:
            return reason
    return None


def check_tensor(expr, what: str) -> Optional[str]:
    """TensorRT needs known float dtypes and static shapes for what it builds here."""
    ty = expr.ty
    if not isinstance(ty, relax.TensorType):
        return f"{what} is not a tensor ({type(ty).__name__})"
    dtype = dtype_of(ty)
    if dtype not in SUPPORTED_DTYPES:
        return f"{what} has dtype {dtype}; TensorRT subgraphs take {' or '.join(SUPPORTED_DTYPES)}"
    if static_shape(ty) is None:
        return f"{what} has a dynamic shape {ty.shape}; only static shapes are offloaded"
    return None


def check_call_tensors(call) -> Optional[str]:
    """Every tensor input and the output must pass check_tensor."""
    for i, arg in enumerate(tensor_args(call)):
        reason = check_tensor(arg, f"input {i}")
        if reason:
            return reason
    out = call.ty
    outs = out.fields if isinstance(out, relax.TupleType) else [out]
    for ty in outs:
        if not isinstance(ty, relax.TensorType):
            return f"output is {type(ty).__name__}, not a tensor"
        if dtype_of(ty) not in SUPPORTED_DTYPES:
            return f"output has dtype {dtype_of(ty)}; TensorRT subgraphs produce {' or '.join(SUPPORTED_DTYPES)}"
        if static_shape(ty) is None:
            return f"output has a dynamic shape {ty.shape}; only static shapes are offloaded"
    return None


def check_constant(expr, what: str) -> Optional[str]:
    if not is_constant(expr):
        return f"{what} must be a constant (bind params first) because TensorRT builds it into the engine"
    return None


def check_layout(actual: str, allowed: Iterable[str], what: str) -> Optional[str]:
    allowed = tuple(allowed)
    if actual not in allowed:
        return f"{what} is {actual}; TensorRT rules accept {'/'.join(allowed)} (convert the layout first)"
    return None


def rank_of(expr) -> int:
    return len(static_shape(expr.ty) or ())


def normalise_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis
