"""Small building blocks shared by converters (the impl/ layer, in Torch-TensorRT's terms)."""

from __future__ import annotations

import numpy as np

from tvm_tensorrt.common import normalise_axis  # noqa: F401  (converters import it from here with the other helpers)
from tvm_tensorrt.errors import ConversionError
from .reshape_dims import constant_runs, plan_reshape


def tensor_of(params, index: int):
    """Input `index` as an ITensor, materialising a constant weight when needed."""
    item = params.inputs[index]
    if item.tensor is not None:
        return item.tensor
    return params.constant(item.weight)


def lifted(params, index: int, rank: int):
    """Input `index` at `rank` (unit dims prepended, for broadcasting layers); a constant is
    reshaped as an array, so it costs one constant layer and no shuffle."""
    item = params.inputs[index]
    if item.weight is not None:
        return params.constant(np.asarray(item.weight).reshape((1,) * (rank - item.weight.ndim) + item.weight.shape))
    return lift_to_rank(params, item.tensor, item.shape, rank, item.dims)


def weight_of(params, index: int) -> np.ndarray:
    item = params.inputs[index]
    if item.weight is None:
        raise ConversionError(f"input {index} must be a constant weight; the rule should have rejected this call",
                              op_name=params.op_name)
    return item.weight


def reshape(params, tensor, dims, in_dims=None):
    """Reshape to `dims` (ints, or formats.dims data for symbolic ones). Symbolic dims equal to
    `in_dims`' (the input's dims) at the same position are copied (0), one other is inferred
    (-1); only the rest are computed at run time (converters/reshape_dims.py)."""
    layer = params.network.add_shuffle(tensor)
    entries, placeholder = plan_reshape(dims, in_dims)
    if all(isinstance(e, int) for e in entries):
        layer.reshape_dims = tuple(entries)
    else:
        layer.set_input(1, shape_tensor(params, entries))
    layer.zero_is_placeholder = placeholder  # else a static 0 is an empty dim
    return layer.get_output(0)


def shape_tensor(params, dims):
    """A 1-D INT64 shape tensor for `dims`, computing symbolic dims from the shape variables;
    each run of static dims is one constant."""
    parts = [params.constant(np.array(value, dtype=np.int64)) if kind == "constant" else dim_tensor(params, value)
             for kind, value in constant_runs(dims)]
    if len(parts) == 1:
        return parts[0]
    return params.network.add_concatenation(parts).get_output(0)


DIM_OPERATIONS = {"add": "SUM", "sub": "SUB", "mul": "PROD", "floordiv": "FLOOR_DIV", "max": "MAX", "min": "MIN"}


def dim_tensor(params, dim):
    """A 1-element INT64 tensor holding one dimension (formats.dims data) at run time."""
    if isinstance(dim, int):
        return params.constant(np.array([dim], dtype=np.int64))
    if isinstance(dim, str):
        return params.shape_var(dim)
    op, a, b = dim
    lhs, rhs = dim_tensor(params, a), dim_tensor(params, b)
    ops = params.trt.ElementWiseOperation
    if op == "floormod":  # a - floor(a / b) * b
        quotient = params.network.add_elementwise(lhs, rhs, ops.FLOOR_DIV).get_output(0)
        product = params.network.add_elementwise(quotient, rhs, ops.PROD).get_output(0)
        return params.network.add_elementwise(lhs, product, ops.SUB).get_output(0)
    return params.network.add_elementwise(lhs, rhs, getattr(ops, DIM_OPERATIONS[op])).get_output(0)


def lift_to_rank(params, tensor, shape, rank: int, dims=None):
    """Prepend unit dims so element-wise layers can broadcast (they need equal ranks).
    `dims`: the input's dims when it has symbolic ones."""
    if len(shape) == rank:
        return tensor
    return reshape(params, tensor, (1,) * (rank - len(shape)) + tuple(dims or shape))


def axes_mask(axes, rank: int) -> int:
    mask = 0
    for axis in axes:
        mask |= 1 << normalise_axis(axis, rank)
    return mask


def pairs(values, n: int) -> tuple:
    """Relax gives N-D pads as (begin_0..begin_n-1, end_0..end_n-1): split into pre and post
    paddings (a list of n values pads both sides alike)."""
    values = list(values)
    if len(values) == n:
        values = values * 2
    return tuple(values[:n]), tuple(values[n:2 * n])


def scalar_constant(params, value: float, dtype: str, rank: int = 0):
    """A one-element constant in the network's dtype for `dtype` (fill values, bounds), with
    `rank` unit dims so element-wise and select layers can broadcast it."""
    array = np.full((1,) * rank, value, dtype=params.compute_dtype if dtype in ("float32", "float16") else dtype)
    return params.constant(array)


def slice_layer(params, tensor, start, size, stride, mode=None, out_dims=None):
    """An ISliceLayer; `mode` is a trt.SampleMode member name (FILL, REFLECT, CLAMP, WRAP).

    A -1 in `size` is a symbolic dim: its size is `out_dims`' (the output's formats.dims) when
    given, else that dim of `tensor`'s runtime shape (an axis the slice keeps whole)."""
    size = [int(v) for v in size]
    symbolic_start = any(not isinstance(v, int) for v in start)  # formats.dims data: computed at run time
    layer = params.network.add_slice(tensor, tuple(0 if symbolic_start else int(v) for v in start),
                                     tuple(max(v, 0) for v in size), tuple(int(v) for v in stride))
    if symbolic_start:
        layer.set_input(1, shape_tensor(params, start))
    if any(v < 0 for v in size):
        layer.set_input(2, shape_tensor(params, out_dims) if out_dims else runtime_size(params, tensor, size))
    if mode is not None:
        layer.mode = getattr(params.trt.SampleMode, mode)
    return layer


def runtime_size(params, tensor, size):
    """A shape tensor: `size` with each -1 replaced by that dim of `tensor` at run time."""
    network, trt = params.network, params.trt
    shape = network.add_shape(tensor).get_output(0)
    dtype = np.int64 if shape.dtype == trt.int64 else np.int32
    static = tuple(tensor.shape)
    if all(v < 0 or static[k] >= 0 for k, v in enumerate(size)):  # the shape less what the slice leaves out
        less = params.constant(np.array([0 if v < 0 else static[k] - v for k, v in enumerate(size)], dtype=dtype))
        return network.add_elementwise(shape, less, trt.ElementWiseOperation.SUB).get_output(0)
    keep = params.constant(np.array([1 if v < 0 else 0 for v in size], dtype=dtype))
    fixed = params.constant(np.array([max(v, 0) for v in size], dtype=dtype))
    taken = network.add_elementwise(shape, keep, trt.ElementWiseOperation.PROD).get_output(0)
    return network.add_elementwise(taken, fixed, trt.ElementWiseOperation.SUM).get_output(0)


def lifted_inputs(params) -> list:
    """Every input at the highest input rank: element-wise and select layers broadcast only
    between equal ranks, where numpy prepends unit dims."""
    rank = max(len(item.shape) for item in params.inputs)
    return [lifted(params, i, rank) for i in range(len(params.inputs))]


def elementwise(params, lhs, rhs, operation: str):
    """`operation`: a trt.ElementWiseOperation member name."""
    return params.network.add_elementwise(lhs, rhs, getattr(params.trt.ElementWiseOperation, operation)).get_output(0)


def unary(params, tensor, operation: str):
    """`operation`: a trt.UnaryOperation member name."""
    return params.network.add_unary(tensor, getattr(params.trt.UnaryOperation, operation)).get_output(0)


def cast_to(params, tensor, dtype: str):
    """`tensor` in the Relax dtype `dtype` (a cast layer unless it already is): TensorRT's topk
    indices are INT32 and its sizes INT64, whatever dtype Relax asked for."""
    from .network import trt_dtype

    target = trt_dtype(params.trt, dtype)
    if tensor.dtype == target:
        return tensor
    return params.network.add_cast(tensor, target).get_output(0)
