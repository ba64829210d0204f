"""A linear layer on (..., K) data that the exporter flattened to 2-D, as one batched matmul.

torch exports `nn.Linear` / GPT-2's Conv1D on (B, S, K) data as ONNX Gemm, which is 2-D only: a
reshape to (B * S, K), the matmul [+ bias], a reshape back to (B, S, N). NVIDIA's parser builds
that literally; TensorRT's matrix multiply broadcasts a (K, N) weight over (B, S, K) itself, so
the two shuffles (and, for symbolic B and S, the shape arithmetic of the reshape back) go:
"flattened_linear" is the matmul on the unflattened input, the bias added at rank 3.

It applies where the first reshape merges every axis but the last of X (that axis kept) and the
second splits them back to X's own leading dims; anything else (a reshape that also moves the
last axis, a bias that is not a constant over the last axis) leaves the pieces.
"""

from __future__ import annotations

import dataclasses

from .base import TensorRTOpConverter
from .helpers import elementwise, lifted
from .linear import MatmulConverter
from .patterns import Match, register_matcher, register_pattern


def _bias(view, node, matmul_ref):
    """The bias ref of add(matmul, bias) when it is a float constant over the last axis only."""
    other = [tuple(r) for r in node["inputs"] if tuple(r) != matmul_ref]
    if len(other) != 1:
        return None
    value = view.constant(other[0])
    if value is None or value.dtype.kind != "f" or value.ndim > 2 or any(d != 1 for d in value.shape[:-1]):
        return None
    return other[0]


@register_matcher("flattened_linear", anchors=("reshape",))
def match_flattened_linear(view, anchor):
    back = view.nodes[anchor]
    source = tuple(back["inputs"][0])
    members, bias = {anchor}, None
    add = view.node(source, "add")
    if add is not None:
        refs = [tuple(r) for r in add[1]["inputs"]]
        matmul_ref = next((r for r in refs if view.node(r, "matmul") is not None), None)
        bias = _bias(view, add[1], matmul_ref) if matmul_ref else None
        if bias is None:
            return None
        members.add(add[0])
        source = matmul_ref
    matmul = view.node(source, "matmul")
    if matmul is None:
        return None
    lhs, rhs = (tuple(r) for r in matmul[1]["inputs"])
    flatten = view.node(lhs, "reshape")
    if flatten is None or len(view.dims(lhs)) != 2 or len(view.dims(rhs)) != 2:
        return None
    x = tuple(flatten[1]["inputs"][0])
    x_dims, out_dims = view.dims(x), view.dims(("node", anchor, 0))
    if len(x_dims) < 3 or view.dims(lhs)[1] != x_dims[-1] or out_dims[:-1] != x_dims[:-1] \
            or out_dims[-1] != view.dims(source)[-1]:
        return None
    members |= {matmul[0], flatten[0]}
    inputs = [list(x), list(rhs)] + ([list(bias)] if bias is not None else [])
    return Match("flattened_linear", anchor, members, inputs, {"bias": bias is not None})


@register_pattern("flattened_linear", "reshape (..., K) -> (P, K), matmul [+ bias], reshape back -> one batched matmul "
                                      "[+ bias]")
class FlattenedLinearPattern(TensorRTOpConverter):
    input_types = ("tensor", "tensor", "tensor")

    def convert(self, params):
        product = MatmulConverter().convert(dataclasses.replace(params, inputs=params.inputs[:2]))[0]
        if not params.attrs["bias"]:
            return [product]
        # the bias at the input's rank as an array: one constant layer, no shuffle
        return [elementwise(params, product, lifted(params, 2, len(params.inputs[0].shape)), "SUM")]
