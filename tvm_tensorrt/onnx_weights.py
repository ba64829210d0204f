"""Import an ONNX model without carrying its weights through onnxslim and TVM's importer.

Both tools copy, compare and serialise every initializer many times: for VGG-19 (575 MB of
weights) onnxslim spends 2.9 s comparing tensors between its passes and TVM's importer 3.0 s
running onnx.checker, against 1.5 s for NVIDIA's parser to read and build the whole model. So
the large float initializers become graph inputs of a weightless copy of the model (renamed,
so TVM's name sanitising cannot change them), that copy goes through onnxslim and the importer,
and the weights are bound back afterwards as constants, each copied once.

What onnxslim did with those weights is done later on the Relax side: its constant folding by
partition/fold.py, its Conv + BatchNormalization fusion by partition/fold.py's batch-norm
folding. Small initializers (shapes, axes, pads, scales, clip bounds: what importers read as
Python values) stay in the model.
"""

from __future__ import annotations

import concurrent.futures
from typing import Optional

import numpy as np
import onnx
import tvm
from onnx import helper, numpy_helper
from tvm import relax

from tvm_tensorrt.partition.graph import retyped, substitute, used_vars
from .onnx_mapped import FileWeight
from .shared_tensors import aligned_copy, shared_tensor

# Float initializers with at least this many elements become inputs; every value an importer
# must read at import time (shapes, axes, pads, Resize scales, Clip bounds) is far smaller.
LIFT_MIN_ELEMENTS = 1024
LIFTED_PREFIX = "tvm_tensorrt_weight_"
THREADED_MIN_ELEMENTS = 1 << 20  # lifted weights copied on a worker thread from this many elements
_FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE,
                onnx.TensorProto.BFLOAT16}


def has_subgraphs(graph: onnx.GraphProto) -> bool:
    """If/Loop/Scan bodies may read outer values by name: such models are neither split nor folded."""
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in graph.node for a in n.attribute)


def _liftable(init: onnx.TensorProto) -> bool:
    return init.data_type in _FLOAT_TYPES and int(np.prod(init.dims, dtype=np.int64)) >= LIFT_MIN_ELEMENTS \
        and init.data_location != onnx.TensorProto.EXTERNAL


def split_weights(model: onnx.ModelProto, in_file: Optional[dict] = None) -> tuple[onnx.ModelProto, dict]:
    """(a copy of `model` whose large float initializers are graph inputs, {input name: the
    initializer, or its FileWeight}). Initializers no node reads are left out of the copy: TVM's
    importer would make a tensor of each (ResNet-50 exports with 240 such shapes, 60 us each).
    `in_file`: {name: FileWeight} of initializers onnx_mapped.read_mapped left in the file; those
    that stay initializers get their values back. The caller's model is not changed; the
    initializers are not copied."""
    in_file = in_file or {}
    graph = model.graph
    if has_subgraphs(graph):  # a body may read any initializer by name
        lifted, unused = {}, set()
    else:
        read = {name for node in graph.node for name in node.input} | {out.name for out in graph.output}
        unused = {init.name for init in graph.initializer if init.name not in read}
        lifted = {init.name: init for init in graph.initializer if init.name in read and _liftable(init)}
    if (not lifted and not unused) or any(out.name in lifted for out in graph.output):  # a weight output stays
        unchanged = onnx.ModelProto()
        unchanged.CopyFrom(model)
        return _with_values(unchanged, in_file), {}
    renamed = {name: f"{LIFTED_PREFIX}{i}" for i, name in enumerate(lifted)}
    nodes = []
    for node in graph.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        for i, name in enumerate(copy.input):
            if name in renamed:
                copy.input[i] = renamed[name]
        nodes.append(copy)
    inputs = [i for i in graph.input if i.name not in lifted and i.name not in unused]
    inputs += [helper.make_tensor_value_info(renamed[name], init.data_type, list(init.dims))
               for name, init in lifted.items()]
    light_graph = helper.make_graph(nodes, graph.name, inputs, list(graph.output),
                                    [init for init in graph.initializer if init.name not in lifted
                                     and init.name not in unused],
                                    value_info=list(graph.value_info))
    light = onnx.ModelProto()
    for field in ("ir_version", "producer_name", "producer_version", "domain", "model_version", "doc_string"):
        setattr(light, field, getattr(model, field))
    light.opset_import.extend(model.opset_import)
    light.metadata_props.extend(model.metadata_props)
    light.functions.extend(model.functions)
    light.graph.CopyFrom(light_graph)
    return _with_values(light, in_file), {renamed[name]: in_file.get(name, init) for name, init in lifted.items()}


def _with_values(model: onnx.ModelProto, in_file: dict) -> onnx.ModelProto:
    """Initializers left in the file (read_mapped) that stay initializers get their values."""
    for init in model.graph.initializer:
        if init.name in in_file:
            init.raw_data = in_file[init.name].read().tobytes()
    return model


def _array(init: onnx.TensorProto) -> np.ndarray:
    """The initializer's values; a view of its bytes where the proto keeps them raw."""
    if init.raw_data and init.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE):
        dtype = np.float32 if init.data_type == onnx.TensorProto.FLOAT else np.float64
        return np.frombuffer(init.raw_data, dtype=np.dtype(dtype).newbyteorder("<")).reshape(list(init.dims))
    return numpy_helper.to_array(init)


def weight_tensors(weights: dict) -> concurrent.futures.Future:
    """{name: TVM tensor} for the lifted initializers (TensorProtos or FileWeights), made on a
    worker thread while TVM's importer reads the weightless model (each weight copied once, into
    memory TVM shares, without holding the GIL). Under a million elements they are copied at
    once instead: starting the thread costs more (0.7 ms)."""
    def tensors():
        return {name: shared_tensor(w.read()) if isinstance(w, FileWeight) else aligned_copy(_array(w))
                for name, w in weights.items()}

    if sum(int(np.prod(w.shape if isinstance(w, FileWeight) else w.dims, dtype=np.int64))
           for w in weights.values()) < THREADED_MIN_ELEMENTS:
        done = concurrent.futures.Future()
        done.set_result(tensors())
        return done
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tvm_tensorrt_weights")
    future = pool.submit(tensors)
    pool.shutdown(wait=False)
    return future


def bind_weights(mod: tvm.IRModule, tensors: dict) -> tvm.IRModule:
    """Bind each lifted input of `main` back to its initializer's values (weight_tensors), as a
    constant."""
    bound = {}
    for param in mod["main"].params:
        tensor = tensors.get(param.name)
        if tensor is not None:
            dtype = str(param.ty.dtype)
            bound[param] = tensor if str(tensor.dtype) == dtype else tvm.runtime.tensor(tensor.numpy().astype(dtype))
    if not bound:
        return mod
    func = _bound(mod["main"], {param: relax.const(tensor) for param, tensor in bound.items()})
    if func is None:
        return relax.transform.BindParams("main", bound)(mod)
    mod = mod.clone()
    mod["main"] = func
    return mod


def _bound(func: relax.Function, constants: dict):
    """`func` with the params in `constants` replaced by them, or None where one is read by more
    than an operator call, a tuple or an alias. Each call keeps its type (a constant of the
    param's own type replaces it): BindParams re-infers every call, 0.03 s on ResNet-50."""
    if any(v in constants for v in used_vars(func.body.body)):
        return None
    blocks = []
    for block in func.body.blocks:
        bindings = []
        for binding in block.bindings:
            value = binding.value
            if any(v in constants for v in used_vars(value)):
                if not isinstance(value, (relax.Call, relax.Var, relax.Tuple, relax.TupleGetItem)):
                    return None  # an If's branches, a nested function: BindParams knows them
                value = retyped(substitute(value, constants), value.ty)
            if isinstance(binding, relax.MatchCast):
                bindings.append(relax.MatchCast(binding.var, value, binding.ty))
            else:
                bindings.append(relax.VarBinding(binding.var, value))
        blocks.append(type(block)(bindings))
    params = [p for p in func.params if p not in constants]
    return relax.Function(params, relax.SeqExpr(blocks, func.body.body), func.ret_ty, func.is_pure, func.attrs)
