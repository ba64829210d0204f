"""Constants out of the library: every tensor constant of a lowered module becomes a call of
`tvm_tensorrt.weight(identity, index, hint)` that reads it from the `.weights` file beside the
library (weights_file.py says why and how).

Done before `tvm.compile`, so TVM never holds the weights (no folding of them into new
constants, no copy into the executable, no object file to write them into): the compile's
memory and time stop growing with the weights. Each function calls for its weights where it
uses them, with its first tensor parameter as the device hint, so TVM's copy of a subgraph and
the `prepare`/`execute` calls of `main` get the same tensor: one mapping, shared.
"""

from __future__ import annotations

import json

import numpy as np
import tvm
from tvm import relax

from ..formats.abi import SUBGRAPHS_LISTING
from ..formats.subgraph import decode_header
from ..weights_file import WEIGHT_FUNCTION, WEIGHTS_IDENTITY, MemoryWeights, describe, identity_of, register

# Weights go beside the library by default above this (a library may hold up to EMBED_LIMIT,
# library_file.py, but embedding costs the compile about 4x the weights in memory).
EXTERNAL_AUTO_BYTES = 1 << 30


def _array(tensor):
    """A numpy view of a CPU constant (no copy), or None for a dtype numpy lacks (kept inside)."""
    try:
        np.dtype(str(tensor.dtype))
    except TypeError:
        return None
    try:
        return np.from_dlpack(tensor)
    except (TypeError, BufferError, RuntimeError, ValueError):
        return tensor.numpy()


def _tensor_of(node):
    """The tensor a constant holds, or None (a scalar value, or not a constant)."""
    if isinstance(node, tvm.ir.expr.GenericConst) and isinstance(node.value, tvm.runtime.Tensor):
        return node.value
    return None


def _key(tensor) -> tuple:
    return tensor.data_ptr(), str(tensor.dtype), tuple(int(d) for d in tensor.shape)


class ExternalWeights:
    """What a build with external weights writes beside its library."""

    def __init__(self, arrays: list, entries: list, subgraphs: list):
        self.arrays, self.entries, self.subgraphs = arrays, entries, subgraphs
        self.identity = identity_of(entries)
        self.nbytes = sum(e["size"] for e in entries)


def _collect(mod: tvm.IRModule) -> tuple[dict, list, dict]:
    """({constant key: index}, [(name, array)], {constant key: name}): every tensor constant
    (but the listing's counts), each stored once however many functions use it."""
    index, arrays = {}, []
    names = _listing_names(mod)
    counts = {_key(count.value) for count in _listing_counts(mod)}

    def visit(node):
        if _tensor_of(node) is not None:
            key = _key(node.value)
            if key not in index and key not in counts:
                array = _array(node.value)
                if array is not None:
                    index[key] = len(arrays)
                    arrays.append((names.get(key, f"constant_{len(arrays)}"), array))

    for _, func in mod.functions_items():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func, visit)
    return index, arrays, names


def _listing_fields(mod: tvm.IRModule) -> list:
    if SUBGRAPHS_LISTING not in [gv.name_hint for gv in mod.get_global_vars()]:
        return []
    body = mod[SUBGRAPHS_LISTING].body
    body = body.body if isinstance(body, relax.SeqExpr) else body
    return list(body.fields) if isinstance(body, relax.Tuple) else []


def _listing_counts(mod: tvm.IRModule) -> list:
    """The listing's weight-count constants, which lead each subgraph's group."""
    fields, counts, i = _listing_fields(mod), [], 0
    while i + 2 < len(fields):
        counts.append(fields[i])
        i += 3 + int(fields[i].value.numpy())
    return counts


def _listing_groups(mod: tvm.IRModule) -> list:
    """[(symbol, blob constant, plans constant, [weight constants])] from the subgraph listing."""
    fields, groups, i = _listing_fields(mod), [], 0
    while i + 2 < len(fields):
        count = int(fields[i].value.numpy())
        blob, plans, weights = fields[i + 1], fields[i + 2], fields[i + 3:i + 3 + count]
        symbol = decode_header(blob.value.numpy())["symbol"]
        groups.append((symbol, blob, plans, list(weights)))
        i += 3 + count
    return groups


def _listing_names(mod: tvm.IRModule) -> dict:
    names = {}
    for symbol, blob, plans, weights in _listing_groups(mod):
        names.setdefault(_key(blob.value), f"{symbol}.blob")
        names.setdefault(_key(plans.value), f"{symbol}.plans")
        for k, w in enumerate(weights):
            names.setdefault(_key(w.value), f"{symbol}.weight_{k}")
    return names


@relax.expr_functor.mutator
class _Externalize(relax.PyExprMutator):
    def __init__(self, mod, index: dict, identity: str):
        super().__init__(mod)
        self.index, self.identity, self.hint = index, identity, None

    def visit_generic_const_(self, const):
        tensor = _tensor_of(const)
        position = self.index.get(_key(tensor)) if tensor is not None else None
        if position is None:
            return const
        hint = [self.hint] if self.hint is not None else []
        call = relax.call_pure_packed(WEIGHT_FUNCTION, tvm.ir.StringImm(self.identity), relax.prim_value(position),
                                      *hint, ty_args=relax.TensorType(tensor.shape, str(tensor.dtype)))
        return self.builder_.emit(call, "weight")

    def rewrite(self, gv, func):
        self.hint = next((p for p in func.params if isinstance(p.ty, relax.TensorType)), None)
        self.builder_.update_func(gv, self.visit_expr(func))


def externalize(mod: tvm.IRModule) -> tuple[tvm.IRModule, ExternalWeights]:
    """`mod` whose tensor constants are read from the weights file, and the weights to write.
    The weights are registered in this process too, so a VM made from the executable (before
    any export) finds them."""
    index, arrays, _ = _collect(mod)
    entries, _ = describe(arrays)
    subgraphs = [{"symbol": symbol, "blob": index[_key(blob.value)], "plans": index[_key(plans.value)],
                  "weights": [index[_key(w.value)] for w in weights]}
                 for symbol, blob, plans, weights in _listing_groups(mod)]
    weights = ExternalWeights(arrays, entries, subgraphs)
    rewriter = _Externalize(mod, index, weights.identity)
    for gv, func in list(mod.functions.items()):
        if isinstance(func, relax.Function):
            rewriter.rewrite(gv, func)
    new_mod = rewriter.builder_.get()
    builder = relax.BlockBuilder(new_mod)
    with builder.function(WEIGHTS_IDENTITY, [], {"global_symbol": WEIGHTS_IDENTITY}):
        text = json.dumps({"identity": weights.identity, "bytes": weights.nbytes}).encode()
        builder.emit_func_output(relax.const(np.frombuffer(text, np.uint8)))
    register(MemoryWeights(weights.identity, arrays))
    return builder.get(), weights

