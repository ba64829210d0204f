"""Matrix multiply and einsum layers."""

from __future__ import annotations

import numpy as np

from .core import _LayerFailure, _acc_dtype, _enum_name, _handler, _unsupported


@_handler("MATRIX_MULTIPLY")
def _matrix_multiply(ev, layer, ins, dtypes):
    a, b = ins
    op0, op1 = _enum_name(layer.op0), _enum_name(layer.op1)
    for op, t, what in ((op0, a, "op0"), (op1, b, "op1")):
        if op not in ("NONE", "TRANSPOSE", "VECTOR"):
            raise _unsupported(f"{what} {op}")
        if (op == "VECTOR" and t.ndim < 1) or (op != "VECTOR" and t.ndim < 2):
            raise _LayerFailure(f"{what} {op} on a rank-{t.ndim} input")
    if op0 == "TRANSPOSE":
        a = a.swapaxes(-1, -2)
    if op1 == "TRANSPOSE":
        b = b.swapaxes(-1, -2)
    va, vb = op0 == "VECTOR", op1 == "VECTOR"
    if va:
        a = a[..., None, :]
    if vb:
        b = b[..., :, None]
    acc = _acc_dtype(a.dtype)
    y = ev.contract(a.astype(acc), b.astype(acc))
    if va and vb:
        y = y[..., 0, 0]
    elif va:
        y = y[..., 0, :]
    elif vb:
        y = y[..., 0]
    return [y.astype(dtypes[0])]


@_handler("EINSUM")
def _einsum(ev, layer, ins, dtypes):
    acc = _acc_dtype(ins[0].dtype)
    return [np.einsum(str(layer.equation), *[t.astype(acc) for t in ins]).astype(dtypes[0])]
