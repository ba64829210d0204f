"""Subgraphs that only move data stay in TVM when asked (remove_no_compute_subgraphs=True; the
CLI's default, --keep-no-compute-subgraphs turns it off).

A region whose every call reshapes, casts, transposes, slices, gathers or concatenates does no
arithmetic a TensorRT engine could speed up; as an engine of its own it adds a boundary (its
inputs and outputs copied through bindings, one more engine to build and cache) for nothing. A
lone `astype` between two TVM ops was the case that showed it. Such ops inside a region with
arithmetic stay offloaded: there they save TVM the kernels between TensorRT layers.
"""

from __future__ import annotations

# Relax ops (without "relax.") whose results are their inputs' values rearranged or converted.
# A plugin's op is counted as compute: pruning it by default would be a guess.
DATA_MOVEMENT_OPS = frozenset({
    "astype", "reshape", "flatten", "nn.batch_flatten", "permute_dims", "layout_transform", "expand_dims",
    "squeeze", "concat", "split", "strided_slice", "broadcast_to", "tile", "nn.pad", "nn.dropout", "take",
    "gather_elements", "gather_nd",
})

REASON = ("its subgraph only moves or converts data ({ops}), no arithmetic for TensorRT to speed up "
          "(remove_no_compute_subgraphs=False offloads it)")


def drop_data_movement_regions(graph, region_of: dict) -> dict:
    """region_of without the regions whose calls are all DATA_MOVEMENT_OPS; their calls get the
    reason explain() shows. Dropping whole regions leaves the others as they were (no cycle)."""
    ops: dict = {}
    for node, region in region_of.items():
        op = graph.nodes[node]["op"]
        if op is not None:  # tuple fields and aliases are no calls of their own
            ops.setdefault(region, set()).add(op)
    dropped = {region for region, names in ops.items() if names <= DATA_MOVEMENT_OPS}
    for node, region in region_of.items():
        if region in dropped:
            graph.nodes[node]["reason"] = REASON.format(ops=", ".join(sorted(ops[region])))
    return {n: r for n, r in region_of.items() if r not in dropped}
