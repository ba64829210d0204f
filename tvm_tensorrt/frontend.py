"""ONNX -> Relax. onnxslim runs first: TVM's ONNX importer fails on many exports without it,
and it drops Dropout and folds what it can, which means fewer ops to offload. Both see the
model without its large weights (onnx_weights.py), which are bound back as constants after."""

from __future__ import annotations

import logging
import os

import onnx

from .canonicalize import canonicalize
from .errors import TensorRTError
from .onnx_ops import relax_importers
from .onnx_weights import bind_weights, split_weights

logger = logging.getLogger("tvm_tensorrt")


def load_onnx(model_or_path) -> onnx.ModelProto:
    if isinstance(model_or_path, onnx.ModelProto):
        return _checked(model_or_path, "the ONNX model")
    path = os.fspath(model_or_path)
    if not os.path.isfile(path):
        raise TensorRTError(f"ONNX model {path!r} does not exist")
    try:
        model = onnx.load(path)
    except Exception as err:
        raise TensorRTError(f"{path!r} is not a readable ONNX model ({type(err).__name__}: {err}); "
                            "is the file complete?") from err
    return _checked(model, repr(path))


def _checked(model: onnx.ModelProto, what: str) -> onnx.ModelProto:
    """What protobuf parses without complaint but no importer can use: an empty or foreign file
    (any bytes parse as some ModelProto), or operators newer than the installed onnx knows."""
    if model.ir_version < 3 or not model.graph.output:
        raise TensorRTError(f"{what} is not an ONNX model (IR version {model.ir_version}, "
                            f"{len(model.graph.node)} nodes, {len(model.graph.output)} outputs)")
    newest = onnx.defs.onnx_opset_version()
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version > newest:
            raise TensorRTError(f"{what} uses ONNX opset {opset.version}; the installed onnx knows opsets up to "
                                f"{newest}: export with opset <= {newest} (torch.onnx.export(..., opset_version="
                                f"{newest})) or upgrade onnx")
    return model


def from_onnx(model_or_path, shape_dict=None):
    """Returns (mod, params). Weights stay in the module as constants, so params is empty."""
    from tvm.relax.frontend.onnx import from_onnx as relax_from_onnx

    model, weights = split_weights(load_onnx(model_or_path))  # a copy: the caller's model is not edited
    try:
        import onnxslim

        model = onnxslim.slim(model)
    except Exception as err:  # onnxslim is an optimisation; the importer may still cope
        logger.warning("onnxslim could not simplify the model (%s); importing it as is", err)
    try:
        with relax_importers():
            mod = relax_from_onnx(model, shape_dict=shape_dict, keep_params_in_input=False)
    except Exception as err:
        raise TensorRTError(f"TVM's ONNX importer failed: {err}") from err
    return canonicalize(bind_weights(mod, weights)), {}
