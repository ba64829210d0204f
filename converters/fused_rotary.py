"""Rotary embedding in the rotate-half form HF models export, fused into IRotaryEmbedding:

    x * cos + concat(-x[..., D/2:], x[..., :D/2]) * sin

on (B, H, S, D) data, which is ONNX RotaryEmbedding's non-interleaved arithmetic with caches of
width D/2. That form needs the two halves of cos and sin equal. For constants the rule compares
them; for caches computed in the graph (the LLM exports compute them from the positions at run
time) it proves it from the graph: cos(concat(f, f)) and sin(concat(f, f)), then only reshapes,
casts and a constant scalar factor (HF's attention_scaling) on the way to the product, so the
cache is cos(f) [* factor], built once per network and shared by every Q and K that reads it.

Partial rotary (Phi-3's `x[..., :R]` rotated, `x[..., R:]` passed through and concatenated back)
is the layer's rotary_embedding_dim; a slice of the whole width is no slice. The interleaved form
(GPT-J's rotate_every_two: pairs (-x[..., 1::2], x[..., 0::2]) stacked and flattened, cos and sin
repeated pairwise) is recognised with constant caches whose pairs are equal.
"""

from __future__ import annotations

import numpy as np

from .base import TensorRTOpConverter
from .helpers import elementwise, reshape, slice_layer, tensor_of, unary
from .network import FLOATS
from .patterns import Match, register_matcher, register_pattern

WHOLE = 1 << 62  # a slice end at or past this is "to the end" (torch writes INT64_MAX)


def _last_axis_slice(view, ref, stride=1):
    """(index, source, begin, end) when ref is a slice of its source's last axis with static
    bounds and the given stride, else None."""
    found = view.node(ref, "strided_slice")
    if found is None:
        return None
    attrs, source = found[1]["attrs"], found[1]["inputs"][0]
    dims = view.dims(source)
    if [a % len(dims) for a in attrs.get("axes", [])] != [len(dims) - 1] or list(attrs.get("strides", [1])) != [stride] \
            or not isinstance(dims[-1], int) or not all(isinstance(v, int) for v in attrs["begin"] + attrs["end"]):
        return None
    begin, end = attrs["begin"][0], attrs["end"][0]
    begin, end = (v + dims[-1] if v < 0 else v for v in (begin, end))
    return found[0], source, max(begin, 0), min(end, dims[-1])


def _computed_cache(view, ref, func, width):
    """(f, scale) when ref is func(concat(f, f)) on the last axis, followed only by reshapes,
    expand_dims and float casts that keep the last axis `width` wide, and scalar constant factors:
    then its halves are equal and func(f) * scale is the half cache."""
    scale = 1.0
    for _ in range(8):
        found = view.node(ref)
        if found is None:
            return None
        index, node = found
        if view.dims(ref)[-1] != width:
            return None
        if node["op"] == func:
            concat = view.node(node["inputs"][0], "concat")
            if concat is None:
                return None
            parts = [tuple(p) for p in concat[1]["inputs"]]
            rank = len(view.dims(node["inputs"][0]))
            if len(parts) != 2 or parts[0] != parts[1] or concat[1]["attrs"].get("axis", -1) % rank != rank - 1:
                return None
            return concat[1]["inputs"][0], scale
        if node["op"] in ("reshape", "expand_dims") or (node["op"] == "astype" and view.desc(ref)["dtype"] in FLOATS):
            ref = node["inputs"][0]
            continue
        if node["op"] == "multiply":
            a, b = node["inputs"]
            factor = [(data, view.scalar(f)) for data, f in ((a, b), (b, a)) if view.scalar(f) is not None]
            if not factor:
                return None
            scale *= factor[0][1]
            ref = factor[0][0]
            continue
        return None
    return None


def _cache(view, ref, func, dims, rotary, interleaved=False):
    """How the half-width cache for factor `ref` (cos or sin, as it multiplies (B, H, S, D) data)
    is made, as attrs for the converter; or a string saying why it cannot be."""
    shape = view.dims(ref)
    lifted = [1] * (4 - len(shape)) + shape
    if len(shape) > 4 or lifted[1] != 1 or lifted[2:] != [dims[2], rotary] or lifted[0] not in (1, dims[0]):
        return f"{func} {shape} is no (B or 1, 1, S, R) cache for data {dims}"
    constant = view.constant(ref)
    half = rotary // 2
    if constant is not None:
        if interleaved and not np.array_equal(constant[..., 0::2], constant[..., 1::2]):
            return f"{func} pairs differ: not the interleaved form IRotaryEmbedding computes"
        if not interleaved and not np.array_equal(constant[..., :half], constant[..., half:]):
            return f"{func} halves differ: not the rotate-half form IRotaryEmbedding computes"
        return {"kind": "constant", "batch": lifted[0]}
    if interleaved:
        return f"interleaved rotary with {func} computed in the graph (constant caches only)"
    found = _computed_cache(view, ref, func, rotary)
    if found is None:
        return f"{func} is computed, and not as {func}(concat(f, f)): its halves cannot be shown equal"
    source, scale = found
    if view.dims(source)[-1] != half:
        return f"{func}(concat(f, f)) of an f {view.dims(source)} not {half} wide"
    return {"kind": "computed", "batch": lifted[0], "scale": scale, "source": source}


def _rotated(view, ref):
    """(nodes, x, half) when ref is concat(-x[..., h:2h], x[..., :h]) of one x."""
    concat = view.node(ref, "concat")
    if concat is None or len(concat[1]["inputs"]) != 2:
        return None
    neg = view.node(concat[1]["inputs"][0], "negative")
    upper = _last_axis_slice(view, neg[1]["inputs"][0]) if neg else None
    lower = _last_axis_slice(view, concat[1]["inputs"][1])
    if upper is None or lower is None or tuple(upper[1]) != tuple(lower[1]):
        return None
    half = lower[3]
    if lower[2] != 0 or upper[2] != half or upper[3] != 2 * half or half == 0:
        return None
    return {concat[0], neg[0], upper[0], lower[0]}, lower[1], half


def _interleaved(view, ref):
    """(nodes, x, half) when ref is GPT-J's rotate_every_two: the pairs (-x[..., 1::2], x[..., 0::2])
    stacked on a new last axis (expand_dims each, concat), flattened back to x's shape."""
    flat = view.node(ref, "reshape")
    concat = view.node(flat[1]["inputs"][0], "concat") if flat else None
    if concat is None or len(concat[1]["inputs"]) != 2:
        return None
    rank = len(view.dims(concat[1]["inputs"][0]))
    if concat[1]["attrs"].get("axis", -1) % rank != rank - 1:
        return None
    first, second = (view.node(part, "expand_dims") for part in concat[1]["inputs"])
    if first is None or second is None or any(e[1]["attrs"].get("axis") not in ([-1], [rank - 1], -1, rank - 1)
                                              for e in (first, second)):
        return None
    neg = view.node(first[1]["inputs"][0], "negative")
    odd = _last_axis_slice(view, neg[1]["inputs"][0], 2) if neg else None
    even = _last_axis_slice(view, second[1]["inputs"][0], 2)
    if odd is None or even is None or tuple(odd[1]) != tuple(even[1]) or view.dims(ref) != view.dims(odd[1]):
        return None
    width = view.dims(odd[1])[-1]
    if even[2:] != (0, width) or odd[2:] != (1, width) or width % 2:
        return None
    return {flat[0], concat[0], first[0], second[0], neg[0], odd[0], even[0]}, odd[1], width // 2


@register_matcher("rotary_embedding", anchors=("add",))
def match_rotary(view, index):
    a, b = view.nodes[index]["inputs"]
    for direct, rotated in ((a, b), (b, a)):
        product, direct_product = view.node(rotated, "multiply"), view.node(direct, "multiply")
        if product is None or direct_product is None:
            continue
        for part, sin_ref in (product[1]["inputs"], product[1]["inputs"][::-1]):
            for interleaved, form in ((False, _rotated), (True, _interleaved)):
                found = form(view, part)
                if found is None:
                    continue
                nodes, x, half = found
                d1, d2 = direct_product[1]["inputs"]
                cos_ref = d2 if tuple(d1) == tuple(x) else d1 if tuple(d2) == tuple(x) else None
                if cos_ref is None:
                    continue
                return _rotary_match(view, index, x, half, cos_ref, sin_ref,
                                     nodes | {index, product[0], direct_product[0]}, interleaved)
    return None


def _rotary_match(view, index, x, half, cos_ref, sin_ref, members, interleaved):
    rotary = 2 * half
    whole = _last_axis_slice(view, x)  # Phi-3's x[..., :R]: R == D is no slice; R < D is partial rotary
    root, data = index, x
    if whole is not None and whole[2] == 0 and whole[3] == rotary:
        full = view.dims(whole[1])
        reader = view.single_reader(index)
        tail = view.node(("node", reader, 0), "concat") if reader is not None and full[-1] != rotary else None
        rest = _last_axis_slice(view, tail[1]["inputs"][1]) if tail and len(tail[1]["inputs"]) == 2 else None
        if full[-1] == rotary:
            members.add(whole[0])
            data = whole[1]
        elif rest is not None and tuple(rest[1]) == tuple(whole[1]) and rest[2:] == (rotary, full[-1]) \
                and tuple(tail[1]["inputs"][0]) == ("node", index, 0):
            members |= {whole[0], rest[0], tail[0]}
            data, root = whole[1], tail[0]
    dims = view.dims(data)
    if len(dims) != 4 or not isinstance(dims[-1], int):
        return "rotary embedding on other than (B, H, S, D) data with a static D"
    if view.desc(data)["dtype"] not in FLOATS:
        return f"rotary embedding of {view.desc(data)['dtype']} data"
    caches = []
    for ref, func in ((cos_ref, "cos"), (sin_ref, "sin")):
        cache = _cache(view, ref, func, dims, rotary, interleaved)
        if isinstance(cache, str):
            return cache
        caches.append(cache)
    rotary_dim = 0 if rotary == dims[-1] else rotary
    sources = [ref if cache["kind"] == "constant" else cache.pop("source") for ref, cache in zip((cos_ref, sin_ref), caches)]
    for ref, cache in zip(sources, caches):
        cache["dims"] = view.dims(ref)
    return Match("rotary_embedding", root, members, [data] + sources,
                 {"caches": caches, "rotary_dim": rotary_dim, "width": rotary, "interleaved": interleaved})


@register_pattern("rotary_embedding", "x * cos + rotate_half(x) * sin, cos/sin constant or cos/sin(concat(f, f)); "
                                      "the interleaved form with constant cos/sin -> one IRotaryEmbedding")
class RotaryPattern(TensorRTOpConverter):
    input_types = ("tensor", "tensor", "tensor")

    def convert(self, params):
        caches = [self._cache(params, 1 + k, spec, "COS" if k == 0 else "SIN")
                  for k, spec in enumerate(params.attrs["caches"])]
        layer = params.network.add_rotary_embedding(tensor_of(params, 0), caches[0], caches[1],
                                                    bool(params.attrs.get("interleaved")),
                                                    int(params.attrs["rotary_dim"]))
        return [layer.get_output(0)]

    @staticmethod
    def _cache(params, index, spec, func):
        """The (B, S, R/2) cache: the constant's first half, or func(f) [* scale] from the graph
        (made once per network: Q and K of every block read the same); a batch of 1 is repeated
        over B (the layer takes one cache row per batch entry)."""
        x = params.inputs[0]
        batch, seq, half = (x.dims or x.shape)[0], (x.dims or x.shape)[2], params.attrs["width"] // 2
        item = params.inputs[index]
        if spec["kind"] == "constant":
            table = np.asarray(item.weight)
            table = table.reshape((-1,) + table.shape[-2:])
            table = table[..., 0::2] if params.attrs.get("interleaved") else table[..., :half]
            if isinstance(batch, int):
                return params.constant(np.ascontiguousarray(np.broadcast_to(table, (batch,) + table.shape[1:])))
            return _over_batch(params, params.constant(np.ascontiguousarray(table)), batch, seq, half)
        key = ("rotary cache", item.tensor.name, func, spec["scale"], str(batch))
        if key not in params.shared:  # f is (B or 1, S, R/2) with unit dims anywhere: reshaped, the half angle
            cache = item.tensor
            if list(spec["dims"]) != [spec["batch"], seq, half]:
                cache = reshape(params, cache, [spec["batch"], seq, half])
            cache = unary(params, cache, func)
            if spec["scale"] != 1.0:
                cache = elementwise(params, cache, params.constant(np.full((1, 1, 1), spec["scale"], np.float32)), "PROD")
            params.shared[key] = _over_batch(params, cache, batch, seq, half) if spec["batch"] == 1 else cache
        return params.shared[key]


def _over_batch(params, cache, batch, seq, half):
    if batch == 1:
        return cache
    shape = [d if isinstance(d, int) else -1 for d in (batch, seq, half)]
    return slice_layer(params, cache, [0, 0, 0], shape, [0, 1, 1], out_dims=[batch, seq, half]).get_output(0)
