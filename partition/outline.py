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

    def rewrite_block(self, block, graph: nx.DiGraph, region_of: dict[int, int]):
        """The block with each region replaced by a call; `last_symbols` maps region -> symbol."""
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
                new_bindings.extend(self._outline(bindings, graph, nodes))
                self.last_symbols[unit[1]] = self.functions[-1][0]
        return relax.DataflowBlock(new_bindings)

    def _outline(self, bindings, graph, nodes: list[int]) -> list:
        inside = set(nodes)
        defined = {bindings[n].var for n in nodes}
        inputs, seen = [], set()
        for n in nodes:
            for var in graph.nodes[n]["reads"]:
                if var not in defined and var not in seen:
                    seen.add(var)
                    inputs.append(var)
        outputs = [bindings[n].var for n in nodes
                   if any(s == EXTERNAL or s not in inside for s in graph.successors(n))]
        symbol = f"{CODEGEN}_{len(self.functions)}"
        func = self._make_function(symbol, [bindings[n] for n in nodes], inputs, outputs)
        gvar = self.builder.add_func(func, symbol)
        self.functions.append((symbol, gvar))
        call = relax.Call(gvar, list(inputs))
        if len(outputs) == 1:
            return [relax.VarBinding(outputs[0], self.builder.normalize(call))]
        tuple_var = relax.DataflowVar(f"{symbol}_out", relax.TupleType([v.ty for v in outputs]))
        result = [relax.VarBinding(tuple_var, self.builder.normalize(call))]
        result += [relax.VarBinding(v, relax.TupleGetItem(tuple_var, i)) for i, v in enumerate(outputs)]
        return result

    def _make_function(self, symbol, region_bindings, inputs, outputs) -> relax.Function:
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
