"""The dataflow graph of one Relax dataflow block, as a networkx DiGraph over binding indices.

Node attributes: `binding` (the relax VarBinding), `op` (Relax op name or None), `reason`
(None when TensorRT can take it), `follows` (index of the producer a TupleGetItem must stay with),
`batch` (implicit-batch mode: the node's batch size, dim 0, which every op of its subgraph shares;
None in explicit mode), `macs` (its multiply-accumulates, for pruning and reports) and `reads`
(used_vars of its value, found once: every later stage asks again).
An extra sink node EXTERNAL stands for every use outside the block, so outputs are edges too.
"""

from __future__ import annotations

import networkx as nx
import tvm
from tvm import relax

from .checks import (batch_key, check_batch_dim, check_call_tensors, config_for_call, explicit_mode_reason,
                     implicit_batch, judging, limits_apply, listed, output_types, static_type)
from .gaps import gap_reason
from .registry import RELAX_PREFIX, count_macs, gate_reason, get_rule, run_rule

EXTERNAL = -1


def used_vars(expr) -> list:
    """Relax vars read by a binding's value, in first-use order. Symbolic shape vars (a dynamic
    batch `n` in a reshape's target shape) are not values: TVM 0.27 gives them the same Var
    class, so they are told apart by their PrimType and left out; the shapes of the tensors a
    region reads define them."""
    return [v for v in listed(relax.analysis.free_vars(expr)) if not isinstance(v.ty, tvm.ir.PrimType)]


def substitute(expr, mapping: dict):
    """Copy an operator-call value, replacing vars through `mapping` (values hold no functions)."""
    if isinstance(expr, relax.Var):
        return mapping.get(expr, expr)
    if isinstance(expr, relax.Tuple):
        return relax.Tuple([substitute(f, mapping) for f in expr.fields])
    if isinstance(expr, relax.TupleGetItem):
        return relax.TupleGetItem(substitute(expr.tuple_value, mapping), expr.index)
    if isinstance(expr, relax.Call):
        return relax.Call(expr.op, [substitute(a, mapping) for a in expr.args], expr.attrs, expr.ty_args)
    return expr


def retyped(expr, ty):
    """`expr` given the type `ty` without re-inferring it. For a call rebuilt over arguments of
    the types it had (vars renamed, a weight replaced by one of its shape), inference would give
    `ty` again: normalizing costs up to 0.7 ms a call (a conv2d's shape arithmetic), 0.04 s a
    pass over ResNet-50."""
    if type(expr.ty) is tvm.ir.Type:  # missing (a new call); vars, tuples and constants come typed
        relax.expr._update_type(expr, ty)
    return expr


def op_name(call) -> str | None:
    if isinstance(call, relax.Call) and isinstance(call.op, tvm.ir.Op):
        name = call.op.name
        return name[len(RELAX_PREFIX):] if name.startswith(RELAX_PREFIX) else name
    return None


def support_reason(call, config: dict) -> str | None:
    """Why TensorRT cannot take this call, or None. Order: registry, exclusion, version gate,
    dtypes and shapes, the rule, and last the generic implicit-batch check (a rule names the
    batch problem more precisely, e.g. "softmax axis 0"). The checks see the batch mode that
    binds this call (checks.config_for_call)."""
    name = op_name(call)
    if name is None:
        return "not an operator call"
    rule = get_rule(name)
    if rule is None:
        return gap_reason(name) or f"no TensorRT rule is registered for {RELAX_PREFIX}{name}"
    if name in config.get("ops_to_exclude", ()):
        return f"{RELAX_PREFIX}{name} is in ops_to_exclude"
    effective = config_for_call(call, config, rule.dynamic)
    reason = (gate_reason(rule, effective) or check_call_tensors(call, effective, rule.dtypes, rule.dynamic)
              or run_rule(rule, call, effective) or check_batch_dim(call, effective))
    return explicit_mode_reason(reason) if reason and not implicit_batch(config) else reason


def build_block_graph(block, config: dict, outside_uses: set) -> nx.DiGraph:
    """`outside_uses`: vars of this block read after it (by later blocks or the return)."""
    graph = nx.DiGraph()
    graph.add_node(EXTERNAL, op=None, reason="uses outside the block", follows=None, binding=None, batch=None,
                   macs=0, reads=[])
    defined_at: dict = {}
    bindings = listed(block.bindings)
    values = {b.var: b.value for b in bindings if isinstance(b, relax.VarBinding)}
    reads_of = [used_vars(b.value) for b in bindings]
    static = all(static_type(b.var.ty) for b in bindings) and \
        all(static_type(v.ty) for reads in reads_of for v in reads if v not in values)
    with judging(values, static):
        for index, binding in enumerate(bindings):
            _add_binding(graph, index, binding, reads_of[index], defined_at, config)
    for var in outside_uses:
        if var in defined_at:
            graph.add_edge(defined_at[var], EXTERNAL)
    _keep_tuples_inside(graph)
    return graph


def _add_binding(graph: nx.DiGraph, index: int, binding, reads: list, defined_at: dict, config: dict) -> None:
    value = binding.value
    attrs = {"binding": binding, "op": op_name(value), "follows": None, "batch": None, "macs": 0, "reads": reads}
    if isinstance(binding, relax.VarBinding) and isinstance(value, relax.Call):
        attrs["reason"] = support_reason(value, config)
        if attrs["op"] is not None:
            attrs["macs"] = count_macs(get_rule(attrs["op"]), value)
        if implicit_batch(config) and limits_apply(value, config):  # one batch size per subgraph
            attrs["batch"] = batch_key(output_types(value)[0])
    elif isinstance(binding, relax.MatchCast) and isinstance(value, relax.Var) \
            and isinstance(binding.ty, relax.TensorType) and isinstance(value.ty, relax.TensorType):
        # The importer's check that two sizes it cannot prove equal are (a U-Net's skip concat):
        # an alias inside a subgraph, so it does not cut the graph in two. TensorRT computes the
        # real sizes (its concat refuses unequal ones), TVM's copy of the subgraph keeps the check.
        attrs["reason"] = None
    elif isinstance(binding, relax.VarBinding) and isinstance(value, relax.TupleGetItem) \
            and value.tuple_value in defined_at:
        attrs["follows"] = defined_at[value.tuple_value]
        attrs["reason"] = None
        attrs["batch"] = graph.nodes[attrs["follows"]]["batch"]
    else:
        attrs["reason"] = f"{type(value).__name__} bindings stay in TVM"
    graph.add_node(index, **attrs)
    for var in reads:
        if var in defined_at:
            graph.add_edge(defined_at[var], index)
    defined_at[binding.var] = index


def _keep_tuples_inside(graph: nx.DiGraph) -> None:
    """A subgraph returns tensors only: a tuple-producing op whose tuple escapes stays in TVM."""
    for node, data in graph.nodes(data=True):
        if node == EXTERNAL or data["reason"] is not None or data["follows"] is not None:
            continue
        if isinstance(data["binding"].var.ty, relax.TupleType):
            if any(graph.nodes[s]["follows"] != node for s in graph.successors(node)):
                data["reason"] = "its tuple result is used whole; only its tensor fields can leave a subgraph"
    for node, data in graph.nodes(data=True):
        follows = data.get("follows")
        if follows is not None and graph.nodes[follows]["reason"] is not None:
            data["reason"] = "it reads a tuple made in TVM"
