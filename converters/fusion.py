"""Peepholes the network builder applies across converters, so a subgraph's network has no more
layers than NVIDIA's parser builds from the same model.

ONNX writes a convolution's bias into the Conv node; TVM's importer splits it into conv2d and
an add of a (1, C, 1, 1) constant. Left as is that is a constant and an element-wise layer per
convolution; folded back, the convolution layer adds the bias itself.

ONNX Gemm's transB reaches a subgraph as permute_dims of the weights, which the partition keeps
unfolded where only matmuls read it (partition/fold.py). Given to each matmul as a transposed
view of the stored weights, it costs no shuffle layer and no copy: the matmul reads the weights
as stored, with MatrixOperation.TRANSPOSE, as NVIDIA's parser builds transB.
"""

from __future__ import annotations

from collections import Counter

CONVOLUTIONS = ("nn.conv1d", "nn.conv2d", "nn.conv3d", "nn.conv2d_transpose", "nn.conv3d_transpose")


def _uses(subgraph) -> Counter:
    """How often each node output is read, by nodes and as a subgraph output."""
    counts = Counter()
    for node in subgraph.nodes:
        counts.update(tuple(ref) for ref in node["inputs"] if ref[0] == "node")
    counts.update(tuple(desc["ref"]) for desc in subgraph.outputs if desc["ref"][0] == "node")
    return counts


def _per_channel(weight_shape, out_shape) -> bool:
    """Does a constant of weight_shape broadcast over out_shape along axis 1 only?"""
    rank = len(out_shape)
    if len(weight_shape) > rank:
        return False
    aligned = (1,) * (rank - len(weight_shape)) + tuple(weight_shape)
    return aligned[1] == out_shape[1] and all(d == 1 for k, d in enumerate(aligned) if k != 1)


def conv_biases(subgraph) -> dict:
    """{convolution node: (add node, weight index)} for each add of a per-channel constant that is
    the only reader of a convolution's output."""
    uses = _uses(subgraph)
    nodes = subgraph.nodes
    found = {}
    for index, node in enumerate(nodes):
        if node["op"] != "add" or len(node["inputs"]) != 2:
            continue
        refs = [tuple(r) for r in node["inputs"]]
        conv = [r for r in refs if r[0] == "node" and nodes[r[1]]["op"] in CONVOLUTIONS and r[2] == 0]
        weight = [r for r in refs if r[0] == "weight"]
        if len(conv) != 1 or len(weight) != 1 or uses[conv[0]] != 1 or conv[0][1] in found:
            continue
        out = nodes[conv[0][1]]["outputs"][0]
        if _per_channel(subgraph.weights[weight[0][1]].shape, out["shape"]) \
                and str(subgraph.weights[weight[0][1]].dtype) == out["dtype"]:
            found[conv[0][1]] = (index, weight[0][1])
    return found


def _swaps_last_two(axes, rank: int) -> bool:
    perm = list(reversed(range(rank))) if axes is None else [a % rank for a in axes]
    return rank >= 2 and perm == list(range(rank - 2)) + [rank - 1, rank - 2]


def transposed_weights(subgraph) -> dict:
    """{permute_dims node: weight index} for each permute_dims of a weight that swaps its last two
    axes and that only matmuls read, as their right operand."""
    nodes = subgraph.nodes
    found = {}
    for index, node in enumerate(nodes):
        refs = node["inputs"]
        if node["op"] == "permute_dims" and len(refs) == 1 and refs[0][0] == "weight" \
                and _swaps_last_two(node["attrs"].get("axes"), subgraph.weights[refs[0][1]].ndim):
            found[index] = refs[0][1]
    if not found:
        return found
    for node in nodes:  # every read must be a matmul's right operand
        for position, ref in enumerate(node["inputs"]):
            if ref[0] == "node" and ref[1] in found and (node["op"] != "matmul" or position != 1):
                del found[ref[1]]
    for desc in subgraph.outputs:
        if desc["ref"][0] == "node":
            found.pop(desc["ref"][1], None)
    return found
