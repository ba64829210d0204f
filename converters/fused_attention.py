"""Scaled dot-product attention as exporters write it, fused into TensorRT's IAttention:

    matmul(Q, K^T) [* scale | / scale] [masks] -> softmax(last axis) -> matmul(., V)

with K^T a permute_dims of K (or of the (B, S, H, D) projection K came from), and K and V
optionally repeated for grouped-query attention (expand_dims -> broadcast_to -> reshape, the
form torch's repeat_kv exports): IAttention shares each K/V head between Hq / Hkv query heads
itself, so the repeat disappears. IAttention has no scale: Q is multiplied by it first (NVIDIA's
parser multiplies Q and K by its square root). A constant additive mask that is exactly the
causal one (0 on and below the diagonal, a large negative number above) becomes the layer's
causal flag; any other masks (additive terms, Swin's windowed mask, `where` fills: see
attention_mask.py) become the layer's one mask. TensorRT's attention needs K and V of one shape
and 4-d (B, H, S, D) operands.
"""

from __future__ import annotations

import numpy as np

from .attention_mask import build_mask, causal_only, peel
from .base import TensorRTOpConverter
from .helpers import elementwise, reshape, tensor_of
from .network import FLOATS
from .patterns import Match, register_matcher, register_pattern


def _swap_last_two(rank):
    return list(range(rank - 2)) + [rank - 1, rank - 2]


def _scaled_scores(view, ref):
    """(matmul index, scale, nodes) when ref is matmul(Q, K^T) optionally times / over a scalar."""
    scale, nodes = 1.0, set()
    found = view.node(ref, "multiply", "divide")
    if found is not None:
        a, b = found[1]["inputs"]
        pairs = ((a, b), (b, a)) if found[1]["op"] == "multiply" else ((a, b),)
        for scores, factor in pairs:
            value = view.scalar(factor)
            if value is not None and value != 0 and view.node(scores, "matmul") is not None:
                scale = value if found[1]["op"] == "multiply" else 1.0 / value
                nodes.add(found[0])
                ref = scores
                break
        else:
            return None
    matmul = view.node(ref, "matmul")
    if matmul is None:
        return None
    return matmul[0], scale, nodes | {matmul[0]}


def _unrepeated(view, ref, members):
    """K or V before torch's repeat_kv (expand_dims(axis 2) -> broadcast_to -> reshape merging
    axes 1 and 2), or ref itself."""
    reshape = view.node(ref, "reshape")
    if reshape is None:
        return ref
    broadcast = view.node(reshape[1]["inputs"][0], "broadcast_to")
    expand = view.node(broadcast[1]["inputs"][0], "expand_dims") if broadcast else None
    if expand is None or expand[1]["attrs"].get("axis") not in ([2], 2):
        return ref
    source = expand[1]["inputs"][0]
    src, wide, out = view.dims(source), view.dims(("node", broadcast[0], 0)), view.dims(ref)
    if len(src) != 4 or len(wide) != 5 or len(out) != 4 or wide[:2] != src[:2] or wide[3:] != src[2:] \
            or not isinstance(wide[2], int) or out[0] != src[0] or out[2:] != src[2:] \
            or not (isinstance(src[1], int) and out[1] == src[1] * wide[2]):
        return ref
    members |= {reshape[0], broadcast[0], expand[0]}
    return source


@register_matcher("attention", anchors=("nn.softmax",))
def match_attention(view, index):
    softmax = view.nodes[index]
    rank = len(view.dims(softmax["inputs"][0]))
    if softmax["attrs"].get("axis", -1) % max(rank, 1) != rank - 1:
        return None
    reader = view.single_reader(index)
    if reader is None or view.nodes[reader]["op"] != "matmul" \
            or tuple(view.nodes[reader]["inputs"][0]) != ("node", index, 0):
        return None
    members = {index, reader}
    peeled = peel(view, softmax["inputs"][0], rank, _scaled_scores)
    if not isinstance(peeled, tuple):
        return peeled
    scores, terms, masking = peeled
    members |= masking
    qk, scale, nodes = scores
    members |= nodes
    if rank not in (3, 4):
        return f"attention on rank-{rank} scores; TensorRT's attention takes (B, H, S, D) operands"
    q, kt = view.nodes[qk]["inputs"]
    kt_reader = qk
    scaled_kt = view.node(kt, "multiply")  # torch's sdpa export scales Q and K^T by sqrt(scale) each
    if scaled_kt is not None and view.single_reader(scaled_kt[0]) == qk:
        a, b = scaled_kt[1]["inputs"]
        for side, factor in ((a, b), (b, a)):
            if view.scalar(factor) is not None and view.node(side, "permute_dims") is not None:
                scale *= view.scalar(factor)
                members.add(scaled_kt[0])
                kt, kt_reader = side, scaled_kt[0]
                break
    permute = view.node(kt, "permute_dims")
    if permute is None or view.single_reader(permute[0]) != kt_reader:
        return "K^T is not a permute_dims of K that only this attention reads"
    axes = permute[1]["attrs"].get("axes") or list(reversed(range(rank)))
    # K = permute(source, axes) with its last two axes swapped back
    k_axes = [axes[a] for a in _swap_last_two(rank)]
    k_source = permute[1]["inputs"][0]
    members.add(permute[0])
    if k_axes == list(range(rank)):
        k_source, k_axes = _unrepeated(view, k_source, members), None
    v = _unrepeated(view, view.nodes[reader]["inputs"][1], members)
    q_dims, v_dims = view.dims(q), view.dims(v)
    k_dims = view.dims(k_source) if k_axes is None else [view.dims(k_source)[a] for a in k_axes]
    if k_dims != v_dims:
        return f"K {k_dims} and V {v_dims} differ in shape; TensorRT's attention needs them alike"
    if rank == 3 and k_axes is not None:
        return "a (B * H, S, D) attention whose K^T is no transpose of K's last two axes"
    if rank == 3 and q_dims[0] != k_dims[0]:  # (B * H, S, D): one head axis, run as (1, B * H, S, D)
        return f"query {q_dims} and key {k_dims} differ in their batch-and-heads axis"
    if rank == 4 and not (isinstance(q_dims[1], int) and isinstance(k_dims[1], int) and q_dims[1] % k_dims[1] == 0):
        return f"{q_dims[1]} query heads are no multiple of {k_dims[1]} key/value heads"
    if view.desc(q)["dtype"] not in FLOATS:
        return f"attention on {view.desc(q)['dtype']}"
    for ref, spec in terms:
        if len(view.dims(ref)) > (5 if spec["how"] == "windows" else rank):
            return f"a mask of rank {len(view.dims(ref))}"
    causal = causal_only(view, terms, q_dims[-2], k_dims[-2])
    masks = [] if causal else terms
    return Match("attention", reader, members, [q, k_source, v] + [ref for ref, _ in masks],
                 {"scale": scale, "k_axes": k_axes, "causal": causal, "masks": [spec for _, spec in masks],
                  "rank": rank})


@register_pattern("attention", "matmul(Q, K^T) [* scale] [+ mask] -> softmax -> matmul(., V), with grouped-query "
                               "K/V repeats and a causal mask -> one IAttention")
class AttentionPattern(TensorRTOpConverter):
    input_types = ("tensor", "tensor", "tensor", "tensor")

    def convert(self, params):
        trt, network, attrs = params.trt, params.network, params.attrs
        rank = attrs.get("rank", 4)
        q = tensor_of(params, 0)
        if attrs["scale"] != 1.0:
            q = elementwise(params, q, params.constant(np.full((1,) * rank, attrs["scale"], np.float32)), "PROD")
        k = tensor_of(params, 1)
        if attrs["k_axes"] is not None:
            shuffle = network.add_shuffle(k)
            shuffle.first_transpose = tuple(attrs["k_axes"])
            k = shuffle.get_output(0)
        v = tensor_of(params, 2)
        if rank == 3:  # (B * H, S, D) as one batch of B * H heads (the rule keeps K untransposed here)
            q, k, v = (reshape(params, t, [1] + list(params.inputs[i].dims or params.inputs[i].shape))
                       for i, t in enumerate((q, k, v)))
        softmax = trt.AttentionNormalizationOp.SOFTMAX
        if hasattr(network, "add_attention_v2"):
            kind = trt.CausalMaskKind.UPPER_LEFT if attrs["causal"] else trt.CausalMaskKind.NONE
            layer = network.add_attention_v2(q, k, v, softmax, kind)
        else:
            layer = network.add_attention(q, k, v, softmax, bool(attrs["causal"]))
        if attrs["masks"]:
            layer.mask = build_mask(params, 3, attrs["masks"])
        layer.decomposable = True  # where no fused kernel fits (head size, dtype), TensorRT may decompose it
        if rank == 3:
            return [reshape(params, layer.get_output(0), params.output_dims[0])]
        return [layer.get_output(0)]

