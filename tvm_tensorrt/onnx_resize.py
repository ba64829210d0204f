"""Importers for ONNX Resize / Upsample (to sizes or scales computed from symbolic dims) and the
exporters' Loop forms that TVM 0.27's importer cannot take.

Resize: TVM's importer reads `sizes` with `int(v.value)`, so a size computed from the input's
shape (`Shape -> Gather -> Concat`, a ShapeExpr of PrimExprs such as `(height - 1) // 4 + 1`)
fails; and a constant scale s gives `Cast(int64, s * float(h))`, which TVM cannot prove equal to
the skip connection's `2 * h'`, so a U-Net's Concat loses its shape. Here sizes are exact
expressions of the named axes: read back from a ShapeExpr (or `shape_to_tensor` of one); an
integral scale is `h * s` in integers; any other scale is `floor(float32(h) * s)` as
onnxruntime computes it. The resize itself is TVM's (its roi and attribute handling), with the
size swapped for ours.

Loop: torch's EmbeddingBag(mode='sum'/'mean') with offsets exports as a Loop over the bags
(`indices[offsets[i]:offsets[i+1]]` gathered from the table and reduced). That form is imported
as a gather and a [bags, indices] segment matrix times the rows: one matmul, no loop. Any other
Loop is refused with an error naming the node and why, unless onnx_loops.py unrolled it first
(a constant trip count and a condition that stays true).
"""

from __future__ import annotations

import numpy as np
import onnx
import tvm
from tvm import relax
from tvm import tirx as tir
from tvm.relax.frontend.onnx import onnx_frontend
from tvm.relax.frontend.onnx.onnx_frontend import get_constant

from .errors import ModelImportError

_IMAGE_RESIZES = ("relax.image.resize2d", "relax.image.resize3d")


class UnsupportedLoopError(ModelImportError, NotImplementedError):
    """An ONNX Loop that is not a form we import (only the EmbeddingBag loop is); names the node."""


def _bound(bb, expr, depth: int = 8):
    """The value a variable was bound to in the builder, through chains of variables."""
    while depth and isinstance(expr, relax.Var):
        value = bb.lookup_binding(expr)
        if value is None:
            break
        expr, depth = value, depth - 1
    return expr


def _shape_values(bb, value):
    """`value` (a shape, or an int tensor of one) as a list of ints/PrimExprs; None if computed
    in a way whose values cannot be read back."""
    if isinstance(value, tvm.ir.GenericConst):
        return [int(v) for v in value.value.numpy().reshape(-1)]
    if tvm.ir.is_prim_expr(value):
        return [value]
    value = _bound(bb, value)
    if isinstance(value, relax.Call) and value.op == tvm.ir.Op.get("relax.shape_to_tensor"):
        value = _bound(bb, value.args[0])
    if isinstance(value, relax.ShapeExpr):
        return list(value.values)
    ty = getattr(value, "ty", None)
    if isinstance(ty, relax.ShapeType) and ty.values is not None:
        return list(value.ty.values)
    return None


def _sized(expr):
    """A size PrimExpr simplified knowing its variables are dims (>= 0): the exporters' `h // 8`,
    which TVM's importer writes as truncating division, becomes the floor division that convs and
    pools write, so that the two prove equal (exact wherever the dividend is >= 0)."""
    if not tvm.ir.is_prim_expr(expr) or isinstance(expr, tir.IntImm):
        return expr
    analyzer = tvm.sym.Analyzer()
    for var in tir.analysis.undefined_vars(expr):
        analyzer.update(var, tvm.sym.ConstIntBound(0, tvm.sym.ConstIntBound.POS_INF))

    def floored(e):
        if isinstance(e, tir.Cast):
            return tir.Cast(e.dtype, floored(e.value))
        if not (hasattr(e, "a") and hasattr(e, "b")):
            return e
        a, b = floored(e.a), floored(e.b)
        kind = type(e)
        if kind in (tir.Div, tir.Mod) and analyzer.can_prove(a >= 0) and analyzer.can_prove(b > 0):
            kind = tir.FloorDiv if kind is tir.Div else tir.FloorMod
        return kind(a, b)

    return analyzer.simplify(floored(expr))


def _scaled(dim, scale: float):
    """ONNX's output size floor(dim * scale): exact integers for an integral scale (so that
    `h * 2` proves equal to a skip connection's size), float32 as onnxruntime otherwise."""
    if scale == int(scale) and scale >= 1:
        return dim * int(scale)
    if isinstance(dim, (int, tir.IntImm)):
        return int(np.float32(int(dim)) * np.float32(scale))
    return tir.Cast("int64", tir.Cast("float32", dim) * tir.const(scale, "float32"))  # >= 0: truncation floors


def _same(a, b) -> bool:
    return bool(tvm.sym.Analyzer().can_prove_equal(a, b))


def _with_size(call, spatial):
    """TVM's resize2d/3d call with its size replaced by `spatial` (PrimExprs)."""
    return relax.Call(call.op, [call.args[0], relax.ShapeExpr(spatial), *call.args[2:]], call.attrs, call.ty_args)


class ResizeSymbolic(onnx_frontend.Resize):
    """Resize to sizes that are expressions of the input's named dims (module docstring)."""

    @classmethod
    def _impl_v18(cls, bb, inputs, attr, params):
        out = cls._symbolic(bb, inputs, attr, params)
        return out if out is not None else super()._impl_v18(bb, inputs, attr, params)

    _impl_v11 = _impl_v13 = _impl_v19 = _impl_v18

    @classmethod
    def _impl_v10(cls, bb, inputs, attr, params):
        """Resize-10 takes (X, scales) and resizes as Upsample does (TVM reads scales as roi)."""
        return _upsample(bb, inputs[0], get_constant(inputs[1], params), attr)

    @classmethod
    def _full_size(cls, bb, x, inputs, attr, params):
        """The output shape (ints/PrimExprs per axis), or None where it cannot be known."""
        shape = list(x.ty.shape.values)
        axes = [a % len(shape) for a in attr.get("axes", range(len(shape)))]
        scales = get_constant(inputs[2], params) if len(inputs) > 2 and inputs[2] is not None else None
        sizes = get_constant(inputs[3], params) if len(inputs) > 3 and inputs[3] is not None else None
        if isinstance(scales, tvm.ir.GenericConst) and scales.value.numpy().size == 0:
            scales = None  # opset 11-12 exports pass an empty scales beside sizes
        full = list(shape)
        if sizes is not None and scales is None:
            values = _shape_values(bb, sizes)
            if values is None:
                return None
            for axis, value in zip(axes, values):
                full[axis] = _sized(value)
        elif isinstance(scales, tvm.ir.GenericConst) and sizes is None:
            for axis, scale in zip(axes, scales.value.numpy().reshape(-1).tolist()):
                full[axis] = _scaled(shape[axis], float(scale))
        else:
            return None
        return full

    @classmethod
    def _symbolic(cls, bb, inputs, attr, params):
        x = inputs[0]
        if not isinstance(x.ty, relax.TensorType) or x.ty.shape is None or attr.get("antialias", 0) \
                or attr.get("keep_aspect_ratio_policy", b"stretch") != b"stretch":
            return None  # TVM's importer: its own errors (it has neither antialias nor policies)
        rank = len(x.ty.shape.values)
        full = cls._full_size(bb, x, inputs, attr, params)
        if full is None:
            if len(inputs) > 3 and inputs[3] is not None and rank in (4, 5):
                full = _computed_size(bb, x, inputs[3])
            if full is None:
                return None
        if rank not in (3, 4, 5) or not all(_same(a, b) for a, b in zip(full[:2], x.ty.shape.values[:2])):
            return None  # batch or channels resized: TVM's importer decides
        if rank == 3:  # as a 4-D resize of [N, C, 1, W]: exact on the unit axis in every mode
            if attr.get("coordinate_transformation_mode", b"half_pixel") == b"tf_crop_and_resize":
                return None
            x4 = bb.normalize(relax.op.expand_dims(x, [2]))
            out = cls._resize(bb, x4, [1, full[2]], None, attr, params)
            return None if out is None else relax.op.squeeze(bb.normalize(out), [2])
        return cls._resize(bb, x, full[2:], inputs[1] if len(inputs) > 1 else None, attr, params)

    @classmethod
    def _resize(cls, bb, x, spatial, roi, attr, params):
        """TVM's resize (roi, modes) of `x` to a placeholder size, its size then swapped for ours."""
        rank = len(x.ty.shape.values)
        placeholder = relax.const(np.ones(rank, "int64"))
        call = super()._impl_v18(bb, onnx_frontend.onnx_input([x, roi, None, placeholder]), attr, params)
        if not isinstance(call, relax.Call) or getattr(call.op, "name", None) not in _IMAGE_RESIZES:
            return None  # a computed roi: TVM's TE resize
        return _with_size(call, spatial)


def _computed_size(bb, x, sizes):
    """A `sizes` tensor computed at run time: its spatial values as fresh size variables (the
    output's rank and batch/channels stay known)."""
    if not isinstance(sizes.ty, relax.TensorType) or sizes.ty.ndim != 1:
        return None
    rank = len(x.ty.shape.values)
    spatial = relax.op.strided_slice(sizes, axes=[0], begin=[2], end=[rank])
    shape = bb.emit(relax.op.tensor_to_shape(spatial))
    names = [tir.Var(f"resize_{axis}", "int64") for axis in "dhw"[5 - rank:]]
    bb.match_cast(shape, relax.ShapeType(names))  # defines the names
    return list(x.ty.shape.values[:2]) + names


def _upsample(bb, x, scales, attr):
    """Upsample (and Resize-10): constant scales, asymmetric coordinates, nearest rounding as
    onnxruntime's 'simple' mode (floor when enlarging, ceil when shrinking)."""
    if isinstance(scales, tvm.ir.GenericConst):
        scales = scales.value.numpy().reshape(-1).tolist()
    if not isinstance(scales, (list, tuple)) or not isinstance(x.ty, relax.TensorType) or x.ty.shape is None:
        raise ModelImportError(f"Upsample {attr['tvm_custom']['name']!r}: scales must be constant")
    shape = list(x.ty.shape.values)
    rank = len(shape)
    if len(scales) != rank or rank not in (3, 4, 5) or scales[0] != 1 or scales[1] != 1:
        raise ModelImportError(f"Upsample {attr['tvm_custom']['name']!r}: only spatial scales of a 3-D to 5-D "
                            f"input are supported (scales {scales}, rank {rank})")
    mode = attr.get("mode", b"nearest").decode()
    method = {"nearest": "nearest_neighbor", "linear": "linear", "bilinear": "linear"}.get(mode)
    if method is None:
        raise ModelImportError(f"Upsample {attr['tvm_custom']['name']!r}: mode {mode!r} is not supported")
    spatial = [_scaled(d, float(s)) for d, s in zip(shape[2:], scales[2:])]
    data = relax.op.expand_dims(x, [2]) if rank == 3 else x
    spatial = [1, *spatial] if rank == 3 else spatial
    op, layout = (relax.op.image.resize3d, "NCDHW") if rank == 5 else (relax.op.image.resize2d, "NCHW")
    out = op(bb.normalize(data), relax.ShapeExpr(spatial), layout=layout, method=method,
             coordinate_transformation_mode="asymmetric",
             rounding_method="ceil" if min(scales) < 1 else "floor")
    return relax.op.squeeze(bb.normalize(out), [2]) if rank == 3 else out


class UpsampleSymbolic(onnx_frontend.Upsample):
    """Upsample with exact integer sizes (module docstring); v7 takes scales as an attribute,
    v9 as an input (TVM's importer reads the attribute only, and int() of each dim)."""

    @classmethod
    def _impl_v7(cls, bb, inputs, attr, params):
        return _upsample(bb, inputs[0], list(attr.get("scales", ())), attr)

    @classmethod
    def _impl_v9(cls, bb, inputs, attr, params):
        return _upsample(bb, inputs[0], get_constant(inputs[1], params), attr)


class _NotThePattern(Exception):
    """The Loop is not the EmbeddingBag form; the message says where it differs."""


class _LoopBody:
    """Names in a Loop body: body nodes by output, body constants, and the outer scope."""

    def __init__(self, body: onnx.GraphProto, params):
        self.producer = {out: node for node in body.node for out in node.output}
        self.iteration, self.condition = (value.name for value in body.input[:2])
        self.graph_nodes, self.params = params[0], params

    def node(self, name: str, *ops: str) -> onnx.NodeProto:
        node = self.producer.get(name)
        if node is None or node.op_type not in ops:
            raise _NotThePattern(f"{name!r} is not computed by {'/'.join(ops)} in the body")
        return node

    def ints(self, name: str):
        """A constant's values as a list of ints (an absent optional input: None)."""
        if not name:
            return None
        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant":
            return onnx.numpy_helper.to_array(node.attribute[0].t).reshape(-1).tolist()
        value = get_constant(self.graph_nodes[name], self.params) if name in self.graph_nodes else None
        if not isinstance(value, tvm.ir.GenericConst):
            raise _NotThePattern(f"{name!r} is not a constant")
        return value.value.numpy().reshape(-1).tolist()

    def outer(self, name: str):
        if name in self.producer or name in (self.iteration, self.condition) or name not in self.graph_nodes:
            raise _NotThePattern(f"{name!r} is computed inside the loop")
        return self.graph_nodes[name]

    def per_iteration(self, name: str):
        """The outer 1-D tensor T of a body value that is T[i] (through Unsqueeze/Reshape/Cast)."""
        node = self.node(name, "Gather", "Unsqueeze", "Reshape", "Squeeze", "Cast")
        if node.op_type != "Gather":
            return self.per_iteration(node.input[0])
        if node.input[1] != self.iteration or self.attr(node, "axis", 0) != 0:
            raise _NotThePattern(f"{name!r} is not an element of an outer tensor at the iteration number")
        return self.outer(node.input[0])

    @staticmethod
    def attr(node, name, default):
        found = [a for a in node.attribute if a.name == name]
        return onnx.helper.get_attribute_value(found[0]) if found else default


def _embedding_bag(bb, inputs, body: onnx.GraphProto, params):
    """Loop(M, true) whose body is Reduce{Sum,Mean}(Gather(table, X[starts[i]:ends[i]]), axis 0)
    -> segment matrix [M, N] (starts[i] <= p < ends[i]) @ table[X]; Slice's negative positions
    wrap as ONNX defines (offsets past the end select nothing more, as Slice clamps)."""
    loop = _LoopBody(body, params)
    if len(inputs) != 2 or len(body.output) != 2 or inputs[0] is None:
        raise _NotThePattern("it carries values between iterations or has no trip count")
    if inputs[1] is not None and _shape_values(bb, inputs[1]) not in ([1], [True]):
        raise _NotThePattern("its condition is not the constant true")
    cond = body.output[0].name
    while cond in loop.producer and loop.producer[cond].op_type in ("Identity", "Cast"):
        cond = loop.producer[cond].input[0]
    if cond != loop.condition and loop.ints(cond) != [1]:
        raise _NotThePattern("it may stop early (its body computes the condition)")
    reduce = loop.node(body.output[1].name, "ReduceSum", "ReduceMean")
    axes = loop.ints(reduce.input[1]) if len(reduce.input) > 1 else loop.attr(reduce, "axes", None)
    if list(axes or ()) != [0] or loop.attr(reduce, "keepdims", 1) != 0:
        raise _NotThePattern("the scan output is not reduced over the gathered rows (axis 0, keepdims 0)")
    gather = loop.node(reduce.input[0], "Gather")
    table = loop.outer(gather.input[0])
    piece = loop.node(gather.input[1], "Slice")
    if loop.attr(gather, "axis", 0) != 0 or not isinstance(table.ty, relax.TensorType) or table.ty.ndim != 2:
        raise _NotThePattern("the rows are not gathered from a 2-D table")
    if (loop.ints(piece.input[3]) if len(piece.input) > 3 else [0]) not in ([0], [-1], None) or \
            (loop.ints(piece.input[4]) if len(piece.input) > 4 else [1]) not in ([1], None):
        raise _NotThePattern("the indices are not a contiguous slice")
    data = loop.outer(piece.input[0])
    starts, ends = loop.per_iteration(piece.input[1]), loop.per_iteration(piece.input[2])
    if data.ty.ndim != 1 or starts.ty.ndim != 1 or ends.ty.ndim != 1:
        raise _NotThePattern("the indices, starts and ends are not 1-D")
    count = _trip_count(bb, inputs[0])
    length = data.ty.shape.values[0]
    n = relax.op.shape_to_tensor(relax.ShapeExpr([length]))
    position = relax.op.expand_dims(relax.op.arange(0, length, 1, "int64"), [0])

    def column(bounds):  # bounds[:M] as [M, 1], negative positions wrapped
        if not _same(bounds.ty.shape.values[0], count):
            bounds = relax.op.strided_slice(bounds, axes=[0], begin=[0], end=[count])
        bounds = relax.op.astype(bounds, "int64")
        bounds = relax.op.where(relax.op.less(bounds, relax.const(0, "int64")), relax.op.add(bounds, n), bounds)
        return relax.op.expand_dims(bounds, [1])

    inside = relax.op.logical_and(relax.op.greater_equal(position, column(starts)),
                                  relax.op.less(position, column(ends)))
    segments = bb.normalize(relax.op.astype(inside, table.ty.dtype))
    rows = relax.op.take(table, data, axis=0)
    out = relax.op.matmul(segments, bb.normalize(rows))
    if reduce.op_type == "ReduceMean":
        out = relax.op.divide(bb.normalize(out), relax.op.sum(segments, axis=[1], keepdims=True))
    return out


def _trip_count(bb, value):
    """The Loop's trip count as a PrimExpr (TVM 0.27 gives scalars from shapes as PrimExprs)."""
    if tvm.ir.is_prim_expr(value):
        return value
    values = _shape_values(bb, value)
    if values is not None and len(values) == 1:
        return values[0]
    raise _NotThePattern(f"its trip count is computed at run time ({type(value).__name__})")


class LoopEmbeddingBag(onnx_frontend.OnnxOpConverter):
    """ONNX Loop: the EmbeddingBag form only (_embedding_bag); others raise UnsupportedLoopError.
    Being in the converter map also lets Loop past TVM's up-front unsupported-op check."""

    @classmethod
    def _impl_v1(cls, bb, inputs, attr, params):
        try:
            return _embedding_bag(bb, inputs, attr["body"], params)
        except _NotThePattern as why:
            raise UnsupportedLoopError(
                f"Loop {attr['tvm_custom']['name']!r} is not supported: {why}. Only the EmbeddingBag form "
                "(a Loop over bags summing or averaging table rows between offsets) is imported; "
                "export without the loop (e.g. torch.nn.functional.embedding + a segment sum)") from None


RESIZE_OVERRIDES = {"Resize": ResizeSymbolic, "Upsample": UpsampleSymbolic, "Loop": LoopEmbeddingBag}
