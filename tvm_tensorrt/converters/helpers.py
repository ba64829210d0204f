"""Small building blocks shared by converters (the impl/ layer, in Torch-TensorRT's terms)."""

from __future__ import annotations

import numpy as np

from ..errors import ConversionError


def tensor_of(params, index: int):
    """Input `index` as an ITensor, materialising a constant weight when needed."""
    item = params.inputs[index]
    if item.tensor is not None:
        return item.tensor
    return params.constant(item.weight)


def weight_of(params, index: int) -> np.ndarray:
    item = params.inputs[index]
    if item.weight is None:
        raise ConversionError(f"input {index} must be a constant weight; the rule should have rejected this call",
                              op_name=params.op_name)
    return item.weight


def reshape(params, tensor, shape):
    layer = params.network.add_shuffle(tensor)
    layer.reshape_dims = tuple(int(d) for d in shape)
    return layer.get_output(0)


def lift_to_rank(params, tensor, shape, rank: int):
    """Prepend unit dims so element-wise layers can broadcast (they need equal ranks)."""
    if len(shape) == rank:
        return tensor
    return reshape(params, tensor, (1,) * (rank - len(shape)) + tuple(shape))


def axes_mask(axes, rank: int) -> int:
    mask = 0
    for axis in axes:
        mask |= 1 << (axis + rank if axis < 0 else axis)
    return mask


def pairs(values, n: int) -> tuple:
    """Relax gives 2D pads as (top, left, bottom, right): split into pre and post paddings."""
    values = list(values)
    if len(values) == n:
        values = values * 2
    return tuple(values[:n]), tuple(values[n:2 * n])
