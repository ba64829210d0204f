"""partition_for_tensorrt: fold weights into constants, mark supported calls, outline regions."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Optional

import tvm
from tvm import relax

from tvm_tensorrt.backend import DEFAULT_TENSORRT_VERSION, find_backend
from tvm_tensorrt.common import DEFAULT_WORKSPACE_SIZE
from . import rules  # noqa: F401  (registers the built-in rules)
from .checks import dtype_of, is_transposed_weight, output_types, shape_text
from .symbolic_dims import bound_vars, call_size_vars, shape_vars
from .config import make_config
from .conversion import ConversionCheck
from .data_movement import drop_data_movement_regions
from .fold import fold_module, fold_transposed_weights
from .fusions import block_fusions
from .graph import EXTERNAL, build_block_graph, used_vars
from .outline import CODEGEN, CONFIG_ATTR, RegionOutliner
from .regions import form_regions
from .registry import get_rule
from .rules.quantize import requantize_symmetric

logger = logging.getLogger("tvm_tensorrt")


@dataclass(frozen=True)
class Decision:
    """What happened to one operator call, for explain() and the CLI."""

    function: str
    binding: str  # name of the var the call defines
    op: Optional[str]  # "relax.nn.conv2d"
    offloaded: bool
    subgraph: Optional[str]
    reason: Optional[str]
    macs: int = 0  # multiply-accumulates of the call (0 for ops that do no MAC work)
    # For drawing the dataflow (the HTML report) and the annotated ONNX model:
    inputs: tuple = ()  # names of what the call reads: other calls' bindings or function inputs
    shapes: tuple = ()  # its result's shape(s) as text, e.g. ("1x64x56x56",); symbolic dims by name
    dtype: Optional[str] = None  # its (first) result's dtype
    used_after: bool = False  # read after its dataflow block: an output of the function
    # The fused pattern (converters/patterns.py) the network builder builds this call into, if any:
    pattern: Optional[str] = None  # its key, e.g. "attention"
    pattern_root: Optional[str] = None  # the binding of the pattern's last call (names the instance)
    pattern_layers: tuple = ()  # the TensorRT layer types its converter made
    not_fused: tuple = ()  # ((pattern key or rule, reason), ...): patterns found at this call that did not apply


# The layouts TensorRT layers take; ConvertLayout rewrites other layouts of these ops into them
# (inserting permute_dims at the edges, which the rules then offload too).
DESIRED_LAYOUTS = {
    "relax.nn.conv1d": ["NCW", "OIW"],
    "relax.nn.conv2d": ["NCHW", "OIHW"],
    "relax.nn.conv3d": ["NCDHW", "OIDHW"],
    "relax.nn.conv2d_transpose": ["NCHW", "IOHW"],
    "relax.nn.conv3d_transpose": ["NCDHW", "IODHW"],
}


def prepare_module(mod: tvm.IRModule, params: Optional[dict]) -> tvm.IRModule:
    """Bind params, convert NHWC-family convolutions to NCHW, fold constants: TensorRT needs
    weights as constants in its own layouts, and ONNX models often compute weights (and the
    layout conversion transposes them) in the graph."""
    if params:
        mod = relax.transform.BindParams("main", {k: tvm.runtime.tensor(v) if not hasattr(v, "device") else v
                                                 for k, v in params.items()})(mod)
    if _needs_layout_conversion(mod):
        try:
            mod = relax.transform.ConvertLayout(DESIRED_LAYOUTS)(mod)
        except Exception as err:  # TVM's pass, not ours: keep the layouts and let the rules say why
            logger.warning("ConvertLayout could not convert the model to NCHW (%s); convolutions in other "
                           "layouts stay in TVM", err)
    return fold_module(mod)


def _needs_layout_conversion(mod: tvm.IRModule) -> bool:
    """ConvertLayout walks the whole module; run it only when some convolution needs it."""
    for func in mod.functions.values():
        if not isinstance(func, relax.Function) or func.attrs and "Codegen" in func.attrs:
            continue
        for block in getattr(func.body, "blocks", ()):
            for binding in block.bindings:
                value = binding.value
                if isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.Op) \
                        and value.op.name in DESIRED_LAYOUTS:
                    data, kernel = DESIRED_LAYOUTS[value.op.name]
                    if value.attrs.data_layout != data or value.attrs.kernel_layout != kernel:
                        return True
    return False


def partition_for_tensorrt(mod: tvm.IRModule, params=None, version=None, use_implicit_batch=None,
                           remove_no_mac_subgraphs=False, max_workspace_size=DEFAULT_WORKSPACE_SIZE, **options):
    """Returns (partitioned module, config dict). See docs/partitioning.md."""
    return _partition(mod, params, version, None, use_implicit_batch=use_implicit_batch,
                      remove_no_mac_subgraphs=remove_no_mac_subgraphs, max_workspace_size=max_workspace_size, **options)


def partition_with_decisions(mod, params=None, version=None, *, convert: bool = True, **options):
    """(partitioned module, config, a Decision per operator call). version None: the installed
    TensorRT's API version (TensorRT 10's when none is installed, for cross-compiling; a broken
    install is said once by find_backend). convert=False skips the conversion check (the rules
    alone decide, as where no backend is installed)."""
    decisions: list[Decision] = []
    mod, config = _partition(mod, params, version, decisions, convert=convert, **options)
    return mod, config, decisions


def _partition(mod, params, version, decisions: Optional[list], convert: bool = True, **options):
    """decisions: filled with a Decision per call, or None where nobody reads them (they cost
    a tenth of the partition). convert: populate each region's TensorRT network with the real
    converters when a backend is installed (conversion.py); without one the rules alone decide."""
    backend = find_backend()
    if version is None:
        version = backend.api_version if backend is not None else DEFAULT_TENSORRT_VERSION
    config = make_config(version, backend=backend.describe() if backend is not None else None, **options)
    mod = prepare_module(mod, params)
    if config["int8_symmetric"]:
        mod = requantize_symmetric(mod)
    check = ConversionCheck(backend, config, record_fusions=decisions is not None) \
        if convert and backend is not None else None
    builder = relax.BlockBuilder(mod)
    outliner = RegionOutliner(builder)
    for gvar, func in list(mod.functions.items()):
        if not isinstance(func, relax.Function) or func.attrs and "Codegen" in func.attrs:
            continue
        new_func = _partition_function(func, gvar.name_hint, config, outliner, decisions, check)
        builder.update_func(builder.get().get_global_var(gvar.name_hint), new_func)
    mod = builder.get()
    for _, gvar in outliner.functions:  # the config travels with each function (RunCodegen sees only these)
        mod[gvar] = mod[gvar].with_attr(CONFIG_ATTR, json.dumps(config, sort_keys=True))
    return relax.transform.Normalize()(mod), config


def _partition_function(func: relax.Function, fname: str, config, outliner, decisions, check) -> relax.Function:
    body = func.body
    blocks = list(body.blocks)
    new_blocks = []
    for i, block in enumerate(blocks):
        if not isinstance(block, relax.DataflowBlock):
            new_blocks.append(block)
            continue
        later = set(used_vars(body.body))
        for b in blocks[i + 1:]:
            for binding in b.bindings:
                later.update(used_vars(binding.value))
        graph = build_block_graph(block, config, later)
        region_of = _regions(graph, config, check)
        new_blocks.append(outliner.rewrite_block(block, graph, region_of, check.converted if check else None))
        if decisions is not None:
            fusions = block_fusions(graph, region_of, config, check)
            _record(graph, region_of, fname, outliner.last_symbols, decisions, fusions)
    new_body = relax.SeqExpr(new_blocks, body.body)
    return fold_transposed_weights(relax.Function(func.params, new_body, func.ret_ty, func.is_pure, func.attrs))


def _regions(graph, config, check=None) -> dict:
    """Regions, re-formed until every subgraph can be given its symbolic dims at run time and
    (check: a ConversionCheck) every call in them converts. Each round sends at least one call
    back to TVM, so this ends; a model whose calls all convert takes one round."""
    while True:
        region_of = form_regions(graph)
        region_of = _drop_small_regions(graph, region_of, config)
        if config["remove_no_compute_subgraphs"]:
            region_of = drop_data_movement_regions(graph, region_of)
        if config["remove_no_mac_subgraphs"]:
            region_of = _drop_no_mac_regions(graph, region_of)
        if _refuse_unbound_shape_vars(graph, region_of):
            continue
        if check is None or not check.refuse(graph, region_of):
            return region_of


def _refuse_unbound_shape_vars(graph, region_of) -> bool:
    """The runtime learns a shape variable (seq) from a subgraph input that has it as a plain
    dimension. A node whose tensors use a variable no input of its subgraph carries that way
    (its input is (batch * seq, 64) only) goes back to TVM; True when any did, and the regions
    must be formed again (taking nodes out of a region can close a cycle through them)."""
    members: dict = {}
    for node, region in region_of.items():
        members.setdefault(region, []).append(node)
    refused = False
    for nodes in members.values():
        bindings = [graph.nodes[n]["binding"] for n in nodes]
        reads = [graph.nodes[n]["reads"] for n in nodes]
        defined = {b.var for b in bindings}
        bound: set = set()
        for var in {v for vs in reads for v in vs} - defined:
            bound |= bound_vars(var.ty)
        for node, b, read in zip(nodes, bindings, reads):
            types = [b.var.ty] + [v.ty for v in read]
            needed = set().union(*(shape_vars(t) for t in types))
            if isinstance(b.value, relax.Call):
                needed |= call_size_vars(b.value)
            missing = sorted(needed - bound)
            if missing:
                graph.nodes[node]["reason"] = (f"its shape uses {', '.join(missing)}, which no input of its "
                                               "subgraph has as a dimension, so the engine could not learn it")
                refused = True
    return refused


def _is_operator(data) -> bool:
    """An operator call of its own: not a tuple field or alias binding between calls, and not a
    transposed weight (partition/fold.py keeps it for a matmul to read; it is weights)."""
    return data["op"] is not None and not is_transposed_weight(data["binding"].value)


def _drop_small_regions(graph, region_of, config):
    sizes: dict[int, int] = {}
    for node, region in region_of.items():
        if _is_operator(graph.nodes[node]):
            sizes[region] = sizes.get(region, 0) + 1
    keep = {r for r, size in sizes.items() if size >= config["min_subgraph_size"]}
    for node, region in region_of.items():
        if region not in keep:
            graph.nodes[node]["reason"] = f"its subgraph has fewer than {config['min_subgraph_size']} ops (min_subgraph_size)"
    return {n: r for n, r in region_of.items() if r in keep}


def _drop_no_mac_regions(graph, region_of):
    """remove_no_mac_subgraphs: a subgraph without an op that does multiply-accumulate work
    (an op whose rule has a MAC counter: convolutions, matmul, reductions) goes back to TVM,
    where launching it costs less than the engine boundary it would add."""
    with_macs = {region for node, region in region_of.items()
                 if graph.nodes[node]["op"] is not None and has_mac_counter(graph.nodes[node]["op"])}
    for node, region in region_of.items():
        if region not in with_macs:
            graph.nodes[node]["reason"] = "its subgraph does no multiply-accumulate work (remove_no_mac_subgraphs)"
    return {n: r for n, r in region_of.items() if r in with_macs}


def has_mac_counter(op: str) -> bool:
    rule = get_rule(op)
    return rule is not None and rule.does_mac_work


def _record(graph, region_of, fname, symbols, decisions, fusions):
    defined_by = {graph.nodes[n]["binding"].var: n for n in graph.nodes if n != EXTERNAL}

    def sources(var) -> list:
        """The calls (or function inputs) a var's value comes from, looking through what is not
        an operator of its own (_is_operator)."""
        node = defined_by.get(var)
        if node is None:
            return [var.name]
        data = graph.nodes[node]
        if _is_operator(data):
            return [var.name]
        return [name for v in data["reads"] for name in sources(v)]

    for node in sorted(n for n in graph.nodes if n != EXTERNAL):
        data = graph.nodes[node]
        if not _is_operator(data):
            continue
        region = region_of.get(node)
        binding = data["binding"]
        inputs = tuple(dict.fromkeys(name for v in data["reads"] for name in sources(v)))
        results = output_types(binding.value)
        fused = fusions.fused.get(node)
        decisions.append(Decision(fname, binding.var.name, "relax." + data["op"],
                                  region is not None, symbols.get(region), data["reason"], data["macs"],
                                  inputs=inputs, shapes=tuple(shape_text(t) for t in results),
                                  dtype=dtype_of(results[0]) if results else None,
                                  used_after=_read_after(graph, node),
                                  pattern=fused.key if fused else None,
                                  pattern_root=graph.nodes[fused.root]["binding"].var.name if fused else None,
                                  pattern_layers=fused.layers if fused else (),
                                  not_fused=tuple(fusions.not_fused.get(node, ()))))


def _read_after(graph, node) -> bool:
    """Read after the block, directly or through the tuple-field bindings of its result."""
    return any(s == EXTERNAL or (graph.nodes[s]["op"] is None and _read_after(graph, s))
               for s in graph.successors(node))
