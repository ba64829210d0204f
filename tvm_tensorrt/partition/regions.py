"""Greedy region formation that never creates a cycle, in near-linear time.

Nodes are visited in topological order. A supported node joins the regions of its supported
predecessors when that cannot close a cycle through code that stays outside: a cycle appears
exactly when some candidate region reaches the node (or another candidate) through a node outside
the merged set. Each node carries `anc`: the regions it depends on. Regions whose consumers have
all been visited can never be candidates again and are dropped from those sets, which keeps them
small on real graphs (TVM's own partitioner grows quadratically for lack of this).
"""

from __future__ import annotations

import networkx as nx

from .graph import EXTERNAL


class _Regions:
    def __init__(self):
        self.parent: dict[int, int] = {}
        self.ext: dict[int, set] = {}  # regions reached through outside nodes
        self.pending: dict[int, int] = {}  # consumer edges not yet visited

    def find(self, r: int) -> int:
        root = r
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[r] != root:
            self.parent[r], r = root, self.parent[r]
        return root

    def live(self, regions) -> set:
        """Canonical ids of the regions that can still be joined."""
        out = set()
        for r in regions:
            root = self.find(r)
            if self.pending[root] > 0:
                out.add(root)
        return out

    def new(self, r: int) -> int:
        self.parent[r] = r
        self.ext[r] = set()
        self.pending[r] = 0
        return r

    def union(self, keep: int, other: int) -> None:
        self.parent[other] = keep
        self.ext[keep] |= self.ext.pop(other)
        self.pending[keep] += self.pending.pop(other)


def form_regions(graph: nx.DiGraph) -> dict[int, int]:
    """Map each offloadable node to a region id (ids are arbitrary but equal within a region)."""
    regions = _Regions()
    region_of: dict[int, int] = {}
    anc: dict[int, set] = {}
    order = sorted(n for n in graph.nodes if n != EXTERNAL)
    for node in order:
        data = graph.nodes[node]
        preds = list(graph.predecessors(node))
        _visit(graph, regions, region_of, anc, node, preds)
        for p in preds:  # only now are these edges visited: their regions stayed candidates above
            if p in region_of:
                regions.pending[regions.find(region_of[p])] -= 1
    return {n: regions.find(r) for n, r in region_of.items()}


def _visit(graph, regions: _Regions, region_of, anc, node, preds) -> None:
    data = graph.nodes[node]
    if data["reason"] is not None:
        anc[node] = regions.live(r for p in preds for r in anc[p])
        return
    if data["follows"] is not None:  # a tuple field stays with the op that made the tuple
        chosen = {regions.find(region_of[data["follows"]])}
    else:
        chosen = _mergeable(regions, region_of, anc, preds)
    region = _join(regions, chosen, node)
    region_of[node] = region
    for p in preds:
        if p not in region_of or regions.find(region_of[p]) != region:
            regions.ext[region] |= anc[p]
    regions.ext[region] = regions.live(regions.ext[region]) - {region}
    regions.pending[region] += sum(1 for s in graph.successors(node) if s != EXTERNAL)
    anc[node] = {region} | regions.ext[region]


def _mergeable(regions: _Regions, region_of, anc, preds) -> set:
    """The largest set of predecessor regions the node can join without a cycle (greedy)."""
    candidates = sorted({regions.find(region_of[p]) for p in preds if p in region_of})
    chosen: set = set()
    for cand in candidates:
        trial = chosen | {cand}
        if _acyclic(regions, region_of, anc, preds, trial):
            chosen = trial
    return chosen


def _acyclic(regions: _Regions, region_of, anc, preds, group: set) -> bool:
    for p in preds:
        inside = p in region_of and regions.find(region_of[p]) in group
        if not inside and regions.live(anc[p]) & group:
            return False
    return all(not (regions.live(regions.ext[r]) & group) for r in group)


def _join(regions: _Regions, chosen: set, node: int) -> int:
    if not chosen:
        return regions.new(node)
    keep, *others = sorted(chosen)
    for other in others:
        regions.union(keep, other)
    return keep
