"""Turn regions of a dataflow block into global functions marked for TensorRT.

The caller keeps its original Vars: a region's call rebinds the vars it defines, so nothing
outside the region needs rewriting. Regions are emitted in a topological order of the
contracted graph, which exists because region formation never creates a cycle.
"""

from __future__ import annotations

import networkx as nx
from tvm import relax

from .checks import listed
from .graph import EXTERNAL, retyped, substitute

CODEGEN = "tensorrt"
CONFIG_ATTR = "tensorrt_config"  # the partition config as JSON, on every outlined function


class RegionOutliner:
    """Collects outlined functions across blocks so symbols number in order of first use."""

    def __init__(self, builder: relax.BlockBuilder):
        self.builder = builder
        self.functions: list[tuple[str, relax.GlobalVar]] = []

    def rewrite_block(self, block, graph: nx.DiGraph, region_of: dict[int, int], made: dict | None = None):
        """The block with each region replaced by a call; `last_symbols` maps region -> symbol.
        made: {frozenset of a region's nodes: region_function's answer} already built for this
        graph (the conversion check's), used instead of building the function again."""
        bindings = listed(block.bindings)
        members: dict[int, list[int]] = {}
        for node, region in region_of.items():
            members.setdefault(region, []).append(node)
        unit_of = {n: ("r", region_of[n]) if n in region_of else ("n", n)
                   for n in graph.nodes if n != EXTERNAL}
        contracted = nx.DiGraph()
        contracted.add_nodes_from(set(unit_of.values()))
        for a, b in graph.edges:
            if b != EXTERNAL and unit_of[a] != unit_of[b]:
                contracted.add_edge(unit_of[a], unit_of[b])
        first_index = {}
        for n, unit in unit_of.items():
            first_index[unit] = min(first_index.get(unit, n), n)
        new_bindings = []
        self.last_symbols = {}
        for unit in nx.lexicographical_topological_sort(contracted, key=lambda u: first_index[u]):
            if unit[0] == "n":
                new_bindings.append(bindings[unit[1]])
            else:
                nodes = sorted(members[unit[1]])
                new_bindings.extend(self._outline(graph, nodes, (made or {}).get(frozenset(nodes))))
                self.last_symbols[unit[1]] = self.functions[-1][0]
        return relax.DataflowBlock(new_bindings)

    def _outline(self, graph, nodes: list[int], made=None) -> list:
        symbol = f"{CODEGEN}_{len(self.functions)}"
        if made is None:
            func, inputs, outputs = region_function(graph, nodes, symbol)
        else:
            func, inputs, outputs = made
            func = func.with_attr("global_symbol", symbol)
        gvar = self.builder.add_func(func, symbol)
        self.functions.append((symbol, gvar))
        call = relax.Call(gvar, list(inputs))
        if len(outputs) == 1:
            return [relax.VarBinding(outputs[0], self.builder.normalize(call))]
        tuple_var = relax.DataflowVar(f"{symbol}_out", relax.TupleType([v.ty for v in outputs]))
        result = [relax.VarBinding(tuple_var, self.builder.normalize(call))]
        result += [relax.VarBinding(v, relax.TupleGetItem(tuple_var, i)) for i, v in enumerate(outputs)]
        return result


def region_function(graph, nodes: list[int], symbol: str) -> tuple:
    """(the function `symbol` a region of `graph` becomes, the vars it reads, the vars it defines
    that are read outside it). The conversion check (conversion.py) converts the same function
    before the region is outlined."""
    inside = set(nodes)
    region_bindings = [graph.nodes[n]["binding"] for n in nodes]
    defined = {b.var for b in region_bindings}
    inputs, seen = [], set()
    for n in nodes:
        for var in graph.nodes[n]["reads"]:
            if var not in defined and var not in seen:
                seen.add(var)
                inputs.append(var)
    outputs = [graph.nodes[n]["binding"].var for n in nodes
               if any(s == EXTERNAL or s not in inside for s in graph.successors(n))]
    return _make_function(symbol, region_bindings, inputs, outputs), inputs, outputs


def _make_function(symbol, region_bindings, inputs, outputs) -> relax.Function:
    mapping = {v: relax.Var(v.name, v.ty) for v in inputs}
    params = [mapping[v] for v in inputs]
    new = []
    for b in region_bindings:
        var = relax.DataflowVar(b.var.name, b.var.ty)
        if isinstance(b, relax.MatchCast):  # a check of sizes (graph.py): kept as it is
            new.append(relax.MatchCast(var, substitute(b.value, mapping), b.ty))
        else:
            new.append(relax.VarBinding(var, retyped(substitute(b.value, mapping), b.value.ty)))  # vars for vars
        mapping[b.var] = var
    results = [mapping[v] for v in outputs]
    ret = results[0] if len(results) == 1 else relax.Tuple(results)
    # a function must return a non-dataflow var: bind the result once more outside dataflow
    out_var = relax.Var("out", results[0].ty if len(results) == 1 else relax.TupleType([r.ty for r in results]))
    body = relax.SeqExpr([relax.DataflowBlock(new + [relax.VarBinding(out_var, ret)])], out_var)
    func = relax.Function(params, body, out_var.ty, is_pure=True)
    return func.with_attrs({"Codegen": CODEGEN, "global_symbol": symbol})
