"""Fold an ONNX model's shape arithmetic into constants before TVM's importer sees it.

Exporters compute shapes at run time: `Shape -> Gather -> Concat -> Reshape`, attention masks
from `ConstantOfShape`, position ids from `Range`. TVM's importer fails on many such chains, and
onnxslim, which folds them, costs 0.4 s to import (it pulls in sympy) and 0.1-0.3 s to run on a
transformer block, about twice NVIDIA's whole parse and build of the same model. Where the
input shapes are known, every such chain is a constant: ONNX's own (C++) shape inference gives
each tensor's shape, and the few operators shape arithmetic uses are evaluated here with numpy.
A model whose shapes stay symbolic keeps its chains, and frontend.py hands it to onnxslim as
before.

Only values computed from shapes and small initializers are folded (large weights were lifted to
graph inputs by onnx_weights.py, so they are never read here), and nothing larger than
FOLD_MAX_ELEMENTS is made.

An If whose condition is a constant once the static dims are known is replaced by its taken
branch (inline_constant_ifs): torch exports `t.squeeze(1)` as `If(Shape(t)[1] == 1, Squeeze,
Identity)` even where that dim is statically 1, and TVM's importer makes such an If a relax.If
whose branches differ in rank, so the next Unsqueeze fails ("requires a statically known input
rank"); onnxslim leaves it too. The condition reads only the static dims of shapes that stay
partly symbolic, so it is evaluated over shapes with unknown dims (None) kept as such.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .onnx_weights import has_subgraphs

# A folded value is stored in the model: a mask of 4096 x 4096 is the largest worth making.
FOLD_MAX_ELEMENTS = 1 << 24
_ROUNDS = 4  # shape inference again after a round that folded something; real exports need 2


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _axes(inputs, attrs, index: int) -> Optional[list]:
    """`axes` from the attribute (older opsets) or the input at `index` (newer ones)."""
    if "axes" in attrs:
        return list(attrs["axes"])
    if len(inputs) > index and inputs[index] is not None:
        return [int(a) for a in inputs[index].reshape(-1)]
    return None


def _int_divide(a, b):
    """ONNX integer Div truncates toward zero (C's division), numpy's // floors."""
    if np.issubdtype(a.dtype, np.integer):
        quotient = np.floor_divide(a, b)
        return quotient + ((np.remainder(a, b) != 0) & ((a < 0) != (b < 0)))
    return np.divide(a, b)


def _unsqueeze(inputs, attrs):
    axes = _axes(inputs, attrs, 1)
    rank = inputs[0].ndim + len(axes)
    return np.expand_dims(inputs[0], tuple(a + rank if a < 0 else a for a in axes))


def _slice(inputs, attrs):
    data = inputs[0]
    if len(inputs) > 1:  # opset >= 10: starts, ends, axes, steps as inputs
        starts, ends = inputs[1].reshape(-1), inputs[2].reshape(-1)
        axes = inputs[3].reshape(-1) if len(inputs) > 3 and inputs[3] is not None else range(len(starts))
        steps = inputs[4].reshape(-1) if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    else:
        starts, ends = attrs["starts"], attrs["ends"]
        axes, steps = attrs.get("axes", range(len(starts))), [1] * len(starts)
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        index[int(axis)] = slice(int(start), int(end), int(step))  # Python clamps as ONNX does
    return data[tuple(index)]


def _reshape(inputs, attrs):
    data, shape = inputs[0], [int(d) for d in inputs[1].reshape(-1)]
    if not attrs.get("allowzero", 0):
        shape = [data.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return data.reshape(shape)


def _reduce(fn):
    def reduce(inputs, attrs):
        axes = _axes(inputs, attrs, 1)
        if not axes and attrs.get("noop_with_empty_axes", 0):
            return inputs[0]
        return fn(inputs[0], axis=tuple(axes) if axes else None, keepdims=bool(attrs.get("keepdims", 1)))
    return reduce


def _constant(inputs, attrs):
    if "value" in attrs:
        return numpy_helper.to_array(attrs["value"])
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64),
                       ("value_ints", np.int64)):
        if key in attrs:
            return np.asarray(attrs[key], dtype=dtype)
    raise KeyError("a Constant without a numeric value")  # sparse or string: left to the importer


def _constant_of_shape(inputs, attrs):
    value = numpy_helper.to_array(attrs["value"]) if "value" in attrs else np.zeros(1, np.float32)
    return np.full([int(d) for d in inputs[0].reshape(-1)], value.reshape(-1)[0], dtype=value.dtype)


# Operators that are a numpy function of their inputs alone.
_ELEMENTWISE = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Neg": np.negative, "Abs": np.abs,
                "Floor": np.floor, "Ceil": np.ceil, "Sqrt": np.sqrt, "Equal": np.equal, "Less": np.less,
                "LessOrEqual": np.less_equal, "Greater": np.greater, "GreaterOrEqual": np.greater_equal,
                "Not": np.logical_not, "And": np.logical_and, "Or": np.logical_or, "Where": np.where}

# op -> numpy evaluation from (inputs, attributes); each returns the node's one output.
EVALUATORS: dict[str, Callable] = {
    "Constant": _constant,
    "Identity": lambda i, a: i[0],
    "Cast": lambda i, a: i[0].astype(helper.tensor_dtype_to_np_dtype(a["to"])),
    "Gather": lambda i, a: np.take(i[0], i[1], axis=a.get("axis", 0)),
    "Concat": lambda i, a: np.concatenate(i, axis=a["axis"]),
    "Unsqueeze": _unsqueeze,
    "Squeeze": lambda i, a: np.squeeze(i[0], axis=tuple(_axes(i, a, 1) or ()) or None),
    "Slice": _slice,
    "Reshape": _reshape,
    "Flatten": lambda i, a: i[0].reshape(int(np.prod(i[0].shape[:a.get("axis", 1)])), -1),
    "Transpose": lambda i, a: np.transpose(i[0], a.get("perm")),
    "Expand": lambda i, a: np.broadcast_to(i[0], np.broadcast_shapes(i[0].shape, tuple(int(d) for d in i[1]))),
    "Tile": lambda i, a: np.tile(i[0], [int(r) for r in i[1]]),
    "ConstantOfShape": _constant_of_shape,
    "Range": lambda i, a: np.arange(i[0], i[1], i[2]).astype(i[0].dtype),
    "Div": lambda i, a: _int_divide(i[0], i[1]),
    "Min": lambda i, a: np.minimum.reduce(np.broadcast_arrays(*i)),
    "Max": lambda i, a: np.maximum.reduce(np.broadcast_arrays(*i)),
    "ReduceProd": _reduce(np.prod),
    "ReduceSum": _reduce(np.sum),
}
EVALUATORS.update({op: (lambda fn: lambda inputs, attrs: fn(*inputs))(fn) for op, fn in _ELEMENTWISE.items()})


def _static_shapes(model: onnx.ModelProto, shape_dict, partial: bool = False) -> dict:
    """Every tensor's shape that ONNX's shape inference finds fully static: name -> tuple.
    partial: every shape of a known rank, with None for each dim not static."""
    graph = model.graph
    if shape_dict:
        model = _with_input_shapes(model, shape_dict)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:  # inference is an aid; a model it rejects keeps its chains
        return {}
    shapes = {}
    for info in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        tensor = info.type.tensor_type
        if tensor.HasField("shape") and (partial or all(d.HasField("dim_value") for d in tensor.shape.dim)):
            shapes[info.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
    shapes.update((init.name, tuple(init.dims)) for init in graph.initializer)
    return shapes


def _with_input_shapes(model: onnx.ModelProto, shape_dict: dict) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for info in copy.graph.input:
        if info.name in shape_dict:
            dims = info.type.tensor_type.shape.dim
            del dims[:]
            for d in shape_dict[info.name]:
                dims.add().dim_value = int(d)
    return copy


def _evaluate(node: onnx.NodeProto, known: dict, shapes: dict):
    """The node's single output value, or None where it cannot (or should not) be folded."""
    if node.domain not in ("", "ai.onnx") or len(node.output) != 1:
        return None
    if node.op_type in ("Shape", "Size"):
        shape = shapes.get(node.input[0])
        if shape is None:
            return None
        if node.op_type == "Size":
            return np.asarray(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
        attrs = _attrs(node)
        return np.asarray(shape[attrs.get("start", 0):attrs.get("end", len(shape))], dtype=np.int64)
    evaluate = EVALUATORS.get(node.op_type)
    if evaluate is None or not all(name == "" or name in known for name in node.input):
        return None  # (before reading attributes: most nodes of a model stop here)
    inputs = [known[name] if name else None for name in node.input]
    try:
        with np.errstate(all="ignore"):
            value = np.asarray(evaluate(inputs, _attrs(node)))
    except Exception:  # a malformed node: the importer will name it
        return None
    return value if value.size <= FOLD_MAX_ELEMENTS else None


class _Known(dict):
    """Values by tensor name: those folded, and the initializers, each converted to numpy when
    first read (a CNN's hundreds of batch-norm vectors are never read)."""

    def __init__(self, initializers):
        super().__init__()
        self._initializers = {init.name: init for init in initializers}

    def __missing__(self, name):
        value = self[name] = numpy_helper.to_array(self._initializers[name])
        return value

    def __contains__(self, name) -> bool:
        return dict.__contains__(self, name) or name in self._initializers


def _fold_round(graph: onnx.GraphProto, shapes: dict, known: _Known) -> list:
    """The names of the values this round adds to `known` (graph outputs stay computed by their
    nodes: an output that is an initializer is not every consumer's idea of a model)."""
    outputs = {o.name for o in graph.output}
    folded = []
    for node in graph.node:
        if node.output[0] in known or any(o in outputs for o in node.output):
            continue
        value = _evaluate(node, known, shapes)
        if value is not None:
            known[node.output[0]] = np.asarray(value, order="C")  # (ascontiguousarray makes 0-d 1-d)
            folded.append(node.output[0])
    return folded


def _live_nodes(graph: onnx.GraphProto, known: dict) -> list:
    """The nodes still needed: not folded (their value not known), and read by a live node or a
    graph output."""
    needed = {o.name for o in graph.output}
    live = []
    for node in reversed(graph.node):
        if node.output[0] not in known and any(o in needed for o in node.output):
            live.append(node)
            needed.update(node.input)
    return live[::-1]


def may_fold(model: onnx.ModelProto) -> bool:
    """Can any node fold: a Shape or Size, or a node reading constants only (a Constant among
    them)? A model with none (ResNet-50's and SqueezeNet's exports) is spared the model copy."""
    graph = model.graph
    constants = {init.name for init in graph.initializer}
    return not has_subgraphs(graph) and any(
        node.op_type in ("Shape", "Size") or all(name == "" or name in constants for name in node.input)
        for node in graph.node)


def fold_shape_arithmetic(model: onnx.ModelProto, shape_dict=None) -> tuple[onnx.ModelProto, int]:
    """(model with its shape arithmetic folded, how many nodes that removed). `model` is edited:
    callers pass their own copy; each round leaves it whole, so a failure (an exception) leaves
    a valid model. Ifs of a constant condition are inlined first (inline_constant_ifs); models
    with If/Loop/Scan bodies left are returned so (a body may read any outer value by name)."""
    graph = model.graph
    if has_subgraphs(graph) and (not inline_constant_ifs(model, shape_dict) or has_subgraphs(graph)):
        return model, 0
    count = len(graph.node)
    known = _Known(graph.initializer)
    made = set()  # initializers this fold added
    for _ in range(_ROUNDS):
        # shape inference (5-20 ms) only serves Shape and Size: most CNNs have neither
        shapes = _static_shapes(model, shape_dict) if any(n.op_type in ("Shape", "Size") for n in graph.node) else {}
        folded = _fold_round(graph, shapes, known)
        if not folded:
            break
        new = [numpy_helper.from_array(known[name], name) for name in folded]
        live = _live_nodes(graph, known)
        del graph.node[:]
        graph.node.extend(live)
        graph.initializer.extend(new)
        made.update(init.name for init in new)
    if len(graph.node) == count:
        return model, 0
    needed = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in needed or init.name not in made]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model, count - len(graph.node)


# Ops that move the values of a shape without computing on them: they may carry unknown dims.
_STRUCTURAL = {"Identity", "Gather", "Slice", "Squeeze", "Unsqueeze", "Concat", "Reshape"}


def _condition(name: str, producers: dict, shapes: dict, known: _Known, memo: dict):
    """The value of tensor `name` where it is computed from static dims and constants only: an
    array, of dtype object with None for each unknown dim where it is part of a Shape; or None."""
    if name in memo:
        return memo[name]
    memo[name] = None  # (a cycle in a malformed model ends here)
    node = producers.get(name)
    if name in known:
        value = known[name] if known[name].size <= FOLD_MAX_ELEMENTS else None
    elif node is None or node.domain not in ("", "ai.onnx") or len(node.output) != 1:
        value = None
    elif node.op_type == "Shape":
        shape = shapes.get(node.input[0])
        attrs = _attrs(node)
        value = None if shape is None else np.array(
            shape[attrs.get("start", 0):attrs.get("end", len(shape))], dtype=object)
    else:
        inputs = [_condition(i, producers, shapes, known, memo) if i else None for i in node.input]
        partial = [v is not None and v.dtype == object for v in inputs]
        value = None
        if all(v is not None or not i for v, i in zip(inputs, node.input)) and \
                (node.op_type in _STRUCTURAL or not any(partial)) and node.op_type in EVALUATORS:
            try:
                value = np.asarray(EVALUATORS[node.op_type](inputs, _attrs(node)))
            except Exception:
                value = None
    if value is not None and value.dtype == object and all(v is not None for v in value.flat):
        value = value.astype(np.int64)  # every dim known: only Shape makes object arrays
    memo[name] = value
    return value


def _inlined(node: onnx.NodeProto, branch: onnx.GraphProto, taken: set) -> Optional[list]:
    """The nodes that replace If `node` by its `branch`: the branch's nodes, its initializers as
    Constants, then an Identity per output (the branch output may be an outer value). Names the
    branch defines are suffixed where they are already taken; None where a node of the branch
    has a body of its own (its reads would need renaming too)."""
    if has_subgraphs(branch):
        return None
    renamed = {}
    for name in [init.name for init in branch.initializer] + [o for n in branch.node for o in n.output if o]:
        new, i = name, 0
        while new in taken:
            i += 1
            new = f"{name}_inlined{i}"
        taken.add(new)
        renamed[name] = new
    nodes = [helper.make_node("Constant", [], [renamed[init.name]], value=init) for init in branch.initializer]
    for inner in branch.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(inner)
        copy.input[:] = [renamed.get(i, i) for i in inner.input]  # outer names are read as they are
        copy.output[:] = [renamed.get(o, o) for o in inner.output]
        nodes.append(copy)
    nodes += [helper.make_node("Identity", [renamed.get(out.name, out.name)], [result])
              for out, result in zip(branch.output, node.output)]
    for i, new in enumerate(nodes):
        new.name = f"{node.name}/{new.name or new.op_type}_{i}"
    return nodes


def inline_constant_ifs(model: onnx.ModelProto, shape_dict=None) -> int:
    """Replaces each If of the main graph whose condition is constant given the static dims by
    the nodes of its taken branch, in place; returns how many. Shape inference keeps the
    symbolic dims (unknown here) and gives the static ones."""
    graph = model.graph
    if not any(node.op_type == "If" for node in graph.node):
        return 0
    shapes = _static_shapes(model, shape_dict, partial=True)
    producers = {out: node for node in graph.node for out in node.output}
    known, memo = _Known(graph.initializer), {}
    taken = {name for node in graph.node for name in (*node.input, *node.output, node.name)}
    taken.update(v.name for v in (*graph.input, *graph.output, *graph.initializer, *graph.value_info))
    nodes, count = [], 0
    for node in graph.node:
        if node.op_type == "If" and node.domain in ("", "ai.onnx"):
            cond = _condition(node.input[0], producers, shapes, known, memo)
            if cond is not None and cond.size == 1:
                attrs = {a.name: a.g for a in node.attribute}
                inlined = _inlined(node, attrs["then_branch" if bool(cond.reshape(-1)[0]) else "else_branch"], taken)
                if inlined is not None:
                    nodes.extend(inlined)
                    count += 1
                    continue
        nodes.append(node)
    if count:
        del graph.node[:]
        graph.node.extend(nodes)
    return count
