"""LayerNorm, InstanceNorm, GroupNorm and RMSNorm as exporters decompose them, fused.

The centred forms (x - mean) / sqrt(var + eps) [* gamma + beta] become one TensorRT
normalization layer, as NVIDIA's parser builds from ONNX's LayerNormalization,
InstanceNormalization and GroupNormalization: "layer_norm" over trailing axes, "instance_norm"
over axes 2.. with a per-channel affine, "group_norm" where a reshape to (N, G, ...) precedes
the statistics and a reshape back follows them (the layer's num_groups; per-channel gamma and
beta with add_normalization_v2).

"rms_norm", x / sqrt(mean(x^2) + eps) [* weight], cannot be one normalization layer: that layer
always subtracts the mean (NVIDIA's parser makes ten layers from ONNX's RMSNormalization). The
pattern is still worth recognising: it is built with float32 statistics in any engine precision
(x^2 overflows half precision from |x| > 256, which an FP16 engine built piece by piece hits).
"""

from __future__ import annotations

import numpy as np

from .base import TensorRTOpConverter
from .helpers import axes_mask, elementwise, reshape, tensor_of
from .norm import rms_norm_layers
from .patterns import Match, register_matcher, register_pattern


def _axes(node, rank):
    axis = node["attrs"].get("axis")
    if axis is None:
        return list(range(rank))
    return sorted(a % rank for a in (axis if isinstance(axis, list) else [axis]))


def _inverse_root(view, ref):
    """(statistic ref, epsilon, nodes) when ref is 1 / sqrt(stat + eps) as rsqrt or 1 / sqrt."""
    rsqrt = view.node(ref, "rsqrt")
    if rsqrt is not None:
        return _root_of_sum(view, rsqrt[1]["inputs"][0], {rsqrt[0]})
    recip = view.node(ref, "divide")
    if recip is not None and view.scalar(recip[1]["inputs"][0]) == 1.0:
        sqrt = view.node(recip[1]["inputs"][1], "sqrt")
        if sqrt is not None:
            return _root_of_sum(view, sqrt[1]["inputs"][0], {recip[0], sqrt[0]})
    return None


def _root_of_sum(view, ref, nodes):
    add = view.node(ref, "add")
    if add is None:
        return None
    a, b = add[1]["inputs"]
    for stat, eps in ((a, b), (b, a)):
        if view.scalar(eps) is not None and stat[0] == "node":
            return stat, view.scalar(eps), nodes | {add[0]}
    return None


def _square_of(view, ref):
    """(x, node) when ref is x ** 2 or x * x."""
    power = view.node(ref, "power")
    if power is not None and view.scalar(power[1]["inputs"][1]) == 2.0:
        return power[1]["inputs"][0], power[0]
    prod = view.node(ref, "multiply")
    if prod is not None and prod[1]["inputs"][0] == prod[1]["inputs"][1]:
        return prod[1]["inputs"][0], prod[0]
    return None


def _keepdims_reduction(view, ref, op):
    found = view.node(ref, op)
    if found is None or not found[1]["attrs"].get("keepdims", False):
        return None
    rank = len(view.dims(found[1]["inputs"][0]))
    return found[0], found[1]["inputs"][0], _axes(found[1], rank)


def _centred(view, ref):
    """(x, axes, nodes) when ref is x - mean(x, axes, keepdims)."""
    sub = view.node(ref, "subtract")
    if sub is None:
        return None
    x, mean_ref = sub[1]["inputs"]
    mean = _keepdims_reduction(view, mean_ref, "mean")
    if mean is None or mean[1] != x:
        return None
    return x, mean[2], {sub[0], mean[0]}


def _statistics(view, anchor):
    """The normalising core at `anchor` (divide or multiply): (kind, x, axes, eps, nodes, numerator)."""
    node = view.nodes[anchor]
    a, b = node["inputs"]
    if node["op"] == "divide":
        sqrt = view.node(b, "sqrt")
        core = _root_of_sum(view, sqrt[1]["inputs"][0], {sqrt[0]}) if sqrt is not None else None
        candidates = [(a, core)] if core else []
    else:
        candidates = [(num, _inverse_root(view, root)) for num, root in ((a, b), (b, a))]
        candidates = [(num, core) for num, core in candidates if core]
    for numerator, (stat, eps, nodes) in candidates:
        variance = _keepdims_reduction(view, stat, "variance")
        if variance is not None:
            centred = _centred(view, numerator)
            if centred and centred[0] == variance[1] and centred[1] == variance[2]:
                return "centred", centred[0], centred[1], eps, nodes | centred[2] | {variance[0]}, numerator
            continue
        mean = _keepdims_reduction(view, stat, "mean")
        square = _square_of(view, mean[1]) if mean else None
        if square is None or square[0] != numerator:
            continue
        nodes = nodes | {mean[0], square[1]}
        centred = _centred(view, numerator)
        if centred and centred[1] == mean[2]:
            return "centred", centred[0], centred[1], eps, nodes | centred[2], numerator
        return "rms", numerator, mean[2], eps, nodes, numerator
    return None


def _group_reshape(view, x, axes):
    """(original input, groups) when x = reshape(X (N, C, ...), (N, G, ...)) and the statistics run
    over every axis of x after the groups."""
    found = view.node(x, "reshape")
    if found is None:
        return None
    source = found[1]["inputs"][0]
    original, grouped = view.dims(source), view.dims(x)
    if len(original) < 3 or len(grouped) < 3 or axes != list(range(2, len(grouped))):
        return None
    channels, groups = original[1], grouped[1]
    if not (isinstance(channels, int) and isinstance(groups, int) and groups > 0 and channels % groups == 0) \
            or original[0] != grouped[0]:
        return None
    return source, groups, found[0]


def _affine_step(view, index, op, dims, channel_form):
    """The node after `index` when it is `op` with a constant that the normalization layer can
    take as its scale (op multiply) or bias (op add): (node, weight ref, aligned shape)."""
    reader = view.single_reader(index)
    if reader is None or view.nodes[reader]["op"] != op:
        return None
    ins = view.nodes[reader]["inputs"]
    other = ins[1] if tuple(ins[0]) == ("node", index, 0) else ins[0]
    weight = view.constant(other)
    if weight is None or weight.ndim > len(dims) or weight.dtype.kind != "f":
        return None
    shape = (1,) * (len(dims) - weight.ndim) + tuple(weight.shape)
    allowed = channel_form(shape)
    if not allowed or view.nodes[reader]["outputs"][0]["dtype"] != view.nodes[index]["outputs"][0]["dtype"]:
        return None
    return reader, other, shape


@register_matcher("normalization", anchors=("divide", "multiply"))
def match_normalization(view, anchor):
    found = _statistics(view, anchor)
    if found is None:
        return None
    kind, x, axes, eps, members, _ = found
    members = members | {anchor}
    dims = view.dims(x)
    rank = len(dims)
    last, groups, reshaped = anchor, 1, False
    if kind == "centred":
        grouped = _group_reshape(view, x, axes)
        if grouped is not None:
            back = view.single_reader(anchor)
            source, groups, forward = grouped
            back_dims = view.dims(("node", back, 0)) if back is not None else None
            if back is None or view.nodes[back]["op"] != "reshape" or back_dims[:2] != view.dims(source)[:2]:
                return "a GroupNorm's statistics without the reshape back to (N, C, ...)"
            reshaped = back_dims != view.dims(source)  # e.g. (N, C, H * W) for the attention after it
            x, dims, rank, last = source, view.dims(source), len(view.dims(source)), back
            members |= {forward, back}
            axes = list(range(2, rank)) if groups > 1 else list(range(1, rank))
    if axes != list(range(axes[0], rank)) or axes[0] == 0 and rank > 1:
        return f"normalises axes {axes} of a rank-{rank} tensor; the fused layer takes trailing axes after the first"
    if kind == "rms" and any(not isinstance(dims[a], int) for a in axes):
        return f"an RMSNorm over a symbolic axis of {dims}"

    return _with_affine(view, kind, x, dims, axes, eps, members, last, groups, reshaped)


def _with_affine(view, kind, x, dims, axes, eps, members, last, groups, reshaped):
    """The match, with the multiply by gamma and the add of beta after `last` taken into the
    layer where the normalization layer can take them as its scale and bias."""
    rank = len(dims)

    def per_element(shape):  # scale over the normalised axes (LayerNorm's gamma)
        return all(d == 1 for k, d in enumerate(shape) if k not in axes) and \
            all(d in (1, dims[k]) for k, d in enumerate(shape) if k in axes)

    def per_channel(shape):  # scale per channel (InstanceNorm's, GroupNorm's gamma)
        return rank >= 3 and axes[0] >= 1 and isinstance(dims[1], int) and shape[1] == dims[1] \
            and all(d == 1 for k, d in enumerate(shape) if k != 1)

    if kind == "rms":
        forms = (per_element,)
    elif groups > 1 or axes == list(range(2, rank)):
        forms = (per_channel, per_element) if groups == 1 else (per_channel,)
    else:
        forms = (per_element,)
    inputs, affine = [x], {}
    if kind == "centred" and groups > 1 and reshaped:  # the affine would apply to the reshaped tensor
        forms = ()
    for op, name in (("multiply", "scale"), ("add", "bias")):
        if kind == "rms" and name == "bias":
            break
        step = None
        for form in forms:
            step = _affine_step(view, last, op, dims, form)
            if step is not None:
                forms = (form,)
                break
        if step is None:
            if name == "scale" and forms:
                continue  # a LayerNorm without gamma may still have beta
            break
        last, affine[name] = step[0], list(step[2])
        members.add(step[0])
        inputs.append(step[1])
    affine_form = "channel" if forms and forms[0] is per_channel and affine else "element"
    if kind == "rms":
        key = "rms_norm"
    elif groups > 1:
        key = "group_norm"
    elif axes == list(range(2, rank)) and rank >= 3 and (affine_form == "channel" or not affine):
        key = "instance_norm"
    else:
        key = "layer_norm"
    return Match(key, last, members, inputs,
                 {"axes": axes, "epsilon": eps, "num_groups": groups, "scale": affine.get("scale"),
                  "bias": affine.get("bias"), "reshaped": reshaped})


@register_matcher("normalization_affine", anchors=("nn.group_norm", "nn.instance_norm", "nn.layer_norm"))
def match_identity_affine(view, index):
    """A Relax norm with ones as gamma and zeros as beta and its affine after it (TVM's importer
    writes ONNX's GroupNormalization-21 so): one layer with that affine. Other gammas stay the
    op's own converter's (already one layer)."""
    node = view.nodes[index]
    x, gamma, beta = node["inputs"]
    g, b = view.constant(gamma), view.constant(beta)
    if g is None or b is None or not (np.all(g == 1) and np.all(b == 0)):
        return None
    reader = view.single_reader(index)
    if reader is None or view.nodes[reader]["op"] not in ("multiply", "add"):
        return None
    dims = view.dims(x)
    rank, attrs = len(dims), node["attrs"]
    groups = int(attrs.get("num_groups", 1)) if node["op"] == "nn.group_norm" else 1
    axes = sorted(a % rank for a in attrs["axes"])
    if node["op"] == "nn.layer_norm" and axes != list(range(axes[0], rank)):
        return None
    found = _with_affine(view, "centred", x, dims, axes, float(attrs["epsilon"]), {index}, index, groups, False)
    return found if found.attrs["scale"] is not None or found.attrs["bias"] is not None else None


def _affine_tensor(params, index, shape, default, dims, axes, per_channel):
    """The layer's scale or bias: the matched constant at the input's rank, or `default` shaped
    as TensorRT expects when the pattern has none."""
    if shape is not None:
        return params.constant(np.asarray(params.inputs[index].weight).reshape(shape))
    rank = len(dims)
    if per_channel:
        shape = tuple(dims[1] if k == 1 else 1 for k in range(rank))
    else:
        shape = tuple(dims[k] if k in axes and isinstance(dims[k], int) and dims[k] > 0 else 1 for k in range(rank))
    return params.constant(np.full(shape, default, dtype=np.float32))


class _NormalizationPattern(TensorRTOpConverter):
    """One normalization layer. GroupNorm's per-channel scale needs add_normalization_v2; where
    the bindings lack it (TensorRT before 10.15) the affine follows as element-wise layers."""

    input_types = ("tensor", "tensor", "tensor")

    def convert(self, params):
        attrs = params.attrs
        dims = params.inputs[0].dims or list(params.inputs[0].shape)
        rank, axes, groups = len(dims), list(attrs["axes"]), int(attrs["num_groups"])
        channel = groups > 1 or (axes == list(range(2, rank)) and attrs["scale"] is not None
                                 and attrs["scale"][1] != 1 and rank >= 3)
        scale_index = 1 if attrs["scale"] is not None else None
        bias_index = (2 if scale_index else 1) if attrs["bias"] is not None else None
        v2 = getattr(params.network, "add_normalization_v2", None)
        scale = _affine_tensor(params, scale_index, attrs["scale"], 1.0, dims, axes, channel)
        bias = _affine_tensor(params, bias_index, attrs["bias"], 0.0, dims, axes, channel)
        x = tensor_of(params, 0)
        if groups > 1 and v2 is None:
            shape = (1, groups) + (1,) * (rank - 2)
            layer = params.network.add_normalization(x, params.constant(np.ones(shape, np.float32)),
                                                     params.constant(np.zeros(shape, np.float32)), axes_mask(axes, rank))
        else:
            layer = (v2 or params.network.add_normalization)(x, scale, bias, axes_mask(axes, rank))
        layer.epsilon = float(attrs["epsilon"])
        out = layer.get_output(0)
        if groups > 1:
            layer.num_groups = groups
            if v2 is None:
                out = elementwise(params, elementwise(params, out, scale, "PROD"), bias, "SUM")
        if attrs.get("reshaped"):  # the pattern ended in a reshape to another (N, C, ...) shape
            out = reshape(params, out, params.output_dims[0])
        return [out]


@register_pattern("layer_norm", "mean/subtract/power/mean/add/sqrt/divide [* gamma + beta] -> one normalization layer")
class LayerNormPattern(_NormalizationPattern):
    pass


@register_pattern("instance_norm", "the same statistics over axes 2.. with a per-channel affine -> one normalization layer")
class InstanceNormPattern(_NormalizationPattern):
    pass


@register_pattern("group_norm", "reshape (N, G, ...) -> mean/variance -> normalise -> reshape back [* gamma + beta] "
                                "-> one normalization layer with num_groups")
class GroupNormPattern(_NormalizationPattern):
    pass


@register_pattern("rms_norm", "power/mean/add/sqrt or rsqrt/multiply [* weight] -> RMSNorm with float32 statistics "
                              "(TensorRT's normalization layer always centres)")
class RmsNormPattern(TensorRTOpConverter):
    input_types = ("tensor", "tensor")

    def convert(self, params):
        attrs = params.attrs
        shape = params.inputs[0].shape
        weight = None
        if attrs["scale"] is not None:
            weight = params.constant(np.asarray(params.inputs[1].weight).reshape(attrs["scale"]))
        return [rms_norm_layers(params, tensor_of(params, 0), shape, attrs["axes"], attrs["epsilon"], weight)]

