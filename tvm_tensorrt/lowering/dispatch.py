"""The dispatch lowering behind tvm_tensorrt.build (flows.py): a partitioned module -> one that
carries its subgraphs.

Each call of an offloaded function `tensorrt_k` in `main` becomes

    ready = tvm_tensorrt.prepare(blob_k, plans_k, *args, *weights_k)   # builds/loads the engine on first use
    y = if ready: call_dps_packed(tvm_tensorrt.execute, blob_k, plans_k, *args, *weights_k)   # TensorRT
        else:     tensorrt_k_tvm(*args)                     # TVM's compiled copy of the subgraph

so the library is self-contained (the blob, and any prebuilt plans, are constants inside it) and
still runs where no engine can execute. The blob leaves its weights out: `weights_k` are the same
relax constants TVM's copy reads, and the VM keeps content-equal constants once, so each weight
is stored once in the library (formats/subgraph.py, weights_external).

We chose this over Relax's RunCodegen/`relax.ext.*` route for the one-call path because that
route carries no TVM copy of a subgraph to fall back on (lowering/codegen.py serves TVM's own
flow).
"""

from __future__ import annotations

import json

import numpy as np
import tvm
from tvm import relax

from typing import Callable, Optional

from ..backend import DEFAULT_TENSORRT_VERSION
from ..formats.abi import EXECUTE, NO_ENGINE, PREPARE, PREPARE_GPU_ONLY, SUBGRAPHS_LISTING
from .constants import plans_constant
from tvm_tensorrt.partition.config import make_config
from tvm_tensorrt.partition.outline import CODEGEN, CONFIG_ATTR
from .serialize import serialize_sharing_weights

FALLBACK_SUFFIX = "_tvm"


def function_config(func) -> dict | None:
    """The partition config an offloaded function carries, or None."""
    return json.loads(str(func.attrs[CONFIG_ATTR])) if func.attrs and CONFIG_ATTR in func.attrs else None


def config_of(mod: tvm.IRModule) -> dict:
    """The partition config the offloaded functions carry (a default one when there are none)."""
    for func in offloaded_functions(mod).values():
        if function_config(func) is not None:
            return function_config(func)
    return make_config(DEFAULT_TENSORRT_VERSION)


def offloaded_functions(mod: tvm.IRModule) -> dict:
    """{global var: function} for every function marked Codegen="tensorrt"."""
    return {gv: f for gv, f in mod.functions.items()
            if isinstance(f, relax.Function) and f.attrs and f.attrs.get("Codegen") == CODEGEN}


@relax.expr_functor.mutator
class _DispatchRewriter(relax.PyExprMutator):
    def __init__(self, mod, dispatch: dict):
        super().__init__(mod)
        self.dispatch = dispatch  # GlobalVar -> (blob constant, plans constant, weight constants, fallback GlobalVar)

    def visit_call_(self, call):
        args = [self.visit_expr(a) for a in call.args]
        target = self.dispatch.get(call.op) if isinstance(call.op, relax.GlobalVar) else None
        if target is None:
            return relax.Call(call.op, args, call.attrs, call.ty_args) if args else call
        blob, plans, weights, fallback = target
        prepare = PREPARE if fallback is not None else PREPARE_GPU_ONLY
        ready = self.builder_.emit(relax.Call(relax.ExternFunc(prepare), [blob, plans, *args, *weights],
                                              ty_args=[relax.TensorType((), "bool")]), "trt_ready")
        out_ty = call.ty
        out_types = list(out_ty.fields) if isinstance(out_ty, relax.TupleType) else out_ty
        engine_call = relax.call_dps_packed(EXECUTE, [blob, plans, *args, *weights], out_types)
        otherwise = relax.Call(fallback, args) if fallback is not None else \
            relax.call_dps_packed(NO_ENGINE, [blob, plans, *args, *weights], out_types)
        return relax.If(ready, engine_call, otherwise)


def _bytes_const(data: bytes) -> relax.Expr:
    return relax.const(np.frombuffer(data, dtype=np.uint8))


def lower_offloaded(mod: tvm.IRModule, config: dict, plans_for: Optional[Callable] = None,
                    cpu_fallback: bool = True) -> tvm.IRModule:
    """Replace every offloaded function by its serialised form plus (cpu_fallback) a TVM copy.
    plans_for(subgraph) -> {key: (plan, ranges)}: engines to embed, built by the caller (the
    runtime builds engines; lowering only writes what it is given)."""
    targets = offloaded_functions(mod)
    if not targets:
        return mod
    mod = relax.transform.ToNonDataflow()(mod)  # If is not allowed inside dataflow blocks
    builder = relax.BlockBuilder(mod)
    dispatch = {}
    for gv in list(targets):
        func = mod[gv]
        symbol = func.attrs["global_symbol"]
        blob, weights, subgraph = serialize_sharing_weights(func, symbol, config)
        plans = plans_for(subgraph) if plans_for is not None else {}
        fallback_gv = None
        if cpu_fallback:
            fallback = func.without_attr("Codegen").without_attr("global_symbol")
            fallback_gv = builder.add_func(fallback, symbol + FALLBACK_SUFFIX)
        dispatch[gv] = (_bytes_const(blob), plans_constant(plans), weights, fallback_gv)  # each plan copied once
    mod = builder.get()
    rewriter = _DispatchRewriter(mod, dispatch)
    fallbacks = {entry[-1] for entry in dispatch.values() if entry[-1] is not None}
    for gv, func in list(mod.functions.items()):
        if isinstance(func, relax.Function) and gv not in targets and gv not in fallbacks:
            rewriter.builder_.update_func(gv, rewriter.visit_expr(func))
    new_mod = rewriter.builder_.get()
    for gv in targets:
        del new_mod[gv]
    return _with_subgraph_listing(new_mod, list(dispatch.values()))


def _with_subgraph_listing(mod: tvm.IRModule, entries: list) -> tvm.IRModule:
    """Add SUBGRAPHS_LISTING, returning (blob, plans, *weights) per subgraph, flattened, each
    group led by its weight count: `tvm-tensorrt inspect` reads a library through it. Its
    constants are the ones `main` passes, so it adds no bytes to the library."""
    fields = []
    for blob, plans, weights, _ in entries:
        fields += [relax.const(np.array(len(weights), "int64"), "int64"), blob, plans, *weights]
    builder = relax.BlockBuilder(mod)
    with builder.function(SUBGRAPHS_LISTING, [], {"global_symbol": SUBGRAPHS_LISTING}):
        builder.emit_func_output(relax.Tuple(fields))
    return builder.get()
