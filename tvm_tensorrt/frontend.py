"""ONNX -> Relax. Shape arithmetic on static shapes is folded first (onnx_fold.py); onnxslim
runs only where shapes stay symbolic or the model branches: TVM's ONNX importer fails on many
such exports without it. Both see the model without its large weights (onnx_weights.py), which
are bound back as constants after."""

from __future__ import annotations

import contextlib
import io
import logging
import mmap
import os

import onnx
import onnx.external_data_helper

from .canonicalize import canonicalize
from .errors import ModelImportError, TensorRTError
from .onnx_fold import fold_shape_arithmetic, inline_constant_ifs, may_fold
from .onnx_loops import unroll_constant_loops
from .onnx_ops import error_line, relax_importers
from .onnx_external import external_file_weights
from .onnx_mapped import read_mapped
from .onnx_weights import LIFT_MIN_ELEMENTS, bind_weights, has_subgraphs, split_weights, weight_tensors

logger = logging.getLogger("tvm_tensorrt")


def load_onnx(model_or_path) -> onnx.ModelProto:
    if isinstance(model_or_path, onnx.ModelProto):
        return _checked(model_or_path, "the ONNX model")
    path = _existing(model_or_path)
    try:
        model = _read_model(path)
    except Exception as err:
        raise _unreadable(path, err) from err
    return _checked(model, repr(path))


def _existing(model_path) -> str:
    path = os.fspath(model_path)
    if not os.path.isfile(path):
        raise TensorRTError(f"ONNX model {path!r} does not exist")
    return path


def _binary(path: str) -> bool:
    fmt = onnx.serialization.registry.get_format_from_file_extension(os.path.splitext(path)[1])
    return fmt in (None, "protobuf") and os.path.getsize(path) > 0  # mmap refuses empty files


def load_leaving_weights_in_file(model_or_path) -> tuple[onnx.ModelProto, dict]:
    """(model, {initializer name: FileWeight}) for the importer: from a binary file, the large
    float weights are left in it (onnx_mapped.py), to be read where they go; otherwise
    load_onnx's model and none left."""
    if not isinstance(model_or_path, onnx.ModelProto) and _binary(path := _existing(model_or_path)):
        mapped = read_mapped(path, LIFT_MIN_ELEMENTS)
        if mapped is not None:
            model, in_file = mapped
            in_file.update(external_file_weights(model, os.path.dirname(path), LIFT_MIN_ELEMENTS))  # read once
            try:
                onnx.external_data_helper.load_external_data_for_model(model, os.path.dirname(path))
            except Exception as err:
                raise _unreadable(path, err) from err
            return _checked(model, repr(path)), in_file
    return load_onnx(model_or_path), {}


def _unreadable(path: str, err: Exception) -> TensorRTError:
    return TensorRTError(f"{path!r} is not a readable ONNX model ({type(err).__name__}: {err}); is the file complete?")


def _read_model(path: str) -> onnx.ModelProto:
    """onnx.load, but a binary model is parsed straight from the mapped file: onnx.load reads
    it into a bytes object first, a copy as slow as the parse (60 ms of ResNet-50's 110 MB)."""
    if not _binary(path):
        return onnx.load(path)  # text formats; an empty file (onnx.load: an empty model)
    model = onnx.ModelProto()
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped, \
            memoryview(mapped) as data:
        model.ParseFromString(data)  # copies what it keeps: nothing refers to the mapping after
    onnx.external_data_helper.load_external_data_for_model(model, os.path.dirname(path))
    return model


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


def node_names(model: onnx.ModelProto) -> list[str]:
    """Each node's name, made up (`Conv_3`, by op type and position) where the model gives none
    or repeats one, so that every node can be named in reports and found again in the model."""
    names, seen = [], set()
    for index, node in enumerate(model.graph.node):
        name = node.name if node.name and node.name not in seen else f"{node.op_type}_{index}"
        while name in seen:
            name += "_"
        seen.add(name)
        names.append(name)
    return names


def from_onnx(model_or_path, shape_dict=None, simplify=None):
    """Returns (mod, params). Weights stay in the module as constants, so params is empty.
    simplify: run onnxslim first (True), never (False), or when the model needs it after our
    own shape folding (None; the only mode that folds)."""
    mod, _ = import_onnx(model_or_path, shape_dict, simplify)
    return mod, {}


# Nodes that compute shapes or branch. TVM's importer fails on much of what they produce unless
# onnxslim folds it first (ConstantOfShape -> broadcast_to, Shape -> Gather -> Concat -> Reshape).
# Where the shapes are static, onnx_fold.py folds them itself, in milliseconds (onnxslim costs
# 0.4 s to import and 0.1-0.3 s to run on a transformer block); a model with none left imports as
# it is, and its constants, batch norms, Dropout and identities are folded by us.
SLIM_FOR = frozenset({"Shape", "Size", "ConstantOfShape", "Range", "NonZero", "If", "Loop", "Scan"})


def import_onnx(model_or_path, shape_dict=None, simplify=None):
    """(mod, node_of): node_of maps a binding name of main to the ONNX node it computes (not
    every node has one: onnxslim and the importer fold some away, some calls are helpers)."""
    model, weights = split_weights(*load_leaving_weights_in_file(model_or_path))  # a copy: the caller's model is not edited
    auto = simplify is None
    if auto and has_subgraphs(model.graph):
        # Ifs of a constant condition inlined (onnx_fold.py), before onnxslim and our folding both:
        # neither folds them, and TVM's importer makes them a relax.If of unknown rank; Loops of a
        # constant trip count unrolled (onnx_loops.py): TVM's importer has no Loop. With no body
        # left, the weights can be split off as for any model.
        changed = 0
        for edit, what in ((inline_constant_ifs, "inlining the model's constant Ifs"),
                           (unroll_constant_loops, "unrolling the model's constant Loops")):
            try:
                changed += edit(model, shape_dict)
            except Exception as err:  # an optimisation: the model is edited only once all is known
                logger.warning("%s failed (%s: %s)", what, type(err).__name__, err)
        if changed and not has_subgraphs(model.graph):
            model, weights = split_weights(model)
    tensors = weight_tensors(weights)  # on a second core, while the importer runs
    for node, name in zip(model.graph.node, node_names(model)):  # every node findable by name
        node.name = name
    producers = {out: node.name for node in model.graph.node for out in node.output}
    if auto:
        folded = _shape_folded(model, shape_dict)
        simplify = any(node.op_type in SLIM_FOR for node in folded.graph.node)
        if not simplify:
            model = folded  # else onnxslim gets the model as it came: it folds symbolic shapes better unhelped
    if not simplify:
        try:  # when trying, quiet: TVM prints the op it failed on
            with contextlib.redirect_stdout(io.StringIO()) if auto else contextlib.nullcontext():
                mod, node_of = _relax_import(model, shape_dict)
        except TensorRTError as err:
            if not auto:
                raise
            logger.info("importing without onnxslim failed (%s); simplifying first", err)
            simplify = True
    if simplify:
        model = _slimmed(model)
        mod, node_of = _relax_import(model, shape_dict)
    return canonicalize(bind_weights(mod, tensors.result())), _user_nodes(node_of, model, producers)


def _shape_folded(model: onnx.ModelProto, shape_dict) -> onnx.ModelProto:
    """A copy of `model` with its shape arithmetic folded (onnx_fold.py), or `model` itself."""
    if not may_fold(model):
        return model
    copy = onnx.ModelProto()
    copy.CopyFrom(model)  # the weightless copy: small
    try:
        return fold_shape_arithmetic(copy, shape_dict)[0]
    except Exception as err:  # an optimisation, like onnxslim: the import goes on without it
        logger.warning("folding the model's shape arithmetic failed (%s: %s); importing it as is",
                       type(err).__name__, err)
        return model


def _slimmed(model: onnx.ModelProto) -> onnx.ModelProto:
    try:
        import onnxslim

        return onnxslim.slim(model)
    except Exception as err:  # onnxslim is an optimisation; the importer may still cope
        logger.warning("onnxslim could not simplify the model (%s); importing it as is", err)
        return model


def _relax_import(model: onnx.ModelProto, shape_dict):
    from tvm.error import OpNotImplemented
    from tvm.relax.frontend.onnx import from_onnx as relax_from_onnx

    try:
        # stdout: TVM's importer prints a failing node's inputs before re-raising; our error names it
        with relax_importers() as node_of, contextlib.redirect_stdout(io.StringIO()):
            mod = relax_from_onnx(model, shape_dict=shape_dict, keep_params_in_input=False)
    except TensorRTError:
        raise
    except OpNotImplemented as err:
        raise ModelImportError(_unsupported_ops(model)) from err
    except Exception as err:
        raise ModelImportError(f"TVM's ONNX importer failed: {error_line(err)}") from err
    return mod, node_of


def _unsupported_ops(model: onnx.ModelProto) -> str:
    """Which nodes use ops TVM's importer has no converter for: the first few by name, so a user
    can find them in the export."""
    from tvm.relax.frontend.onnx.onnx_frontend import _get_convert_map

    known = set(_get_convert_map()) | {"If", "Constant"}
    missing: dict[str, list] = {}
    for node in model.graph.node:
        if node.op_type not in known:
            missing.setdefault(node.op_type, []).append(node.name or node.output[0])
    parts = [f"{op} (node {', '.join(repr(n) for n in nodes[:3])}{', ...' if len(nodes) > 3 else ''})"
             for op, nodes in sorted(missing.items())]
    return ("TVM's ONNX importer has no converter for " + "; ".join(parts) +
            ": export without these ops (another opset, or the op written out in supported ones)")


def _user_nodes(node_of: dict, imported: onnx.ModelProto, producers: dict) -> dict:
    """binding -> node of the user's model. onnxslim names the nodes it makes by fusing (a Conv
    with its BatchNormalization becomes `c1`); such a node is the user's node that produced the
    same output tensor."""
    names = set(producers.values())
    outputs = {node.name: node.output for node in imported.graph.node}
    found = {}
    for binding, node in node_of.items():
        if node not in names:
            node = next((producers[o] for o in outputs.get(node, ()) if o in producers), None)
        if node is not None:
            found[binding] = node
    return found
