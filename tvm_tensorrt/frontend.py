"""ONNX -> Relax. onnxslim runs first: TVM's ONNX importer fails on many exports without it,
and it folds BatchNormalization into Conv and drops Dropout, which means fewer ops to offload."""

from __future__ import annotations

import logging
import os

import onnx
from onnx import helper

from .errors import TensorRTError

logger = logging.getLogger("tvm_tensorrt")


def _sum_to_add(model: onnx.ModelProto) -> None:
    """ONNX Sum imports as broadcast_to + stack + sum over a new axis 0, which reads the batch
    axis; a chain of Add (same broadcasting rules) keeps residual blocks offloadable."""
    graph = model.graph
    nodes = []
    for node in graph.node:
        if node.op_type != "Sum" or len(node.input) < 2:
            if node.op_type == "Sum":  # Sum of one input is Identity
                node = helper.make_node("Identity", list(node.input), list(node.output), name=node.name)
            nodes.append(node)
            continue
        acc = node.input[0]
        for i, name in enumerate(node.input[1:], start=1):
            last = i == len(node.input) - 1
            out = node.output[0] if last else f"{node.output[0]}__sum{i}"
            nodes.append(helper.make_node("Add", [acc, name], [out], name=f"{node.name or node.output[0]}__add{i}"))
            acc = out
    del graph.node[:]
    graph.node.extend(nodes)


def load_onnx(model_or_path) -> onnx.ModelProto:
    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path
    path = os.fspath(model_or_path)
    if not os.path.isfile(path):
        raise TensorRTError(f"ONNX model {path!r} does not exist")
    try:
        return onnx.load(path)
    except Exception as err:
        raise TensorRTError(f"{path!r} is not a readable ONNX model: {err}") from err


def from_onnx(model_or_path, shape_dict=None):
    """Returns (mod, params). Weights stay in the module as constants, so params is empty."""
    from tvm.relax.frontend.onnx import from_onnx as relax_from_onnx

    model = onnx.ModelProto()
    model.CopyFrom(load_onnx(model_or_path))
    _sum_to_add(model)
    try:
        import onnxslim

        model = onnxslim.slim(model)
    except Exception as err:  # onnxslim is an optimisation; the importer may still cope
        logger.warning("onnxslim could not simplify the model (%s); importing it as is", err)
    try:
        mod = relax_from_onnx(model, shape_dict=shape_dict, keep_params_in_input=False)
    except Exception as err:
        raise TensorRTError(f"TVM's ONNX importer failed: {err}") from err
    return mod, {}
