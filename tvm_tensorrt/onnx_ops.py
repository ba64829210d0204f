"""Our importers for some ONNX ops, swapped into TVM's ONNX importer.

ONNX ops that TVM 0.27's importer writes as opaque TIR (`call_tir` of a TE function), which no
rule can see into: Einsum, Pad and Clip. These importers emit the Relax operators instead
(`relax.einsum`, `relax.nn.pad`, `relax.clip`), which TVM legalizes to the same TE code when it
compiles them, and which our rules and converters can judge and offload (a Clip with both
bounds is then one TensorRT activation layer, as NVIDIA's parser makes it). Dropout, the
identity at inference, is imported as its input. Convolutions and pools are given their types
from their attributes (partition/window_types.py) instead of by TVM's inference, which costs
0.5-0.8 ms a call.

TVM's importer has no public hook for per-op converters, so `relax_importers()` swaps them into
its converter map for the duration of one import (under a lock: the map is module-global).

It also binds each ONNX node's result under the node's name (TVM's importer calls everything
`lv`), so that explain() names calls as the user's model does, and records which binding came
from which node (for the annotated model of onnx_explain.py). Binding a call early changes no
value: Relax binds every nested call before the block ends anyway. Calls inside an If's
branches are left alone (binding them would run both branches).
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import tvm
from tvm import relax
from tvm.relax.frontend.onnx import onnx_frontend

from .errors import ModelImportError, TensorRTError

from .onnx_resize import RESIZE_OVERRIDES
from .onnx_symbolic import SYMBOLIC_OVERRIDES
from tvm_tensorrt.partition.checks import is_constant, static_shape
from tvm_tensorrt.partition.graph import retyped
from tvm_tensorrt.partition.window_types import conv_type, window_typed

ONNX_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


class EinsumAsRelax(onnx_frontend.Einsum):
    @classmethod
    def _impl_v12(cls, bb, inputs, attr, params):
        return relax.op.einsum(list(inputs), attr["equation"].decode("utf-8"))


class PadAsRelax(onnx_frontend.Pad):
    @classmethod
    def _lower_pad(cls, bb, inputs, attr, params, allowed_modes):
        pad_before, pad_after, constant_value = cls._parse_pads_and_axes(inputs, params)
        mode = attr.get("mode", b"constant").decode("utf-8")
        if mode not in allowed_modes or min(pad_before + pad_after) < 0:  # TVM's own errors and cropping
            return super()._lower_pad(bb, inputs, attr, params, allowed_modes)
        widths = [w for pair in zip(pad_before, pad_after) for w in pair]
        return relax.op.nn.pad(inputs[0], widths, ONNX_PAD_MODES[mode], float(constant_value))


def _scalar_bound(bound):
    """A constant scalar bound as a float; None when computed, absent or NaN (ONNX: unbounded)."""
    if bound is None or not isinstance(bound, tvm.ir.expr.GenericConst):
        return None
    value = bound.value.numpy()
    return float(value) if value.size == 1 and not np.isnan(value).any() else None


class ClipAsRelax(onnx_frontend.Clip):
    @classmethod
    def _impl_v1(cls, bb, inputs, attr, params):
        if "min" in attr and "max" in attr:
            return relax.op.clip(inputs[0], float(attr["min"]), float(attr["max"]))
        return super()._impl_v1(bb, inputs, attr, params)

    @classmethod
    def _impl_v13(cls, bb, inputs, attr, params):
        given = (list(inputs) + [None, None])[1:3]
        low, high = (_scalar_bound(b) for b in given)
        if any(b is not None and v is None for b, v in zip(given, (low, high))):
            return super()._impl_v13(bb, inputs, attr, params)  # a computed or NaN bound: TVM's way
        if low is not None and high is not None:
            return relax.op.clip(inputs[0], low, high)
        x, dtype = inputs[0], inputs[0].ty.dtype  # one bound: a maximum or a minimum
        if low is not None:
            x = relax.op.maximum(x, relax.const(low, dtype))
        if high is not None:
            x = relax.op.minimum(x, relax.const(high, dtype))
        return x


class DropoutAsIdentity(onnx_frontend.Dropout):
    """Inference: the output is the input and the mask all true (onnxslim drops Dropout when it
    runs; TVM's `relax.nn.dropout` would be one more op to offload, and a layer)."""

    @classmethod
    def _impl_v1(cls, bb, inputs, attr, params):
        return relax.Tuple([inputs[0], relax.op.ones_like(inputs[0], "bool")])

    _impl_v12 = _impl_v1


class _WindowTypingBuilder:
    """The importer's BlockBuilder, but a convolution or pool it normalizes is typed by
    window_typed first (TVM's Conv importer normalizes the conv before adding the bias)."""

    def __init__(self, builder: relax.BlockBuilder):
        self._builder = builder

    def normalize(self, expr):
        return self._builder.normalize(window_typed(expr))

    def __getattr__(self, name):
        return getattr(self._builder, name)


class ConvTyped(onnx_frontend.Conv):
    """TVM's Conv importer, its conv typed from the ONNX attributes (window_types.conv_type); a
    constant bias is added as the [1, C, 1, ...] constant it would be folded to (a view of the
    initializer, not a copy), not through a reshape the partitioner would fold again (0.1 ms a
    conv). Where conv_type cannot be sure (symbolic dims, auto_pad, malformed channels), TVM's
    importer builds the conv and window_typed or TVM's inference types it."""

    @classmethod
    def _impl_v11(cls, bb, inputs, attr, params):
        bias = inputs[2]
        if bias is not None and not is_constant(bias):
            return super()._impl_v11(_WindowTypingBuilder(bb), inputs, attr, params)
        conv = _typed_conv(bb, inputs[0], inputs[1], attr)
        if conv is None:
            conv = super()._impl_v11(_WindowTypingBuilder(bb), onnx_frontend.onnx_input(inputs[:2]), attr, params)
        if bias is None:
            return conv
        rank, values = len(conv.ty.shape.values), bias.value
        return relax.op.add(conv, relax.const(values._create_view((1, int(np.prod(values.shape))) + (1,) * (rank - 2))))


_CONVOLUTIONS = {3: (relax.op.nn.conv1d, "NCW", "OIW"), 4: (relax.op.nn.conv2d, "NCHW", "OIHW"),
                 5: (relax.op.nn.conv3d, "NCDHW", "OIDHW")}


def _per_axis(value, count: int):
    """An ONNX int-list attribute as `count` ints (an int broadcasts), or None."""
    values = [int(value)] * count if isinstance(value, int) else [int(v) for v in value]
    return values if len(values) == count else None


def _typed_conv(bb, data, weight, attr):
    """The conv TVM's Conv importer builds, with the same arguments, typed by conv_type from the
    ONNX attributes (TVM's inference of it costs 0.5-0.8 ms, reading its attributes back 0.1 ms);
    None where the importer should build it (auto_pad, symbolic or malformed shapes)."""
    if attr.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return None
    shape, kernel = static_shape(data.ty), static_shape(weight.ty)
    if shape is None or kernel is None or len(shape) not in _CONVOLUTIONS:
        return None
    rank = len(shape) - 2
    strides, dilations = _per_axis(attr.get("strides", 1), rank), _per_axis(attr.get("dilations", 1), rank)
    pads = _per_axis(attr.get("pads", 0), 2 * rank)
    if strides is None or dilations is None or pads is None:
        return None
    ty = conv_type(shape, str(data.ty.dtype), kernel, str(weight.ty.dtype), strides, pads, dilations,
                   int(attr.get("group", 1)))
    if ty is None:
        return None
    op, data_layout, kernel_layout = _CONVOLUTIONS[len(shape)]
    call = op(data=data, weight=weight, strides=attr.get("strides", 1), padding=attr.get("pads", 0),
              dilation=attr.get("dilations", 1), groups=attr.get("group", 1), data_layout=data_layout,
              kernel_layout=kernel_layout)
    return bb.normalize(retyped(call, ty))


OVERRIDES = {"Einsum": EinsumAsRelax, "Pad": PadAsRelax, "Clip": ClipAsRelax, "Dropout": DropoutAsIdentity,
             "Conv": ConvTyped, **SYMBOLIC_OVERRIDES, **RESIZE_OVERRIDES}
_LOCK = threading.Lock()


def error_line(err: BaseException) -> str:
    """The one line of an importer's exception that says why: TVM's errors carry a traceback and
    the C++ check that failed; the reason is the message's last line."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("File ", "Traceback", "^"))] or [type(err).__name__]
    return lines[-1][:300]


@contextlib.contextmanager
def relax_importers():
    """TVM's ONNX importer, with the importers above in its converter map. Yields a dict that
    fills during the import: binding name -> the name of the ONNX node it computes."""
    importer = onnx_frontend.ONNXGraphImporter
    original = onnx_frontend._get_convert_map
    convert_operator, convert_subgraph = importer._convert_operator, importer._convert_subgraph
    branch_depth = [0]
    node_of: dict[str, str] = {}

    merged = {**original(), **OVERRIDES}  # TVM asks for the map once per node; built once here

    def convert_map():
        return merged

    def named_convert_operator(self, op_name, inputs, attrs, opset):
        name = attrs.get("tvm_custom", {}).get("name")
        try:
            result = window_typed(convert_operator(self, op_name, inputs, attrs, opset))  # a pool's type
        except TensorRTError:
            raise
        except Exception as err:  # TVM's converter for this node: name the node, keep TVM's reason
            raise ModelImportError(f"ONNX node {name!r} ({op_name}): TVM's ONNX importer cannot convert it: "
                                   f"{error_line(err)}") from err
        if not name or branch_depth[0]:
            return result
        if isinstance(result, relax.Call):
            result = self.bb.emit(result, name_hint=name)
        elif isinstance(result, relax.Tuple) and result.fields and isinstance(result.fields[0], relax.Call):
            # LayerNormalization's (y, mean, inv_std): only y is bound, the others are seldom used
            result = relax.Tuple([self.bb.emit(result.fields[0], name_hint=name), *result.fields[1:]])
        made = result.fields[0] if isinstance(result, relax.Tuple) and result.fields else result
        if isinstance(made, relax.Var) and not any(made.same_as(i) for i in inputs if i is not None):
            node_of[made.name] = name  # the builder may have made the name unique or sanitised it
        return result

    def counted_convert_subgraph(self, bb, graph):
        branch_depth[0] += 1
        try:
            return convert_subgraph(self, bb, graph)
        finally:
            branch_depth[0] -= 1

    with _LOCK:
        onnx_frontend._get_convert_map = convert_map
        importer._convert_operator, importer._convert_subgraph = named_convert_operator, counted_convert_subgraph
        try:
            yield node_of
        finally:
            onnx_frontend._get_convert_map = original
            importer._convert_operator, importer._convert_subgraph = convert_operator, convert_subgraph
