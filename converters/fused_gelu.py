"""GELU as exporters decompose it, fused into TensorRT's GELU activation.

torch exports GELU written out in Python (GPT-2's `NewGELUActivation`, BERT/ViT code before
`nn.GELU`, Megatron and BLOOM) as 5 to 9 element-wise nodes, each a layer and most with a
constant layer of its own (15 layers per GPT-2 block). TensorRT has both forms as one activation
(`GELU_ERF`, `GELU_TANH`), the layers NVIDIA's parser builds from ONNX's Gelu-20:

- erf:  x * 0.5 * (1 + erf(x / sqrt(2)))          (or x * (1 / sqrt(2)) inside erf)
- tanh: x * 0.5 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
        (x^3 as power(x, 3) or x * x * x; also sqrt(2 / pi) * x * (1 + 0.044715 * x * x))

The products may come in any order and grouping ((x * 0.5) * (1 + t), (x * (1 + t)) * 0.5, ...).
The constants must be GELU's within a relative `TOLERANCE`; a look-alike with other constants
(a scaled GELU, a different approximation) stays as its pieces, with the reason.
"""

from __future__ import annotations

import math

from .base import TensorRTOpConverter
from .helpers import tensor_of
from .network import FLOATS
from .patterns import Match, register_matcher, register_pattern

TOLERANCE = 1e-4  # relative; exporters round sqrt(2 / pi) to 0.79788456, 1 / sqrt(2) to 0.70710678
MAX_FACTORS = 8  # multiply nodes one product may span (keeps a rule tried at every multiply cheap)
HALF, CUBIC = 0.5, 0.044715
ERF_DIVISOR, TANH_SCALE = math.sqrt(2.0), math.sqrt(2.0 / math.pi)


def _close(value, target) -> bool:
    return value is not None and abs(value - target) <= TOLERANCE * abs(target)


def _product(view, ref, stop=None):
    """(scalar factor, [non-constant factor refs], {multiply nodes}) of the product tree at `ref`,
    expanding multiply nodes (never `stop`, the GELU's input); None when it spans too many."""
    scalar, factors, nodes, todo = 1.0, [], set(), [tuple(ref)]
    while todo:
        ref = todo.pop()
        found = None if ref == stop else view.node(ref, "multiply")
        if found is None:
            value = view.scalar(ref)
            if value is None:
                factors.append(ref)
            else:
                scalar *= value
            continue
        nodes.add(found[0])
        if len(nodes) > MAX_FACTORS:
            return None
        todo.extend(tuple(r) for r in found[1]["inputs"])
    return scalar, factors, nodes


def _one_plus(view, ref):
    """(t ref, add node) when ref is 1 + t, t an erf or tanh node, with the constant's value."""
    add = view.node(ref, "add")
    if add is None:
        return None
    a, b = (tuple(r) for r in add[1]["inputs"])
    for t, one in ((a, b), (b, a)):
        inner = view.node(t, "erf", "tanh")
        if inner is not None and view.scalar(one) is not None:
            return inner, add[0], view.scalar(one)
    return None


def _erf_input(view, ref):
    """(x, nodes, scale) when ref is x / s or x * s: the argument of erf, scale 1 / s or s."""
    divide = view.node(ref, "divide")
    if divide is not None:
        x, s = (tuple(r) for r in divide[1]["inputs"])
        if view.scalar(s) is not None and view.scalar(s) != 0 and view.scalar(x) is None:
            return x, {divide[0]}, 1.0 / view.scalar(s)
        return None
    product = _product(view, ref)
    if product is not None and len(product[1]) == 1 and product[2]:
        return product[1][0], product[2], product[0]
    return None


def _powers_of(view, factors, x, exponent):
    """The nodes of x ** exponent when `factors` (a product's non-constant refs) is exactly that,
    as `exponent` copies of x or one power(x, exponent); None otherwise."""
    if factors == [x] * exponent:
        return set()
    if len(factors) == 1:
        power = view.node(factors[0], "power")
        if power is not None and tuple(power[1]["inputs"][0]) == x \
                and view.scalar(power[1]["inputs"][1]) == float(exponent):
            return {power[0]}
    return None


def _tanh_input(view, ref):
    """(x, nodes, scale, cubic coefficient) when ref is s * (x + k * x^3) or s * x * (1 + k * x^2)."""
    outer = _product(view, ref)
    if outer is None:
        return None
    scale, factors, nodes = outer
    adds = [f for f in factors if view.node(f, "add") is not None]
    if len(adds) != 1:
        return None
    add_index, add = view.node(adds[0], "add")
    a, b = (tuple(r) for r in add["inputs"])
    rest = [f for f in factors if f != adds[0]]
    if not rest:  # s * (x + k * x^3)
        for x, term in ((a, b), (b, a)):
            inner = _product(view, term, stop=x)
            cube = _powers_of(view, inner[1], x, 3) if inner is not None else None
            if cube is not None:
                return x, nodes | {add_index} | inner[2] | cube, scale, inner[0]
        return None
    if len(rest) == 1:  # s * x * (1 + k * x^2)
        x = rest[0]
        for one, term in ((a, b), (b, a)):
            inner = _product(view, term, stop=x)
            square = _powers_of(view, inner[1], x, 2) if inner is not None else None
            if square is not None and _close(view.scalar(one), 1.0):
                return x, nodes | {add_index} | inner[2] | square, scale, inner[0]
    return None


@register_matcher("gelu", anchors=("multiply",))
def match_gelu(view, anchor):
    found = _product(view, ("node", anchor, 0))
    if found is None:
        return None
    candidates = [(f, _one_plus(view, f)) for f in found[1]]
    candidates = [(f, c) for f, c in candidates if c is not None]
    if len(candidates) != 1:
        return None
    factor, ((t_index, t_node), add_index, one) = candidates[0]
    kind = "erf" if t_node["op"] == "erf" else "tanh"
    argument = (_erf_input if kind == "erf" else _tanh_input)(view, tuple(t_node["inputs"][0]))
    if argument is None:
        return None
    x, inner_nodes, scale = argument[:3]
    outer = _product(view, ("node", anchor, 0), stop=x)
    if outer is None or sorted(outer[1]) != sorted([x, factor]):
        return None  # another factor too (a GELU times something else): the GELU's own root matches
    expected = {"1 + t": (one, 1.0), "the outer factor": (outer[0], HALF)}
    if kind == "erf":
        expected["the erf argument's scale"] = (scale, 1.0 / ERF_DIVISOR)
    else:
        expected["the tanh argument's scale"] = (scale, TANH_SCALE)
        expected["the cubic coefficient"] = (argument[3], CUBIC)
    wrong = [f"{name} {value:.6g} (GELU's is {target:.6g})" for name, (value, target) in expected.items()
             if not _close(value, target)]
    reader = view.single_reader(anchor)
    if len(wrong) == 1 and not _close(outer[0], HALF) and reader is not None \
            and view.nodes[reader]["op"] == "multiply":
        return None  # (x * (1 + erf)) * 0.5: the product goes on, the GELU's root is its reader
    if wrong:
        return f"a GELU-like {kind} form with other constants: {', '.join(wrong)}"
    if view.desc(x)["dtype"] not in FLOATS:
        return f"a GELU on {view.desc(x)['dtype']} data"
    if view.dims(x) != view.dims(("node", anchor, 0)) or view.desc(x)["dtype"] != view.desc(("node", anchor, 0))["dtype"]:
        return "a GELU whose constants broadcast its input to another shape or dtype"
    version = view.subgraph.config.get("tensorrt_version")
    if version and tuple(version)[:1] < (10,):
        return f"TensorRT {'.'.join(map(str, version))} has no GELU activation (TensorRT 10 has)"
    members = outer[2] | {add_index, t_index} | inner_nodes
    return Match("gelu", anchor, members, [list(x)], {"activation": "GELU_ERF" if kind == "erf" else "GELU_TANH"})


@register_pattern("gelu", "x * 0.5 * (1 + erf(x / sqrt 2)) or its tanh approximation -> one GELU activation layer")
class GeluPattern(TensorRTOpConverter):
    """One IActivationLayer, GELU_ERF or GELU_TANH, as NVIDIA's parser builds ONNX's Gelu-20."""

    input_types = ("tensor",)

    def convert(self, params):
        kind = getattr(params.trt.ActivationType, params.attrs["activation"])
        return [params.network.add_activation(tensor_of(params, 0), kind).get_output(0)]
