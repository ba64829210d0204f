"""ONNX -> Relax. onnxslim runs first: TVM's ONNX importer fails on many exports without it,
and it folds BatchNormalization into Conv and drops Dropout, which means fewer ops to offload."""

from __future__ import annotations

import logging
import os

import onnx
import numpy as np
from onnx import helper, numpy_helper

from .canonicalize import canonicalize
from .errors import TensorRTError
from .onnx_ops import relax_importers

logger = logging.getLogger("tvm_tensorrt")


def _clip_to_max_min(model: onnx.ModelProto) -> None:
    """TVM imports Clip as opaque TIR (emit_te), which no rule can see; with constant scalar
    bounds, Max then Min are the same function and import as relax.maximum/minimum."""
    constants = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    nodes = []
    for node in model.graph.node:
        bounds = list(node.input[1:3]) if node.op_type == "Clip" else []
        if not bounds or any(b and (b not in constants or constants[b].size != 1 or np.isnan(constants[b]).any())
                             for b in bounds):
            nodes.append(node)
            continue
        value, base = node.input[0], node.output[0]
        steps = [(op, b) for op, b in zip(("Max", "Min"), bounds + [""]) if b]
        for k, (op, bound) in enumerate(steps):
            out = base if k == len(steps) - 1 else f"{base}__clip_lo"
            nodes.append(helper.make_node(op, [value, bound], [out], name=f"{node.name or base}__{op.lower()}"))
            value = out
        if not steps:
            nodes.append(helper.make_node("Identity", [value], [base], name=node.name))
    del model.graph.node[:]
    model.graph.node.extend(nodes)


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
    model.CopyFrom(load_onnx(model_or_path))  # never edit the caller's model in place
    try:
        import onnxslim

        model = onnxslim.slim(model)
    except Exception as err:  # onnxslim is an optimisation; the importer may still cope
        logger.warning("onnxslim could not simplify the model (%s); importing it as is", err)
    _clip_to_max_min(model)
    try:
        with relax_importers():
            mod = relax_from_onnx(model, shape_dict=shape_dict, keep_params_in_input=False)
    except Exception as err:
        raise TensorRTError(f"TVM's ONNX importer failed: {err}") from err
    return canonicalize(mod), {}
