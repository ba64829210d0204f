"""ONNX Loops with a constant trip count, unrolled before import.

TVM 0.27's importer has no Loop. Exporters write one for a `for` loop over a fixed range that
tracing could not unroll (a scripted block, a fixed number of refinement steps, a recurrent cell
over a fixed length): `Loop(M, cond)` whose condition stays true. NVIDIA's parser builds such a
loop with TensorRT's ILoop; we unroll it into the main graph instead, so every iteration is
ordinary ops our rules judge and one engine can take: iteration i's nodes are the body's with
their outputs renamed, the iteration number a constant i, the loop-carried values the previous
iteration's, and each scan output the iterations' values stacked on a new axis 0 (Unsqueeze +
Concat), as ONNX defines it.

Left for the importer (and its error naming the node): a trip count that is not a constant, a
condition the body computes (a while loop with a break), a body with subgraphs of its own, and
trip counts over MAX_TRIPS (the graph would grow by that many copies). The EmbeddingBag loop
(onnx_resize.py) has a trip count from a shape and is one of those.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .onnx_weights import has_subgraphs

MAX_TRIPS = 64


def unroll_constant_loops(model: onnx.ModelProto, shape_dict=None, max_trips: int = MAX_TRIPS) -> int:
    """Unrolls, in place, each Loop of the main graph with a constant trip count and a condition
    that stays true; returns how many. shape_dict: unused (a trip count from a shape is left)."""
    graph = model.graph
    if not any(node.op_type == "Loop" for node in graph.node):
        return 0
    constants = _constants(graph)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    nodes, count = [], 0
    for index, node in enumerate(graph.node):
        unrolled = None
        if node.op_type == "Loop" and node.domain in ("", "ai.onnx"):
            unrolled = _unrolled(node, f"{node.name or 'loop'}__{index}", constants, graph, opset, max_trips)
        if unrolled is None:
            nodes.append(node)
        else:
            nodes.extend(unrolled)
            count += 1
    if count:
        del graph.node[:]
        graph.node.extend(nodes)
    return count


def _constants(graph: onnx.GraphProto) -> dict:
    """Small constants by name: initializers and Constant nodes' values (trip counts, conditions)."""
    found = {i.name: numpy_helper.to_array(i) for i in graph.initializer if np.prod(i.dims) <= 1}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            found[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return found


def _trip_count(node, constants: dict) -> Optional[int]:
    if not node.input or not node.input[0] or node.input[0] not in constants:
        return None
    value = np.asarray(constants[node.input[0]])
    return int(value.reshape(-1)[0]) if value.size == 1 else None


def _always_true(name: str, constants: dict) -> bool:
    return not name or (name in constants and np.asarray(constants[name]).size == 1
                        and bool(np.asarray(constants[name]).reshape(-1)[0]))


def _condition_kept(body: onnx.GraphProto) -> bool:
    """The body's condition output is its condition input (passed on, or through an Identity), or
    a constant true: the loop runs its trip count."""
    cond_in, cond_out = body.input[1].name, body.output[0].name
    if cond_out == cond_in:
        return True
    producer = next((n for n in body.node if cond_out in n.output), None)
    if producer is None:
        return False
    if producer.op_type == "Identity":
        return producer.input[0] == cond_in
    if producer.op_type == "Constant":
        return _always_true(cond_out, _constants(body))
    return False


def _unrolled(node, prefix: str, constants: dict, graph: onnx.GraphProto, opset: int,
              max_trips: int) -> Optional[list]:
    body = next((a.g for a in node.attribute if a.name == "body"), None)
    trips = _trip_count(node, constants)
    if body is None or trips is None or not 0 < trips <= max_trips or has_subgraphs(body):
        return None
    if not _always_true(node.input[1] if len(node.input) > 1 else "", constants) or not _condition_kept(body):
        return None
    carried = list(node.input[2:])
    n_carried, outputs = len(carried), [o.name for o in body.output]
    scans: list[list] = [[] for _ in outputs[1 + n_carried:]]
    made = []
    for init in body.initializer:  # body constants, once, under the loop's prefix
        copy = onnx.TensorProto()
        copy.CopyFrom(init)
        copy.name = f"{prefix}__{init.name}"
        graph.initializer.append(copy)
    shared = {init.name: f"{prefix}__{init.name}" for init in body.initializer}
    for i in range(trips):
        names = dict(shared)
        names[body.input[0].name] = f"{prefix}__iter{i}"
        names[body.input[1].name] = f"{prefix}__cond"
        names.update({b.name: value for b, value in zip(body.input[2:], carried)})
        made.append(helper.make_node("Constant", [], [f"{prefix}__iter{i}"],
                                     value=numpy_helper.from_array(np.array(i, np.int64))))
        if i == 0:
            made.append(helper.make_node("Constant", [], [f"{prefix}__cond"],
                                         value=numpy_helper.from_array(np.array(True))))
        for body_node in body.node:
            copy = onnx.NodeProto()
            copy.CopyFrom(body_node)
            copy.name = f"{prefix}__{i}__{body_node.name or body_node.output[0]}"
            for k, name in enumerate(copy.input):
                copy.input[k] = names.get(name, name)  # else a name of the outer graph
            for k, name in enumerate(copy.output):
                if name:
                    names[name] = copy.output[k] = f"{prefix}__{i}__{name}"
            made.append(copy)
        carried = [names.get(name, name) for name in outputs[1:1 + n_carried]]
        for scan, name in zip(scans, outputs[1 + n_carried:]):
            scan.append(names.get(name, name))
    for value, out in zip(carried, node.output[:n_carried]):
        if out:
            made.append(helper.make_node("Identity", [value], [out], name=f"{prefix}__final_{out}"))
    for k, (values, out) in enumerate(zip(scans, node.output[n_carried:])):
        if not out:
            continue
        stacked = []
        for i, value in enumerate(values):
            name = f"{prefix}__scan{k}_{i}"
            if opset >= 13:
                axes = f"{prefix}__axis0"
                if not any(init.name == axes for init in graph.initializer):
                    graph.initializer.append(numpy_helper.from_array(np.array([0], np.int64), axes))
                made.append(helper.make_node("Unsqueeze", [value, axes], [name], name=name))
            else:
                made.append(helper.make_node("Unsqueeze", [value], [name], name=name, axes=[0]))
            stacked.append(name)
        made.append(helper.make_node("Concat", stacked, [out], name=f"{prefix}__scan{k}", axis=0))
    return made
