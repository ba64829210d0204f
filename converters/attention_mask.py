"""What stands between an attention's scaled scores and its softmax, as IAttention's one mask.

Exporters write masks several ways, and models stack them:

- additive terms, added one after another: a padding mask, a causal mask, T5's computed
  position bias, Swin's relative-position bias;
- Swin's shifted-window mask, added with the windows' batch axis split off:
  reshape (N, H, S, S) -> (N / w, w, H, S, S), add a (1, w, 1, S, S) mask, reshape back;
- `where(mask, scores, fill)` / `where(mask, fill, scores)` (masked_fill) with a large negative
  scalar fill.

The layer takes one mask: boolean (true: attend) or additive, broadcastable to (B, H, Sq, Skv).
Constant terms are summed at build time; computed ones are added in the network. Where every term
is a `where` with fill -inf, the mask stays boolean (the conditions, and-ed). A `where` with a
finite fill becomes the additive where(mask, 0, fill): the same numbers wherever a row keeps one
key (exp underflows either way), and a row that hides every key still averages its values, as
the exported graph does.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from .helpers import elementwise, lifted, reshape, slice_layer

MASKED = -1e4  # a fill at or below this hides its key (exp underflows to 0 in float32 and float16)
DEPTH = 8  # mask terms stacked at most (each is a node between scores and softmax)


def peel(view, ref, rank, scaled_scores):
    """(scores, terms, members) where ref is scaled_scores(...) under mask terms, each term a
    (ref, spec) pair; None when it is not, or a string when it is attention that IAttention cannot
    express (why)."""
    members, terms = set(), []
    for _ in range(DEPTH):
        scores = scaled_scores(view, ref)
        if scores is not None:
            return scores, terms, members
        found = view.node(ref)
        if found is None:
            return None
        index, node = found
        op = node["op"]
        if _soft_capped(view, ref):
            return "soft-capped scores (tanh between the products), which IAttention cannot express"
        if op == "add":
            step = _add(view, node, rank, scaled_scores)
        elif op == "where":
            step = _where(view, node)
        elif op == "reshape" and rank == 4:
            step = _windowed(view, ref, node, members)
        else:
            return None
        if step is None:
            return None
        ref, term = step
        members.add(index)
        terms.append(term)
    return None


def _soft_capped(view, ref) -> bool:
    """Gemma 2's cap * tanh(scores / cap), possibly under an added mask."""
    for _ in range(3):
        found = view.node(ref, "multiply", "divide", "add", "tanh")
        if found is None:
            return False
        if found[1]["op"] == "tanh":
            return True
        ref = next((side for side in found[1]["inputs"] if side[0] == "node"), None)
    return False


def _add(view, node, rank, scaled_scores):
    """(the scores side, (mask ref, spec)): the side that leads to the scores is found by
    following it; the mask side must broadcast to the scores (rank at most theirs)."""
    a, b = node["inputs"]
    for side, other in ((a, b), (b, a)):
        if side[0] == "weight":
            continue
        if len(view.dims(other)) <= rank and _leads_to_scores(view, side, rank, scaled_scores):
            return side, (other, {"how": "add"})
    return None


def _leads_to_scores(view, ref, rank, scaled_scores) -> bool:
    for _ in range(DEPTH):
        if scaled_scores(view, ref) is not None:
            return True
        found = view.node(ref, "add", "where", "reshape")
        if found is None:
            return False
        node = found[1]
        if node["op"] == "add":
            return any(_leads_to_scores(view, side, rank, scaled_scores) for side in node["inputs"]
                       if side[0] == "node")
        if node["op"] == "where":
            ref = node["inputs"][1] if view.scalar(node["inputs"][2]) is not None else node["inputs"][2]
        else:
            ref = node["inputs"][0]
    return False


def _where(view, node):
    cond, yes, no = node["inputs"]
    if view.desc(cond)["dtype"] != "bool":
        return None
    for scores, fill, how in ((yes, no, "keep"), (no, yes, "drop")):
        value = view.scalar(fill)
        if value is not None and value <= MASKED and scores[0] == "node":
            return scores, (cond, {"how": how, "fill": value})
    return None


def _windowed(view, ref, outer, members):
    """Swin's shifted windows: reshape(add(reshape(scores), mask)) with the first reshape splitting
    the batch axis N into (N / w, w) and the second merging it back."""
    add = view.node(outer["inputs"][0], "add")
    if add is None:
        return None
    out = view.dims(ref)
    split = view.dims(outer["inputs"][0])
    if len(split) != 5 or not all(isinstance(d, int) for d in out + split) or split[0] * split[1] != out[0] \
            or split[2:] != out[1:]:
        return None
    a, b = add[1]["inputs"]
    for side, other in ((a, b), (b, a)):
        inner = view.node(side, "reshape")
        mask = view.dims(other)
        lifted = [1] * (5 - len(mask)) + mask
        if inner is None or view.dims(inner[1]["inputs"][0]) != out or view.single_reader(inner[0]) != add[0] \
                or view.single_reader(add[0]) != view.node(ref)[0] or len(mask) > 5 or lifted[0] != 1:
            continue
        members |= {add[0], inner[0]}
        return inner[1]["inputs"][0], (other, {"how": "windows", "windows": split[1], "batch": out[0]})
    return None


def causal_only(view, terms, sq, skv) -> bool:
    """Is the mask one constant term, exactly ONNX's is_causal (upper-left) mask: additive (0 on
    and below the diagonal, at most MASKED above), or the condition of a `where` keeping the
    scores on and below it?"""
    if len(terms) != 1 or terms[0][1]["how"] not in ("add", "keep"):
        return False
    mask = view.constant(terms[0][0])
    if mask is None or not (isinstance(sq, int) and isinstance(skv, int)) or mask.shape[-2:] != (sq, skv) \
            or any(d != 1 for d in mask.shape[:-2]):
        return False
    allowed = np.arange(skv)[None, :] <= np.arange(sq)[:, None]
    if terms[0][1]["how"] == "keep":
        return bool(np.array_equal(mask.reshape(sq, skv), allowed))
    square = mask.reshape(sq, skv).astype(np.float64)
    return bool(np.all(square[allowed] == 0) and np.all(square[~allowed] <= MASKED))


def build_mask(params, first: int, specs: list):
    """The layer's 4-d mask from inputs first, first + 1, ... (one per spec)."""
    items = [params.inputs[first + k] for k in range(len(specs))]
    if all(spec["how"] == "keep" and spec["fill"] == -np.inf for spec in specs):
        masks = [lifted(params, first + k, 4) for k in range(len(specs))]
        mask = masks[0]
        for other in masks[1:]:
            mask = elementwise(params, mask, other, "AND")
        return mask
    constant, computed = None, []
    for k, (item, spec) in enumerate(zip(items, specs)):
        if spec["how"] in ("add", "windows") and item.weight is not None:
            array = np.asarray(item.weight, np.float32)
            array = _windows_array(array, spec) if spec["how"] == "windows" else _lift(array)
            constant = array if constant is None else constant + array
        elif spec["how"] == "add":
            computed.append(lifted(params, first + k, 4))
        elif spec["how"] == "windows":
            computed.append(_windows_tensor(params, item, spec))
        else:  # a where: 0 where kept, the fill where hidden
            keep, hide = (0.0, spec["fill"]) if spec["how"] == "keep" else (spec["fill"], 0.0)
            values = [params.constant(np.full((1, 1, 1, 1), v, np.float32)) for v in (keep, hide)]
            computed.append(params.network.add_select(lifted(params, first + k, 4), *values).get_output(0))
    terms = computed
    if constant is not None:
        # the largest value the engine's dtype holds: float32's rounds to inf in BF16
        finite = float(ml_dtypes.finfo(params.compute_dtype or "float32").max)
        terms = [params.constant(np.clip(constant, -finite, finite))] + computed
    mask = terms[0]
    for other in terms[1:]:
        mask = elementwise(params, mask, other, "SUM")
    return mask


def _lift(array):
    return array.reshape((1,) * (4 - array.ndim) + array.shape)


def _windows_array(array, spec):
    """(1, w or 1, ...) over (N / w, w, ...) as a 4-d mask over (N, ...): window n % w's row."""
    array = array.reshape((1,) * (5 - array.ndim) + array.shape)[0]
    if array.shape[0] == 1:
        return array
    return np.tile(array, (spec["batch"] // spec["windows"], 1, 1, 1))


def _windows_tensor(params, item, spec):
    dims = list(item.dims or item.shape)
    dims = [1] * (5 - len(dims)) + dims
    tensor = reshape(params, item.tensor, dims[1:])
    if dims[1] == 1 or spec["batch"] == spec["windows"]:
        return tensor
    size = [spec["batch"]] + [d if isinstance(d, int) else -1 for d in dims[2:]]
    return slice_layer(params, tensor, [0, 0, 0, 0], size, [1, 1, 1, 1], "WRAP",
                       out_dims=[spec["batch"]] + dims[2:]).get_output(0)

