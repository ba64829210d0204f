"""Reshape targets with symbolic dims, written so TensorRT needs as little shape arithmetic as it can.

A reshape whose target has two or more symbolic dims cannot be static `reshape_dims` as such:
each symbolic dim would be computed at run time (shape, gather, the dims expression's element-wise
layers, constants, a concatenation: 4 to 16 layers per reshape in a UNet exported with symbolic
height and width). Most of those dims need no arithmetic:

- a target dim proven equal to the input's dim at the same position (the same formats.dims data:
  the same expression of the same shape variables) is TensorRT's placeholder 0, "copy the input's
  dim" (IShuffleLayer.zero_is_placeholder, as ONNX Reshape's 0);
- one remaining symbolic dim is -1, inferred from the volume (Relax computed the target's shape,
  so the volumes agree);
- only the others are computed; their constant neighbours are one constant layer.

So (batch, S, 8) -> (batch, S, 2, 4) is the static (0, 0, 2, 4), one shuffle layer.
"""

from __future__ import annotations


def is_static(dim) -> bool:
    return isinstance(dim, int) and dim >= 0


def _size(dim) -> int:
    """How many nodes a dims expression has (what computing it costs)."""
    return 1 if isinstance(dim, (int, str)) else 1 + _size(dim[1]) + _size(dim[2])


def plan_reshape(out_dims, in_dims=None):
    """(entries, placeholder): each entry an int for the reshape dims (a static dim, 0 copying the
    input's dim when `placeholder`, -1 inferred) or the dims data of a dim to compute at run time.
    `in_dims`: the input's dims (formats.dims data), when known."""
    out_dims = list(out_dims)
    symbolic = [k for k, d in enumerate(out_dims) if not is_static(d)]
    if len(symbolic) <= 1:  # static, with -1 for the one symbolic dim
        return [d if is_static(d) else -1 for d in out_dims], False
    same = []
    # a static 0 (an empty tensor) would read as "copy" beside placeholders: then use none
    if in_dims is not None and 0 not in out_dims:
        same = [k for k in symbolic if k < len(in_dims) and _equal(in_dims[k], out_dims[k])]
    rest = [k for k in symbolic if k not in same]
    inferred = max(rest, key=lambda k: _size(out_dims[k])) if rest else None
    entries = []
    for k, d in enumerate(out_dims):
        if k in same:
            entries.append(0)
        elif k == inferred:
            entries.append(-1)
        else:
            entries.append(d)
    return entries, bool(same)


def _equal(a, b) -> bool:
    return not is_static(a) and a == b


def shape_tensor_cost(entries) -> int:
    """Layers a shape tensor of `entries` costs, shape variables (read once per subgraph) free."""
    pieces = constant_runs(entries)
    computed = sum(_size(value) // 2 * 2 for kind, value in pieces if kind == "dim")  # an operation and a constant
    return len(pieces) - sum(kind == "dim" for kind, _ in pieces) + computed + (len(pieces) > 1)


def constant_runs(entries):
    """The entries as pieces of a shape tensor: ("constant", [ints]) for each run of ints (one
    constant layer each), ("dim", dims data) for each dim computed at run time."""
    pieces = []
    for entry in entries:
        if isinstance(entry, int):
            if pieces and pieces[-1][0] == "constant":
                pieces[-1][1].append(entry)
            else:
                pieces.append(("constant", [entry]))
        else:
            pieces.append(("dim", entry))
    return pieces
