"""Importers for ONNX ops whose values are shapes or sizes computed from symbolic dims (Range,
Slice, Tile, Expand, Concat of shapes, ...): TVM 0.27's importer makes a fresh size variable
or fails where the value is a known expression of the model's named axes.

Exporters trace shape arithmetic (`Shape -> Gather -> Range`, `x[:, :, :-1]`, `repeat(n, 1)`),
so the value is an expression of the input's named axes. Kept as that expression, the next op's
shape is known (`sequence`, `audio_length // 20 - 1`) and TVM's inference, our rules and
TensorRT see the same dims; made a fresh variable (`range_len_0`) or a min/max clamp, two
tensors of the same length no longer broadcast to a known shape and a later Shape fails.
"""

from __future__ import annotations

import inspect
import logging
import re
import textwrap

import numpy as np
import tvm
import tvm.sym
import tvm.tirx.analysis
from tvm import relax, tirx
from tvm.relax.frontend.onnx import onnx_frontend
from tvm.relax.frontend.onnx.onnx_frontend import get_constant

# A Slice end at least this large means "to the end" (exporters write INT64_MAX or INT32_MAX).
_TO_END = 2**31 - 1


def _int_scalar(x):
    """An int scalar as an int or an integer PrimExpr; None if it is neither (a float, a computed
    tensor, several elements)."""
    if isinstance(x, tvm.ir.GenericConst):
        value = x.value.numpy()
        return int(value.item()) if value.size == 1 and value.dtype.kind in "iu" else None
    if tvm.ir.is_prim_expr(x) and _dtype(x).startswith(("int", "uint")):
        return x
    if isinstance(x, relax.ShapeExpr) and len(x.values) == 1:  # a one-element shape: Shape -> Slice
        return x.values[0]
    return None


def _whole_scalar(x):
    """_int_scalar, and also a float that is a whole number: a constant (0.0, 1.0) or a size cast
    to float (exact below 2**24, any real size); None otherwise."""
    if isinstance(x, tvm.ir.GenericConst):
        value = x.value.numpy()
        if value.size == 1 and value.dtype.kind == "f" and float(value.item()).is_integer():
            return int(value.item())
    if tvm.ir.is_prim_expr(x) and type(x).__name__ == "Cast" and _dtype(x).startswith("float") \
            and _dtype(x.value).startswith(("int", "uint")):
        return x.value
    return _int_scalar(x)


def _int_list(x):
    """A 1-D int constant, ShapeExpr or PrimExpr as a list of ints / PrimExprs; None otherwise."""
    if isinstance(x, tvm.ir.GenericConst):
        value = x.value.numpy()
        return [int(v) for v in value.reshape(-1)] if value.ndim <= 1 and value.dtype.kind in "iu" else None
    if isinstance(x, relax.ShapeExpr):
        return [int(v) if isinstance(v, tirx.IntImm) else v for v in x.values]
    if tvm.ir.is_prim_expr(x):
        return [int(x) if isinstance(x, tirx.IntImm) else x]
    return None


def _dtype(x) -> str:
    return str(x.ty)  # a PrimExpr's dtype (TVM 0.27 keeps it as its type)


def _is_int(v) -> bool:
    return isinstance(v, int) or isinstance(v, tirx.IntImm)


def _sizes_analyzer(*exprs, least: int = 0):
    """An Analyzer that knows every variable in `exprs` is >= `least`: each is a tensor's dim (a
    named axis or a data-dependent length), and without it `(2 * n) // n` or `max(d - 1, 0)`
    stay."""
    analyzer = tvm.sym.Analyzer()
    for expr in exprs:
        for var in tvm.tirx.analysis.undefined_vars(expr) if tvm.ir.is_prim_expr(expr) else ():
            analyzer.update(var, tvm.sym.ConstIntBound(least, tvm.sym.ConstIntBound.POS_INF))
    return analyzer


def _clamped(v: int, dim):
    """A constant Slice bound on a symbolic dim as ONNX clamps it: counted from the end if
    negative, then into [0, dim]; INT32_MAX or more (exporters write INT64_MAX) is the end."""
    if v >= _TO_END:
        return dim
    v = dim + v if v < 0 else tirx.IntImm("int64", v)
    return tirx.max(tirx.min(v, dim), tirx.IntImm("int64", 0))


def _simplified(v):
    v = tirx.IntImm("int64", v) if isinstance(v, int) else v
    v = _sizes_analyzer(v).simplify(v)
    return int(v) if isinstance(v, tirx.IntImm) else v


class RangeOfExpressions(onnx_frontend.Range):
    """`Range(0, seq_len, 1)` with seq_len read from a Shape: TVM's importer computes the count
    as a tensor and makes it a fresh variable `range_len_0`, so rotary embeddings' `positions *
    inv_freq` no longer broadcast with `sequence` and a later Shape -> Gather fails.
    `relax.op.arange` with PrimExpr bounds is typed with the length as an expression (arange(0,
    n, 1) has length n). The dtype is the start's, as ONNX says all three share it. A float Range
    over whole numbers (a detector's grid: `arange(float(w))`) is the int one cast: the same
    values, with a length TVM can name."""

    @classmethod
    def _impl_v11(cls, bb, inputs, attr, params):
        scalars = [_whole_scalar(get_constant(x, params)) for x in inputs[:3]]
        if any(s is None for s in scalars) or all(isinstance(s, int) for s in scalars) \
                or not isinstance(scalars[2], int) or scalars[2] == 0:
            return super()._impl_v12(bb, inputs, attr, params)  # constants, tensors, a computed step
        start = get_constant(inputs[0], params)
        dtype = str(start.ty.dtype) if isinstance(start, tvm.ir.GenericConst) else _dtype(start)
        args = [tirx.IntImm("int64", s) if isinstance(s, int) else
                s if _dtype(s) == "int64" else tirx.Cast("int64", s) for s in scalars]
        out = relax.op.arange(*args, dtype="int64")
        return out if dtype == "int64" else relax.op.astype(out, dtype)

    _impl_v12 = _impl_v11


class SliceOfNamedAxes(onnx_frontend.Slice):
    """`x[:, :, :-1]` on a symbolic dim d: TVM's importer types it `min(max(d - 1, 0), d)`, the
    clamp ONNX's slicing rules ask for, which no simplifier can drop without knowing d >= 1; the
    conv or pool that made d assumed the same (`(L - k) // s + 1`), so adding the two fails.
    Here the clamped bounds are simplified knowing the sliced dim is not empty (d >= 1, and the
    named axes it is made of), which is all `:-1`, `1:`, `-1:` need: the length is `d - 1`. Larger constants keep their clamps
    (`x[:, -512:]` is `min(512, d)` long), so every d gets ONNX's answer. A negative step or
    a computed bound go TVM's way."""

    @classmethod
    def _impl_v13(cls, bb, inputs, attr, params):
        data = inputs[0]
        parsed = cls._in_bounds(data, [get_constant(x, params) if x is not None else None for x in inputs[1:5]])
        if parsed is None:
            return super()._impl_v13(bb, inputs, attr, params)
        axes, starts, ends, steps = parsed
        return relax.op.strided_slice(data, axes, starts, ends, steps, assume_inbound=True)

    @staticmethod
    def _in_bounds(data, given):
        if not isinstance(getattr(data, "ty", None), relax.TensorType) or not isinstance(data.ty.shape, relax.ShapeExpr):
            return None
        shape = list(data.ty.shape.values)
        starts, ends, axes, steps = (_int_list(x) if x is not None else None for x in given)
        if starts is None or ends is None or len(starts) != len(ends):
            return None
        axes = list(range(len(starts))) if given[2] is None else axes
        steps = [1] * len(starts) if given[3] is None else steps
        if axes is None or steps is None or not all(_is_int(v) for v in axes + starts + ends + steps):
            return None
        axes = [int(a) + len(shape) if int(a) < 0 else int(a) for a in axes]
        if any(int(s) <= 0 for s in steps):
            return None
        out_starts, out_ends, symbolic = [], [], False
        for axis, start, end in zip(axes, map(int, starts), map(int, ends)):
            dim = shape[axis]
            if isinstance(dim, tirx.IntImm):  # a static dim: clamp as ONNX says
                dim = int(dim)
                start, end = (min(max(v + dim if v < 0 else v, 0), dim) for v in (start, end))
                out_starts.append(start)
                out_ends.append(max(end, start))
                continue
            symbolic = True
            start, end = (_clamped(v, dim) for v in (start, end))
            analyzer = _sizes_analyzer(dim, least=1)  # DETR's d = (h - 1) // 32 + 1 >= 1 needs h >= 1
            with analyzer.constraint_scope(dim >= 1):
                start, end = analyzer.simplify(start), analyzer.simplify(end)
                out_starts.append(_simplified(start))
                out_ends.append(_simplified(end if analyzer.can_prove(end >= start) else tirx.max(end, start)))
        if not symbolic:
            return None  # all dims static: TVM's importer does the same, and folds constants
        return axes, out_starts, out_ends, [int(s) for s in steps]


class CastKeepingShapes(onnx_frontend.Cast):
    """A shape cast to int64 (`Cast(Concat(Shape...), to=INT64)`, as exporters write around
    shape arithmetic) is the shape: TVM's importer makes it a tensor, after which the Concat,
    Reshape or Expand it feeds no longer sees the dims as expressions."""

    @classmethod
    def _impl_v13(cls, bb, inputs, attr, params):
        if isinstance(inputs[0], relax.ShapeExpr) and str(onnx_frontend.get_type(attr["to"])) == "int64":
            return inputs[0]
        return super()._impl_v13(bb, inputs, attr, params)


class ConcatOfShapes(onnx_frontend.Concat):
    """Concat of shapes and 1-D int64 tensors (`[1, batch] ++ Cast(...)`): TVM's importer makes a
    ShapeExpr only when every part is a shape or a constant, and otherwise passes the ShapeExprs
    to relax.concat, which takes tensors only. Mixed, the shapes are made int64 tensors. Tensors
    whose other dims are different expressions: see _same_dims."""

    @classmethod
    def _impl_v13(cls, bb, inputs, attr, params):
        result = super()._impl_v13(bb, inputs, attr, params)
        if not isinstance(result, relax.Call):
            return result
        axis = attr.get("axis", 0)
        parts = [relax.op.shape_to_tensor(x) if isinstance(x, relax.ShapeExpr) else x for x in inputs]
        return relax.op.concat(cls._same_dims(bb, parts, axis), axis=axis)

    @staticmethod
    def _same_dims(bb, parts, axis):
        """A U-Net's skip concat of `(h - 1) // 32 * 2 + 2` (upsampled) and `(h - 1) // 16 + 1`:
        equal for the sizes the model takes, but not provably, so relax.concat's type loses the
        shape (and the next Reshape fails). The later parts are match_cast to the first's dims
        off the axis, which the VM checks when it runs: a size where they differ is an error."""
        shapes = [p.ty.shape.values if isinstance(getattr(p.ty, "shape", None), relax.ShapeExpr) else None
                  for p in parts]
        if any(s is None or len(s) != len(shapes[0]) for s in shapes):
            return parts
        first, axis = shapes[0], axis + len(shapes[0]) if axis < 0 else axis
        out = [parts[0]]
        for part, shape in zip(parts[1:], shapes[1:]):
            analyzer = _sizes_analyzer(*first, *shape)
            if all(i == axis or analyzer.can_prove_equal(a, b) for i, (a, b) in enumerate(zip(first, shape))):
                out.append(part)
                continue
            dims = [b if i == axis else a for i, (a, b) in enumerate(zip(first, shape))]
            out.append(bb.match_cast(part, relax.TensorType(dims, part.ty.dtype)))
        return out


class ConstantOfShapeScalar(onnx_frontend.ConstantOfShape):
    """ConstantOfShape to the shape `[]` (a scalar: DETR's mask): TVM's importer broadcasts the
    one-element `value` to it, which fails (broadcast_to cannot drop a dim)."""

    @classmethod
    def _impl_v9(cls, bb, inputs, attr, params):
        if _int_list(get_constant(inputs[0], params)) != []:
            return super()._impl_v9(bb, inputs, attr, params)
        value = onnx_frontend.get_numpy(attr["value"]) if attr.get("value") is not None else np.zeros(1, "float32")
        return relax.const(value.reshape(()), str(value.dtype))


class TileByShape(onnx_frontend.Tile):
    """Tile whose repeats are read from a shape (`pos_ids.repeat(batch, 1)`, DETR's queries):
    TVM's importer makes the output dims fresh variables (`tile_dim_0`) through a data-dependent
    dyn_tile. A symbolic repeat r of a dim d is a broadcast: to r where d is 1, else over a new
    axis before d, merged after (`[r, d] -> r * d`, as tile repeats the whole dim), so the output
    dims are the expressions r * d. All-constant repeats are relax.op.tile."""

    accepts_shapes = True  # see _accepting_shape_inputs

    @classmethod
    def _impl_v13(cls, bb, inputs, attr, params):
        data, reps = inputs[0], _int_list(get_constant(inputs[1], params))
        shape = data.ty.shape.values if isinstance(getattr(data.ty, "shape", None), relax.ShapeExpr) else None
        if reps is None or shape is None:
            if isinstance(inputs[1], relax.ShapeExpr):  # TVM's Tile would fail on it unhelped
                return super()._impl_v13(bb, [data, relax.op.shape_to_tensor(inputs[1])], attr, params)
            return super()._impl_v13(bb, inputs, attr, params)
        if all(isinstance(r, int) for r in reps):
            return relax.op.tile(data, reps)
        shape = [tirx.IntImm("int64", 1)] * (len(reps) - len(shape)) + list(shape)
        reps = [1] * (len(shape) - len(reps)) + reps
        split, spread, out = [], [], []
        for dim, rep in zip(shape, reps):
            if isinstance(rep, int) and rep == 1 or isinstance(dim, tirx.IntImm) and int(dim) == 1:
                split.append(dim)
                spread.append(dim if isinstance(rep, int) and rep == 1 else rep)
            else:
                split += [1, dim]
                spread += [rep, dim]
            out.append(_simplified(dim * rep))
        if len(split) != len(out) or len(shape) != len(data.ty.shape.values):
            data = relax.op.reshape(data, split)
        tiled = relax.op.broadcast_to(data, relax.ShapeExpr(spread))
        return tiled if len(spread) == len(out) else relax.op.reshape(tiled, out)


class ExpandOnNamedAxes(onnx_frontend.Expand):
    """Expand of a tensor with symbolic dims to a constant shape (`edge_index[1].unsqueeze(1)
    .expand(-1, hidden)`, which the exporter writes as a Where that onnxslim folds to [1, 16]):
    TVM's importer reads the data's dims as ints there and fails. The constant is taken as a
    ShapeExpr, which TVM's importer broadcasts by ONNX's rules with symbolic dims (a 1 keeps
    the data's dim); a shape shorter than the data is padded with 1s, as ONNX broadcasts. A
    scalar computed from shapes (BEiT's relative position table size) is a PrimExpr, which TVM's
    importer cannot expand: it is made a 0-d int64 tensor first."""

    @classmethod
    def _impl_v13(cls, bb, inputs, attr, params):
        data, shape = inputs[0], get_constant(inputs[1], params)
        if tvm.ir.is_prim_expr(data) and _dtype(data) == "int64":
            data = bb.normalize(relax.op.reshape(relax.op.shape_to_tensor(relax.ShapeExpr([data])), ()))
        known = isinstance(getattr(data.ty, "shape", None), relax.ShapeExpr)
        if known and isinstance(shape, tvm.ir.GenericConst | relax.ShapeExpr):
            target = _int_list(shape)
            if target is not None:
                target = [1] * (len(data.ty.shape.values) - len(target)) + target
                return super()._impl_v13(bb, [data, relax.ShapeExpr(target)], attr, params)
        return super()._impl_v13(bb, inputs, attr, params)


class DivOfSizes(onnx_frontend.Div):
    """Integer Div of sizes (`height // 8`, `numel / rows`): TVM's importer writes C's truncating
    division (tirx.Div), which the simplifier cannot cancel (`(2 * n) / n` stays, and a later
    Reshape to -1 leaves BEiT's relative position table of unknown shape). Where both sides
    are provably sizes (>= 0 and > 0), ONNX's truncation is floor division, which it can."""

    @classmethod
    def _impl_v7(cls, bb, inputs, attr, params):
        given = [get_constant(x, params) for x in inputs[:2]]
        lhs, rhs = (None if isinstance(x, relax.ShapeExpr) or getattr(getattr(x, "ty", None), "ndim", 0) != 0
                    else _int_scalar(x) for x in given)  # 0-d only: a 1-D Div stays a tensor
        if lhs is None or rhs is None or all(isinstance(v, int) for v in (lhs, rhs)):
            return super()._impl_v7(bb, inputs, attr, params)
        lhs, rhs = (tirx.IntImm("int64", v) if isinstance(v, int) else v for v in (lhs, rhs))
        analyzer = _sizes_analyzer(lhs, rhs)
        if _dtype(lhs) != _dtype(rhs) or not (analyzer.can_prove(lhs >= 0) and analyzer.can_prove(rhs > 0)):
            return super()._impl_v7(bb, inputs, attr, params)
        return analyzer.simplify(tirx.floordiv(lhs, rhs))


SYMBOLIC_OVERRIDES: dict = {"Div": DivOfSizes, "Expand": ExpandOnNamedAxes, "Tile": TileByShape, "ConstantOfShape": ConstantOfShapeScalar, "Range": RangeOfExpressions, "Slice": SliceOfNamedAxes, "Cast": CastKeepingShapes,
                            "Concat": ConcatOfShapes}


def _accepting_shape_inputs():
    """TVM's importer refuses a shape (ShapeExpr) input to any op not in a list local to
    `_construct_nodes` (Tile is not in it) before it looks up the converter, so no override can
    take one. Its `_construct_nodes` is recompiled here with the list extended by the ops whose
    converter in the current map says `accepts_shapes`: ours, only while relax_importers() has
    swapped our map in; unchanged otherwise. Left as is, with a warning, if the source differs."""
    importer = onnx_frontend.ONNXGraphImporter
    if getattr(importer._construct_nodes, "_accepts_shapes", False):
        return
    try:
        source = textwrap.dedent(inspect.getsource(importer._construct_nodes))
        patched, count = re.subn(r"(shape_compatible_ops = \[[^\]]*\])", r"\1 + _ops_accepting_shapes()", source)
        if count != 1:
            raise ValueError("shape_compatible_ops not found")
        onnx_frontend._ops_accepting_shapes = lambda: [  # looked up in TVM's module, as the map is
            op for op, conv in onnx_frontend._get_convert_map().items() if getattr(conv, "accepts_shapes", False)]
        scope: dict = {}
        exec(compile(patched, onnx_frontend.__file__, "exec"), vars(onnx_frontend), scope)  # noqa: S102
    except Exception as err:  # a TVM whose importer differs: its own errors stay
        logging.getLogger("tvm_tensorrt").warning("cannot let ONNX ops take shape inputs (%s)", err)
        return
    scope["_construct_nodes"]._accepts_shapes = True
    importer._construct_nodes = scope["_construct_nodes"]


_accepting_shape_inputs()
