"""tvm_tensorrt.build: compile a partitioned module into one library that carries its subgraphs.

Each call of an offloaded function `tensorrt_k` in `main` becomes

    ready = tvm_tensorrt.prepare(blob_k, plans_k, *args)   # builds/loads the engine on first use
    y = if ready: call_dps_packed(tvm_tensorrt.execute, blob_k, plans_k, *args)   # TensorRT on the GPU
        else:     tensorrt_k_tvm(*args)                     # TVM's compiled copy of the subgraph

so the library is self-contained (the blob, and any prebuilt plans, are constants inside it) and
still runs where no engine can execute. We chose this over Relax's RunCodegen/`relax.ext.*`
route because that route needs a C++ runtime module per backend to survive export_library; a
packed function registered from Python plus a uint8 constant survives export -> load in a fresh
process as is.
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax

from ..errors import BackendUnavailableError
from ..partition.config import make_config
from ..partition.outline import CODEGEN
from .backend import find_backend
from .engines import prebuild
from .executor import EXECUTE, PREPARE
from .plans import encode_plans
from .serialize import serialize_function
from .subgraph import decode

FALLBACK_SUFFIX = "_tvm"


def offloaded_functions(mod: tvm.IRModule) -> dict:
    """{global var: function} for every function marked Codegen="tensorrt"."""
    return {gv: f for gv, f in mod.functions.items()
            if isinstance(f, relax.Function) and f.attrs and f.attrs.get("Codegen") == CODEGEN}


@relax.expr_functor.mutator
class _DispatchRewriter(relax.PyExprMutator):
    def __init__(self, mod, dispatch: dict):
        super().__init__(mod)
        self.dispatch = dispatch  # GlobalVar -> (blob constant, plans constant, fallback GlobalVar)

    def visit_call_(self, call):
        args = [self.visit_expr(a) for a in call.args]
        target = self.dispatch.get(call.op) if isinstance(call.op, relax.GlobalVar) else None
        if target is None:
            return relax.Call(call.op, args, call.attrs, call.ty_args) if args else call
        blob, plans, fallback = target
        ready = self.builder_.emit(relax.Call(relax.ExternFunc(PREPARE), [blob, plans, *args],
                                              ty_args=[relax.TensorType((), "bool")]), "trt_ready")
        out_ty = call.ty
        out_types = list(out_ty.fields) if isinstance(out_ty, relax.TupleType) else out_ty
        engine_call = relax.call_dps_packed(EXECUTE, [blob, plans, *args], out_types)
        return relax.If(ready, engine_call, relax.Call(fallback, args))


def _bytes_const(data: bytes) -> relax.Expr:
    return relax.const(np.frombuffer(data, dtype=np.uint8))


def lower_offloaded(mod: tvm.IRModule, config: dict, prebuild_engines: bool = False,
                    prebuild_max_batch: int = 1) -> tvm.IRModule:
    """Replace every offloaded function by its serialised form plus a TVM fallback copy."""
    targets = offloaded_functions(mod)
    if not targets:
        return mod
    mod = relax.transform.ToNonDataflow()(mod)  # If is not allowed inside dataflow blocks
    builder = relax.BlockBuilder(mod)
    dispatch = {}
    for gv in list(targets):
        func = mod[gv]
        symbol = func.attrs["global_symbol"]
        blob = serialize_function(func, symbol, config)
        plans = prebuild(decode(blob), prebuild_max_batch) if prebuild_engines else {}
        fallback = func.without_attr("Codegen").without_attr("global_symbol")
        fallback_gv = builder.add_func(fallback, symbol + FALLBACK_SUFFIX)
        dispatch[gv] = (_bytes_const(blob), _bytes_const(encode_plans(plans)), fallback_gv)
    mod = builder.get()
    rewriter = _DispatchRewriter(mod, dispatch)
    fallbacks = {fb for _, _, fb in dispatch.values()}
    for gv, func in list(mod.functions.items()):
        if isinstance(func, relax.Function) and gv not in targets and gv not in fallbacks:
            rewriter.builder_.update_func(gv, rewriter.visit_expr(func))
    new_mod = rewriter.builder_.get()
    for gv in targets:
        del new_mod[gv]
    return new_mod


def build(mod: tvm.IRModule, target="llvm", config: dict | None = None, prebuild_engines: bool = False,
          prebuild_max_batch: int = 1):
    """Compile `mod` (from partition_for_tensorrt) with TVM; returns a relax VM executable.

    prebuild_engines: build every engine now (on a CPU if need be, with the TVM_TENSORRT_*
    settings in force) and embed the plans, so the first inference loads instead of building.
    Subgraphs with a dynamic batch get one engine for batches 1..prebuild_max_batch.
    """
    config = config if config is not None else make_config()
    if prebuild_engines and find_backend() is None:
        raise BackendUnavailableError("prebuild_engines=True needs TensorRT (or TensorRT-RTX) on this machine")
    lowered = lower_offloaded(mod, config, prebuild_engines, prebuild_max_batch)
    return tvm.compile(lowered, target=target)
