"""Rotary embedding in the rotate-half form HF models export, fused into IRotaryEmbedding:

    x * cos + concat(-x[..., D/2:], x[..., :D/2]) * sin

on (B, H, S, D) data, with cos and sin constants of shape (..., S, D) whose two halves are equal
(cat(freqs, freqs)), which is ONNX RotaryEmbedding's non-interleaved arithmetic with caches of
width D/2. cos and sin computed in the graph (from position ids at run time) are not matched yet:
their halves cannot be checked equal when the engine is built.
"""

from __future__ import annotations

import numpy as np

from .base import TensorRTOpConverter
from .helpers import tensor_of
from .patterns import Match, register_matcher, register_pattern


def _times_constant(view, ref):
    found = view.node(ref, "multiply")
    if found is None:
        return None
    a, b = found[1]["inputs"]
    for data, factor in ((a, b), (b, a)):
        if view.constant(factor) is not None and data[0] != "weight":
            return found[0], data, factor
    return None


def _half(view, ref, x, begin, end):
    found = view.node(ref, "strided_slice")
    if found is None or tuple(found[1]["inputs"][0]) != tuple(x):
        return None
    attrs = found[1]["attrs"]
    rank = len(view.dims(x))
    if [a % rank for a in attrs.get("axes", [])] != [rank - 1] or attrs.get("strides", [1]) != [1]:
        return None
    width = view.dims(x)[-1]
    lo, hi = attrs["begin"][0], min(attrs["end"][0], width)
    return found[0] if (lo, hi) == (begin, end) else None


@register_matcher("rotary_embedding", anchors=("add",))
def match_rotary(view, index):
    a, b = view.nodes[index]["inputs"]
    for direct, rotated in ((a, b), (b, a)):
        first, second = _times_constant(view, direct), _times_constant(view, rotated)
        if first is None or second is None:
            continue
        _, x, cos_ref = first
        concat = view.node(second[1], "concat")
        if concat is None or len(concat[1]["inputs"]) != 2:
            continue
        dims = view.dims(x)
        if len(dims) != 4 or not isinstance(dims[-1], int) or dims[-1] % 2 or not all(isinstance(d, int) for d in dims):
            return "rotary embedding on other than (B, H, S, D) data of static shape"
        half = dims[-1] // 2
        neg = view.node(concat[1]["inputs"][0], "negative")
        upper = _half(view, neg[1]["inputs"][0], x, half, dims[-1]) if neg else None
        lower = _half(view, concat[1]["inputs"][1], x, 0, half)
        if upper is None or lower is None:
            continue
        cos, sin = view.constant(cos_ref), view.constant(second[2])
        shape = (1,) * (4 - cos.ndim) + tuple(cos.shape)
        if cos.shape != sin.shape or shape[1] != 1 or shape[2:] != (dims[2], dims[3]) or shape[0] not in (1, dims[0]):
            return f"cos {cos.shape} and sin {sin.shape} are not (B or 1, 1, S, D) caches for data {dims}"
        if not (np.array_equal(cos[..., :half], cos[..., half:]) and np.array_equal(sin[..., :half], sin[..., half:])):
            return "cos and sin halves differ: not the rotate-half form IRotaryEmbedding computes"
        members = {index, first[0], second[0], concat[0], neg[0], upper, lower}
        return Match("rotary_embedding", index, members, [x, cos_ref, second[2]], {"batch": dims[0]})
    return None


@register_pattern("rotary_embedding", "x * cos + rotate_half(x) * sin with constant caches -> one IRotaryEmbedding")
class RotaryPattern(TensorRTOpConverter):
    input_types = ("tensor", "weight", "weight")

    def convert(self, params):
        caches = []
        for index in (1, 2):
            table = np.asarray(params.inputs[index].weight)
            table = table.reshape((-1,) + table.shape[-2:])[..., : table.shape[-1] // 2]  # (B or 1, S, D/2)
            caches.append(params.constant(np.ascontiguousarray(
                np.broadcast_to(table, (params.attrs["batch"],) + table.shape[1:]))))
        layer = params.network.add_rotary_embedding(tensor_of(params, 0), caches[0], caches[1], False, 0)
        return [layer.get_output(0)]
