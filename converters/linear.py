"""relax.matmul with numpy semantics (1-D operands are vectors, batch dims broadcast) and
relax.einsum (TensorRT's einsum layer)."""

from __future__ import annotations

import string

import numpy as np

from .base import TensorRTOpConverter, register_converter
from .helpers import lifted, tensor_of


def stored_transposed(weight) -> bool:
    """Is this weight a transposed view of a stored matrix (ONNX Gemm's transB, see fusion.py)?
    Then the matmul reads the stored array with MatrixOperation.TRANSPOSE: no copy, no shuffle."""
    return weight is not None and weight.ndim >= 2 and not weight.flags.c_contiguous \
        and weight.swapaxes(-1, -2).flags.c_contiguous


@register_converter("matmul")
class MatmulConverter(TensorRTOpConverter):
    input_types = ("tensor", "tensor")

    def convert(self, params):
        trt = params.trt
        shapes = [i.shape for i in params.inputs]
        ops = [trt.MatrixOperation.VECTOR if len(s) == 1 else trt.MatrixOperation.NONE for s in shapes]
        rank = max(len(s) for s in shapes)
        matrices = len(shapes[0]) > 1 and len(shapes[1]) > 1
        tensors = []
        for i, item in enumerate(params.inputs):
            if stored_transposed(item.weight):
                stored = item.weight.swapaxes(-1, -2)
                ops[i] = trt.MatrixOperation.TRANSPOSE
                lift = rank - stored.ndim if matrices else 0  # batch dims broadcast between equal ranks
                tensors.append(params.constant(np.reshape(stored, (1,) * lift + stored.shape)))
            else:
                tensors.append(lifted(params, i, rank) if matrices else tensor_of(params, i))
        layer = params.network.add_matrix_multiply(tensors[0], ops[0], tensors[1], ops[1])
        return [layer.get_output(0)]


def einsum_terms(subscripts: str, ranks) -> tuple[list, str]:
    """(input terms, output term) of a numpy einsum equation, written the one way TensorRT's
    einsum documents: an ellipsis spelled out in fresh labels (right-aligned, as numpy
    broadcasts it), an implicit output made explicit (numpy's rule: the ellipsis, then the labels
    used once, sorted), and the labels renamed to lower-case letters in order of appearance.
    Raises ValueError for an equation that does not fit the operands."""
    text = subscripts.replace(" ", "")
    lhs, arrow, rhs = text.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ValueError(f"{len(terms)} terms for {len(ranks)} operands")
    named = [t.replace("...", "") for t in terms]
    fresh = [c for c in string.ascii_letters if c not in text]
    spread = max([r - len(n) for t, n, r in zip(terms, named, ranks) if "..." in t], default=0)
    if spread > len(fresh):
        raise ValueError("too many labels")
    ellipsis = "".join(fresh[:spread])
    expanded = []
    for term, name, rank in zip(terms, named, ranks):
        if "..." in term:
            term = term.replace("...", ellipsis[len(ellipsis) - (rank - len(name)):] if rank > len(name) else "")
        if len(term) != rank or not all(c.isalpha() for c in term):
            raise ValueError(f"term {term!r} does not label a rank-{rank} operand")
        expanded.append(term)
    if arrow:
        out = rhs.replace("...", ellipsis)
    else:
        joined = "".join(named)
        out = ellipsis + "".join(sorted(c for c in set(joined) if joined.count(c) == 1))
    order = list(dict.fromkeys("".join(expanded) + out))
    if len(order) > 26:
        raise ValueError(f"{len(order)} labels; TensorRT's einsum has 26 (lower-case letters)")
    rename = str.maketrans({c: string.ascii_lowercase[i] for i, c in enumerate(order)})
    return [t.translate(rename) for t in expanded], out.translate(rename)


@register_converter("einsum")
class EinsumConverter(TensorRTOpConverter):
    variable_input_count = True

    def convert(self, params):
        terms, out = einsum_terms(params.attrs["subscripts"], [len(i.shape) for i in params.inputs])
        tensors = [tensor_of(params, i) for i in range(len(params.inputs))]
        layer = params.network.add_einsum(tensors, ",".join(terms) + "->" + out)
        return [layer.get_output(0)]
