"""Greedy region formation that never creates a cycle, in near-linear time on real graphs.

Nodes are visited in topological order and kept in a contracted graph whose units are regions
(merged nodes) and single nodes. A supported node joins the regions of its supported
predecessors unless that closes a cycle: a cycle appears exactly when a candidate region already
reaches the node (or another candidate) through some unit outside the merged set. A forward
search from the candidates finds that; it covers only what already lies downstream of them,
which on real models is nothing or a few recent units, so partitioning grows about linearly
(TVM's own partitioner grows quadratically).

Implicit batch mode: every offloaded op keeps dim 0 (checks.check_batch_dim), so a subgraph's
inputs agree on the batch size exactly when its ops do. Each region therefore carries one batch
key, and a node joins only candidate regions with its own key, or with none (static ops the
batch limits do not bind, such as the dequantize of int8 weights, join the batched op that
reads them; the merged region takes the node's key): a node whose inputs come from regions of
another batch size starts a region of its own instead. This costs O(1) per merge.
"""

from __future__ import annotations

import networkx as nx

from .graph import EXTERNAL


class _Contracted:
    def __init__(self):
        self.parent: dict[int, int] = {}
        self.succ: dict[int, set] = {}  # unit -> node ids consuming its values (canonicalise with find)
        self.regions: set[int] = set()

    def find(self, n: int) -> int:
        root = n
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[n] != root:
            self.parent[n], n = root, self.parent[n]
        return root

    def add(self, node: int, preds) -> None:
        self.parent[node] = node
        self.succ[node] = set()
        for p in preds:
            self.succ[self.find(p)].add(node)

    def successors(self, unit: int) -> set:
        found = {self.find(s) for s in self.succ[unit]}
        found.discard(unit)
        self.succ[unit] = found  # kept canonical: edges now inside the unit are not walked again
        return found

    def closes_cycle(self, group: set, node: int, preds: set) -> bool:
        """Does some unit outside `group` lie on a path from the group to `node` (one of its
        `preds`) or back into the group? Edges into `node` itself are the merge, not a path."""
        seen: set = set()
        stack = [s for q in group for s in self.successors(q) if s not in group and s != node]
        while stack:
            unit = stack.pop()
            if unit in seen:
                continue
            if unit in preds or unit in group:
                return True
            seen.add(unit)
            stack.extend(s for s in self.successors(unit) if s != node)
        return False

    def merge(self, group: set, node: int) -> None:
        for unit in group:
            self.parent[unit] = node
            self.succ[node] |= self.succ.pop(unit)
            self.regions.discard(unit)
        self.regions.add(node)


def form_regions(graph: nx.DiGraph) -> dict[int, int]:
    """Map each offloadable node to a region id (ids are arbitrary but equal within a region)."""
    contracted = _Contracted()
    for node in sorted(n for n in graph.nodes if n != EXTERNAL):
        data = graph.nodes[node]
        preds = list(graph.predecessors(node))
        contracted.add(node, preds)
        if data["reason"] is not None:
            continue
        pred_units = {contracted.find(p) for p in preds}
        if data["follows"] is not None:  # a tuple field stays with the op that made the tuple
            candidates = [contracted.find(data["follows"])]
        else:
            batch = data.get("batch")  # a batchless region (static ops among batched ones) joins any batch
            candidates = sorted(u for u in pred_units if u in contracted.regions
                                and graph.nodes[u].get("batch") in (batch, None))
        group: set = set()
        for cand in candidates:
            trial = group | {cand}
            if not contracted.closes_cycle(trial, node, pred_units - trial):
                group = trial
        contracted.merge(group, node)
    return {n: contracted.find(n) for n in graph.nodes if n != EXTERNAL and graph.nodes[n]["reason"] is None}
