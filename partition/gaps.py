"""Operators TVM's importers write that no TensorRT subgraph can take, whatever the rules: the
reason explain() gives for them instead of "no TensorRT rule is registered", so a user reading
a report learns what stands in the way (docs/converters.md, "Layers not used, and why").
"""

from __future__ import annotations

from typing import Optional

GAPS = {
    # TVM imports ONNX NonMaxSuppression as this op; its struct info (B*C*N, 3) is an upper bound
    # (legalized, it is a padded result, a count and a dynamic_strided_slice to the count).
    "vision.all_class_non_max_suppression": (
        "its result has a data-dependent number of rows (TVM declares (B*C*N, 3) and slices to the "
        "selected count at run time), and a TensorRT subgraph returns tensors whose shapes are known "
        "when it is called; TensorRT's NMS layer is not used (docs/converters.md)"),
}


def gap_reason(name: str) -> Optional[str]:
    """Why `name` (a Relax op name without `relax.`) can never be offloaded, if it is a known gap."""
    return GAPS.get(name)
