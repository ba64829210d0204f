"""One representative call per built-in rule, shared by rule, converter and parity tests.

A rule registered without a sample here fails test_every_rule_has_a_sample, so a new operator
cannot land untested.
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax
from tvm.ir.prim.expr import Var as SizeVar

RNG = np.random.default_rng(0)


# Ops whose sample needs a partner op: an int8 tensor exists only between a quantize and a
# dequantize, so neither can be a subgraph on its own.
PARTNERED = {"quantize": "dequantize", "dequantize": "matmul"}


def const(*shape, positive=False):
    value = RNG.uniform(0.5, 1.5, shape) if positive else RNG.standard_normal(shape)
    return relax.const(value.astype("float32"))


def ints(values, dtype="int64"):
    """A constant index tensor (relax.const alone would make int64 values int32)."""
    return relax.const(np.array(values, dtype), dtype)


def single_op_module(make, *shapes, dtype="float32", field=None) -> tvm.IRModule:
    """main(x0, x1...) = make(x0, x1...) (optionally taking tuple field `field`); `dtype`: one
    for every input, or one per input."""
    bb = relax.BlockBuilder()
    dtypes = [dtype] * len(shapes) if isinstance(dtype, str) else list(dtype)
    params = [relax.Var(f"x{i}", relax.TensorType(s, d)) for i, (s, d) in enumerate(zip(shapes, dtypes))]
    with bb.function("main", params):
        with bb.dataflow():
            out = bb.emit(make(*params))
            if field is not None:
                out = bb.emit(relax.TupleGetItem(out, field))
            out = bb.emit_output(out)
        bb.emit_func_output(out)
    return bb.get()


# op name -> (make, input shapes, tuple field or None[, input dtype(s), default float32]). Every
# sample is offloaded with the default options (implicit batch mode included); cases that need
# other options are EXTRA_SAMPLES.
SAMPLES = {
    "nn.relu": (lambda x: relax.op.nn.relu(x), [(1, 4, 5, 5)], None),
    "sigmoid": (lambda x: relax.op.sigmoid(x), [(2, 7)], None),
    "tanh": (lambda x: relax.op.tanh(x), [(2, 7)], None),
    "clip": (lambda x: relax.op.clip(x, -0.5, 0.7), [(2, 3, 4)], None),
    "nn.leakyrelu": (lambda x: relax.op.nn.leakyrelu(x, 0.2), [(2, 3, 4)], None),
    "exp": (lambda x: relax.op.exp(x), [(2, 3, 4)], None),
    "log": (lambda x: relax.op.log(x), [(2, 3, 4)], None),
    "sqrt": (lambda x: relax.op.sqrt(x), [(2, 3, 4)], None),
    "abs": (lambda x: relax.op.abs(x), [(2, 3, 4)], None),
    "negative": (lambda x: relax.op.negative(x), [(2, 3, 4)], None),
    "sin": (lambda x: relax.op.sin(x), [(2, 3, 4)], None),
    "cos": (lambda x: relax.op.cos(x), [(2, 3, 4)], None),
    "atan": (lambda x: relax.op.atan(x), [(2, 3, 4)], None),
    "ceil": (lambda x: relax.op.ceil(x), [(2, 3, 4)], None),
    "floor": (lambda x: relax.op.floor(x), [(2, 3, 4)], None),
    "erf": (lambda x: relax.op.erf(x), [(2, 3, 4)], None),
    "add": (lambda x, y: relax.op.add(x, y), [(2, 3, 4), (2, 3, 1)], None),
    "subtract": (lambda x: relax.op.subtract(x, const(4)), [(2, 3, 4)], None),
    "multiply": (lambda x, y: relax.op.multiply(x, y), [(1, 3, 1, 5), (1, 3, 4, 1)], None),
    "divide": (lambda x: relax.op.divide(x, const(1, 3, 1, 1, positive=True)), [(1, 3, 4, 4)], None),
    "power": (lambda x: relax.op.power(x, relax.const(np.array([2.0, 3.0, 1.0], "float32"))), [(2, 3)], None),
    "maximum": (lambda x, y: relax.op.maximum(x, y), [(2, 5), (2, 5)], None),
    "minimum": (lambda x: relax.op.minimum(x, const(5)), [(2, 5)], None),
    "nn.conv1d": (lambda x: relax.op.nn.conv1d(x, const(6, 2, 3), strides=2, padding=(1, 2), groups=2),
                  [(1, 4, 10)], None),
    "nn.conv2d": (lambda x: relax.op.nn.conv2d(x, const(6, 2, 3, 3), strides=(2, 1), padding=(1, 0, 2, 1),
                                               dilation=(1, 2), groups=2), [(1, 4, 9, 10)], None),
    "nn.conv3d": (lambda x: relax.op.nn.conv3d(x, const(4, 2, 3, 3, 3), strides=(1, 2, 1), padding=1),
                  [(1, 2, 5, 6, 7)], None),
    "nn.conv2d_transpose": (lambda x: relax.op.nn.conv2d_transpose(x, const(4, 3, 3, 3), strides=2, padding=1,
                                                                   output_padding=1), [(1, 4, 5, 5)], None),
    "nn.conv3d_transpose": (lambda x: relax.op.nn.conv3d_transpose(x, const(2, 3, 2, 2, 2), strides=2),
                            [(1, 2, 3, 4, 4)], None),
    "nn.batch_norm": (lambda x: relax.op.nn.batch_norm(x, const(3, positive=True), const(3), const(3),
                                                       const(3, positive=True), axis=1, training=False),
                      [(2, 3, 4, 4)], 0),
    "nn.layer_norm": (lambda x: relax.op.nn.layer_norm(x, const(8, positive=True), const(8), axes=-1),
                      [(2, 3, 8)], None),
    "nn.max_pool2d": (lambda x: relax.op.nn.max_pool2d(x, (3, 3), strides=(2, 2), padding=(1, 1, 1, 1)),
                      [(1, 2, 9, 9)], None),
    "nn.avg_pool2d": (lambda x: relax.op.nn.avg_pool2d(x, (2, 2), strides=(2, 2), padding=(1, 1, 1, 1),
                                                       count_include_pad=True), [(1, 2, 8, 8)], None),
    "nn.max_pool3d": (lambda x: relax.op.nn.max_pool3d(x, (2, 2, 2), strides=(2, 2, 2)), [(1, 2, 6, 6, 6)], None),
    "nn.avg_pool3d": (lambda x: relax.op.nn.avg_pool3d(x, (3, 2, 2), strides=(1, 2, 2), padding=(1, 0, 0, 1, 0, 0)),
                      [(1, 2, 5, 6, 6)], None),
    "nn.adaptive_avg_pool2d": (lambda x: relax.op.nn.adaptive_avg_pool2d(x, (2, 3)), [(1, 3, 8, 9)], None),
    "matmul": (lambda x: relax.op.matmul(x, const(5, 3)), [(2, 4, 5)], None),
    # explicit quantization (PARTNERED): a quantize/dequantize pair (TensorRT's INT8 tensors live
    # between them), and int8 weights dequantized per channel for a matmul
    "quantize": (lambda x: relax.op.dequantize(relax.op.quantize(x, relax.const(0.05, "float32"),
                                                                 relax.const(0, "int8"), axis=-1, out_dtype="int8"),
                                               relax.const(0.05, "float32"), relax.const(0, "int8"), axis=-1),
                 [(2, 4, 5)], None),
    "dequantize": (lambda x: relax.op.matmul(x, relax.op.dequantize(
        ints(RNG.integers(-127, 128, (5, 3)), "int8"), relax.const(np.array([0.02, 0.03, 0.05], "float32")),
        relax.const(np.zeros(3, "int8"), "int8"), axis=1)), [(2, 4, 5)], None),
    "reshape": (lambda x: relax.op.reshape(x, (2, -1)), [(2, 3, 4)], None),
    "flatten": (lambda x: relax.op.flatten(x), [(6,)], None),
    "nn.batch_flatten": (lambda x: relax.op.nn.batch_flatten(x), [(2, 3, 4)], None),
    "permute_dims": (lambda x: relax.op.permute_dims(x, [0, 2, 3, 1]), [(1, 2, 3, 4)], None),
    "layout_transform": (lambda x: relax.op.layout_transform(x, lambda n, c, h, w: (n, h, w, c)),
                         [(1, 2, 3, 4)], None),
    "expand_dims": (lambda x: relax.op.expand_dims(x, [1, -1]), [(2, 3)], None),
    "squeeze": (lambda x: relax.op.squeeze(x, [1, 3]), [(2, 1, 3, 1)], None),
    "concat": (lambda x, y: relax.op.concat([x, y], axis=-1), [(2, 3), (2, 5)], None),
    "split": (lambda x: relax.op.split(x, [2, 5], axis=1), [(2, 7)], 1),
    "strided_slice": (lambda x: relax.op.strided_slice(x, [1, 2], [1, 0], [5, 8], [2, 3]), [(2, 6, 8)], None),
    "nn.pad": (lambda x: relax.op.nn.pad(x, [0, 0, 0, 0, 1, 2, 2, 1], "constant", 0.5), [(1, 2, 4, 5)], None),
    "nn.softmax": (lambda x: relax.op.nn.softmax(x, axis=1), [(2, 5, 3)], None),
    "sum": (lambda x: relax.op.sum(x, axis=[1], keepdims=False), [(2, 3, 4)], None),
    "prod": (lambda x: relax.op.prod(x, axis=[2], keepdims=True), [(2, 3, 4)], None),
    "max": (lambda x: relax.op.max(x, axis=[2, 3], keepdims=True), [(1, 3, 4, 5)], None),
    "min": (lambda x: relax.op.min(x, axis=[-1, 1], keepdims=False), [(2, 3, 4)], None),
    "mean": (lambda x: relax.op.mean(x, axis=[2, 3], keepdims=True), [(1, 3, 4, 5)], None),
    "variance": (lambda x: relax.op.variance(x, axis=[2, 3], keepdims=True), [(1, 3, 4, 5)], None),
    # selection, comparison, cast and element-wise ops
    "where": (lambda c, x, y: relax.op.where(c, x, y), [(2, 3, 4), (2, 3, 4), (2, 1, 4)], None,
              ("bool", "float32", "float32")),
    "equal": (lambda x, y: relax.op.equal(x, y), [(2, 5), (2, 5)], None, "int32"),
    "not_equal": (lambda x, y: relax.op.not_equal(x, y), [(2, 5), (2, 1)], None, "int32"),
    "less": (lambda x, y: relax.op.less(x, y), [(2, 3, 4), (2, 3, 4)], None),
    "less_equal": (lambda x, y: relax.op.less_equal(x, y), [(3, 4), (3, 4)], None, "int64"),
    "greater": (lambda x: relax.op.greater(x, const(4)), [(2, 3, 4)], None),
    "greater_equal": (lambda x, y: relax.op.greater_equal(x, y), [(2, 4), (2, 4)], None),
    "logical_and": (lambda x, y: relax.op.logical_and(x, y), [(2, 5), (2, 5)], None, "bool"),
    "logical_or": (lambda x, y: relax.op.logical_or(x, y), [(2, 3, 4), (2, 1, 4)], None, "bool"),
    "logical_xor": (lambda x, y: relax.op.logical_xor(x, y), [(2, 5), (2, 5)], None, "bool"),
    "logical_not": (lambda x: relax.op.logical_not(x), [(2, 5)], None, "bool"),
    "isnan": (lambda x: relax.op.isnan(x), [(2, 5)], None),
    "isinf": (lambda x: relax.op.isinf(x), [(2, 5)], None),
    "isfinite": (lambda x: relax.op.isfinite(x), [(2, 5)], None),
    "tril": (lambda x: relax.op.tril(x), [(2, 4, 5)], None),
    "triu": (lambda x: relax.op.triu(x, 1), [(2, 5, 4)], None),
    "astype": (lambda x: relax.op.astype(x, "int32"), [(2, 3, 4)], None),
    "broadcast_to": (lambda x: relax.op.broadcast_to(x, (2, 3, 4)), [(2, 1, 4)], None),
    "tile": (lambda x: relax.op.tile(x, (1, 2, 3)), [(2, 3, 4)], None),
    "nn.gelu": (lambda x: relax.op.nn.gelu(x), [(2, 3, 4)], None),
    "nn.gelu_tanh": (lambda x: relax.op.nn.gelu_tanh(x), [(2, 3, 4)], None),
    "nn.silu": (lambda x: relax.op.nn.silu(x), [(2, 3, 4)], None),
    "nn.selu": (lambda x: relax.op.nn.selu(x), [(2, 3, 4)], None),
    "nn.softplus": (lambda x: relax.op.nn.softplus(x, beta=2.0, threshold=1.0), [(2, 3, 4)], None),
    "nn.prelu": (lambda x: relax.op.nn.prelu(x, const(3)), [(2, 3, 4, 4)], None),
    "floor_divide": (lambda x, y: relax.op.floor_divide(x, y), [(2, 3, 4), (2, 3, 4)], None),
    "floor_mod": (lambda x: relax.op.floor_mod(x, relax.const(np.array([3, -2, 5, 2, -3], "int32"))), [(2, 5)],
                  None, "int32"),
    "mod": (lambda x: relax.op.mod(x, relax.const(np.array([3, -2, 5, 2, -3]), "int64")), [(2, 5)], None, "int64"),
    "tan": (lambda x: relax.op.tan(x), [(2, 3, 4)], None),
    "sinh": (lambda x: relax.op.sinh(x), [(2, 3, 4)], None),
    "cosh": (lambda x: relax.op.cosh(x), [(2, 3, 4)], None),
    "asin": (lambda x: relax.op.asin(x), [(2, 3, 4)], None),
    "acos": (lambda x: relax.op.acos(x), [(2, 3, 4)], None),
    "asinh": (lambda x: relax.op.asinh(x), [(2, 3, 4)], None),
    "acosh": (lambda x: relax.op.acosh(x), [(2, 3, 4)], None),
    "atanh": (lambda x: relax.op.atanh(x), [(2, 3, 4)], None),
    "rsqrt": (lambda x: relax.op.rsqrt(x), [(2, 3, 4)], None),
    "square": (lambda x: relax.op.square(x), [(2, 3, 4)], None),
    "round": (lambda x: relax.op.round(x), [(2, 3, 4)], None),
    "sign": (lambda x: relax.op.sign(x), [(2, 3, 4)], None),
    # gather, resize, scan, einsum and normalisation ops
    "take": (lambda x: relax.op.take(x, ints([2, 0, 2, 1]), axis=1), [(2, 3, 4)], None),
    "gather_elements": (lambda x: relax.op.gather_elements(x, ints([[[3, 0], [1, 1], [2, 0]]] * 2), axis=2),
                        [(2, 3, 4)], None),
    "scatter_nd": (lambda x, u: relax.op.scatter_nd(x, ints([[1, 0], [0, 2], [2, 3]]), u),
                   [(3, 4, 5), (3, 5)], None),
    "gather_nd": (lambda x: relax.op.gather_nd(x, ints([[[0, 1], [2, 3]], [[1, 0], [2, 2]]]), batch_dims=1),
                  [(2, 3, 4)], None),
    "image.resize2d": (lambda x: relax.op.image.resize2d(x, (6, 10), method="linear"), [(1, 2, 3, 5)], None),
    "cumsum": (lambda x: relax.op.cumsum(x, axis=1), [(2, 5, 3)], None),
    "einsum": (lambda x, y: relax.op.einsum((x, y), "bij,bjk->bik"), [(2, 3, 4), (2, 4, 5)], None),
    "nn.group_norm": (lambda x: relax.op.nn.group_norm(x, const(4, positive=True), const(4), num_groups=2,
                                                       channel_axis=1, axes=[2, 3]), [(2, 4, 3, 3)], None),
    "nn.instance_norm": (lambda x: relax.op.nn.instance_norm(x, const(3, positive=True), const(3), channel_axis=1,
                                                             axes=[2, 3]), [(2, 3, 4, 4)], None),
    "nn.rms_norm": (lambda x: relax.op.nn.rms_norm(x, const(8, positive=True), axes=-1), [(2, 3, 8)], None),
    "topk": (lambda x: relax.op.topk(x, 2, axis=1), [(2, 5, 3)], 0),
    "argmax": (lambda x: relax.op.argmax(x, axis=1), [(2, 5, 3)], None),
    "argmin": (lambda x: relax.op.argmin(x, axis=-1, keepdims=True), [(2, 3, 5)], None),
    "nn.dropout": (lambda x: relax.op.nn.dropout(x, 0.3), [(2, 3, 4)], 0),
}

EXPLICIT = {"use_implicit_batch": False}

# Awkward attribute cases and cases offloaded only with other options:
# id -> (op name, make, input shapes, tuple field or None, partition options[, input dtype(s)])
EXTRA_SAMPLES = {
    "add lower-rank tensor (explicit batch)": ("add", lambda x, y: relax.op.add(x, y), [(2, 3, 4), (3, 1)], None,
                                               EXPLICIT),
    "add lower-rank constant": ("add", lambda x: relax.op.add(x, const(3, 1)), [(2, 3, 4)], None, {}),
    "power of a tensor": ("power", lambda x, y: relax.op.power(x, y), [(2, 3), (2, 3)], None, {}),
    "flatten to 1-D (explicit batch)": ("flatten", lambda x: relax.op.flatten(x), [(2, 3, 4)], None, EXPLICIT),
    "conv1d dilated, asymmetric padding": (
        "nn.conv1d", lambda x: relax.op.nn.conv1d(x, const(3, 3, 2), padding=(0, 3), dilation=3), [(2, 3, 9)],
        None, {}),
    "conv2d asymmetric padding, stride, dilation, groups": (
        "nn.conv2d", lambda x: relax.op.nn.conv2d(x, const(8, 2, 3, 2), strides=(2, 3), padding=(0, 2, 1, 0),
                                                  dilation=(2, 1), groups=4), [(1, 8, 11, 12)], None, {}),
    "conv3d groups, asymmetric padding": (
        "nn.conv3d", lambda x: relax.op.nn.conv3d(x, const(4, 1, 2, 3, 2), padding=(0, 1, 1, 1, 0, 0), groups=2),
        [(1, 2, 4, 5, 6)], None, {}),
    "conv2d_transpose groups, asymmetric padding": (
        "nn.conv2d_transpose", lambda x: relax.op.nn.conv2d_transpose(
            x, const(4, 2, 3, 2), strides=(2, 3), padding=(1, 0, 2, 1), output_padding=(1, 0), groups=2),
        [(1, 4, 4, 5)], None, {}),
    "conv3d_transpose output_padding": (
        "nn.conv3d_transpose", lambda x: relax.op.nn.conv3d_transpose(
            x, const(2, 2, 3, 3, 3), strides=2, padding=1, output_padding=(1, 0, 1)), [(1, 2, 3, 3, 4)], None, {}),
    "max_pool2d ceil_mode": ("nn.max_pool2d", lambda x: relax.op.nn.max_pool2d(x, (3, 3), strides=(2, 2),
                                                                               ceil_mode=True), [(1, 2, 8, 8)],
                             None, {}),
    "avg_pool2d ceil_mode, padding excluded": (
        "nn.avg_pool2d", lambda x: relax.op.nn.avg_pool2d(x, (3, 3), strides=(2, 2), padding=(1, 1, 1, 1),
                                                          ceil_mode=True), [(1, 2, 8, 8)], None, {}),
    "avg_pool2d asymmetric padding, excluded": (
        "nn.avg_pool2d", lambda x: relax.op.nn.avg_pool2d(x, (2, 3), strides=(1, 2), padding=(0, 1, 1, 2)),
        [(1, 3, 6, 7)], None, {}),
    "avg_pool3d as ONNX LRN imports it": (
        "nn.avg_pool3d", lambda x: relax.op.nn.avg_pool3d(x, (5, 1, 1), padding=(2, 0, 0, 2, 0, 0),
                                                          count_include_pad=True), [(1, 1, 6, 4, 4)], None, {}),
    "max_pool3d padding, ceil_mode": (
        "nn.max_pool3d", lambda x: relax.op.nn.max_pool3d(x, (3, 3, 2), strides=(2, 2, 2), padding=1, ceil_mode=True),
        [(1, 2, 6, 7, 6)], None, {}),
    "global average pool as adaptive_avg_pool2d": (
        "nn.adaptive_avg_pool2d", lambda x: relax.op.nn.adaptive_avg_pool2d(x, 1), [(2, 3, 5, 7)], None, {}),
    "batch_norm rank 2": ("nn.batch_norm", lambda x: relax.op.nn.batch_norm(
        x, const(3, positive=True), const(3), const(3), const(3, positive=True), axis=1, training=False), [(4, 3)],
        0, {}),
    "batch_norm channels last, no scale/center": ("nn.batch_norm", lambda x: relax.op.nn.batch_norm(
        x, const(5), const(5), const(5), const(5, positive=True), axis=-1, center=False, scale=False,
        training=False),
        [(2, 3, 4, 5)], 0, {}),
    "layer_norm two axes, computed gamma": (
        "nn.layer_norm", lambda x, g: relax.op.nn.layer_norm(x, g, const(3, 4), axes=[1, 2]), [(2, 3, 4), (3, 4)],
        None, EXPLICIT),
    "softmax negative axis": ("nn.softmax", lambda x: relax.op.nn.softmax(x, axis=-2), [(2, 5, 3)], None, {}),
    "softmax over the batch (explicit batch)": ("nn.softmax", lambda x: relax.op.nn.softmax(x, axis=0), [(3, 4)],
                                                None, EXPLICIT),
    "matmul vector": ("matmul", lambda x: relax.op.matmul(x, const(5)), [(3, 5)], None, {}),
    "matmul both computed, batched": ("matmul", lambda x, y: relax.op.matmul(x, y), [(2, 3, 4), (2, 4, 5)], None,
                                      {}),
    "matmul batch broadcast (explicit batch)": ("matmul", lambda x, y: relax.op.matmul(x, y),
                                                [(2, 1, 3, 4), (3, 4, 2)], None, EXPLICIT),
    "sum of everything (explicit batch)": ("sum", lambda x: relax.op.sum(x), [(2, 3)], None, EXPLICIT),
    "sum of int64": ("sum", lambda x: relax.op.sum(x, axis=[1]), [(2, 3)], None, {}, "int64"),
    "max of int32": ("max", lambda x: relax.op.max(x, axis=[1], keepdims=True), [(2, 3)], None, {}, "int32"),
    "mean negative axes, no keepdims": ("mean", lambda x: relax.op.mean(x, axis=[-1, 1], keepdims=False),
                                        [(2, 3, 4, 5)], None, {}),
    "permute_dims reversed (explicit batch)": ("permute_dims", lambda x: relax.op.permute_dims(x), [(2, 3, 4)], None,
                                               EXPLICIT),
    "permute_dims inverse-sensitive": ("permute_dims", lambda x: relax.op.permute_dims(x, [0, 3, 1, 2]),
                                       [(2, 3, 4, 5)], None, {}),
    "layout_transform NHWC to NCHW": ("layout_transform", lambda x: relax.op.layout_transform(
        x, lambda n, h, w, c: (n, c, h, w)), [(1, 3, 4, 2)], None, {}),
    "squeeze without axis": ("squeeze", lambda x: relax.op.squeeze(x), [(2, 1, 3, 1)], None, {}),
    "expand_dims at the front (explicit batch)": ("expand_dims", lambda x: relax.op.expand_dims(x, 0), [(2, 3)], None,
                                                  EXPLICIT),
    "concat negative axis, 3 inputs": ("concat", lambda x, y, z: relax.op.concat([x, y, z], axis=-3),
                                       [(1, 2, 3, 4), (1, 1, 3, 4), (1, 3, 3, 4)], None, {}),
    "concat with a constant (explicit batch)": ("concat", lambda x: relax.op.concat([x, const(2, 2)], axis=1),
                                                [(2, 3)], None, EXPLICIT),
    "split in equal sections": ("split", lambda x: relax.op.split(x, 3, axis=-1), [(2, 3, 6)], 2, {}),
    "split over the batch (explicit batch)": ("split", lambda x: relax.op.split(x, 2, axis=0), [(4, 3)], 0, EXPLICIT),
    "strided_slice negative stride, clamped end": (
        "strided_slice", lambda x: relax.op.strided_slice(x, [2, 1], [7, 0], [0, 100], [-3, 1]), [(2, 6, 8)], None,
        {}),
    "strided_slice over the batch (explicit batch)": (
        "strided_slice", lambda x: relax.op.strided_slice(x, [0], [1], [3]), [(4, 5)], None, EXPLICIT),
    "pad reflect": ("nn.pad", lambda x: relax.op.nn.pad(x, [0, 0, 0, 0, 2, 1, 0, 3], "reflect"), [(1, 2, 4, 5)], None,
                    {}),
    "pad replicate": ("nn.pad", lambda x: relax.op.nn.pad(x, [0, 0, 1, 0, 3, 2, 1, 1], "replicate"), [(1, 2, 3, 4)],
                      None, {}),
    "pad circular": ("nn.pad", lambda x: relax.op.nn.pad(x, [0, 0, 0, 0, 3, 1, 2, 4], "circular"), [(1, 2, 3, 4)],
                     None, {}),
    "pad the batch (explicit batch)": ("nn.pad", lambda x: relax.op.nn.pad(x, [1, 0, 0, 2], "constant", -1.0),
                                       [(2, 3)], None, EXPLICIT),
    "reshape that changes the batch (explicit batch)": ("reshape", lambda x: relax.op.reshape(x, (3, 4)), [(2, 6)],
                                                        None, EXPLICIT),
    # selection, comparison, cast and element-wise ops
    "where with a lower-rank condition and a scalar": (
        "where", lambda c, x: relax.op.where(c, x, relax.const(0.5, "float32")), [(4,), (2, 3, 4)], None, EXPLICIT,
        ("bool", "float32")),
    "less_equal on int64, broadcast": ("less_equal", lambda x, y: relax.op.less_equal(x, y), [(2, 3, 4), (3, 1)],
                                       None, EXPLICIT, "int64"),
    "not_equal on int64 with a constant": (
        "not_equal", lambda x: relax.op.not_equal(x, relax.const(np.array([0, 1, -1]), "int64")), [(4, 3)], None, {},
        "int64"),
    "astype float32 to int32 (truncates)": ("astype", lambda x: relax.op.astype(x, "int32"), [(3, 8)], None, {}),
    "astype int64 to float32": ("astype", lambda x: relax.op.astype(x, "float32"), [(3, 8)], None, {}, "int64"),
    "astype float32 to bool": ("astype", lambda x: relax.op.astype(x, "bool"), [(3, 8)], None, {}),
    "astype bool to float16": ("astype", lambda x: relax.op.astype(x, "float16"), [(3, 8)], None, {}, "bool"),
    "astype int64 to int32": ("astype", lambda x: relax.op.astype(x, "int32"), [(3, 8)], None, {}, "int64"),
    "tril k = -1": ("tril", lambda x: relax.op.tril(x, -1), [(2, 5, 5)], None, {}),
    "triu k = 2, wide": ("triu", lambda x: relax.op.triu(x, 2), [(1, 3, 6)], None, {}),
    "tril of int32, rank 2 (explicit batch)": ("tril", lambda x: relax.op.tril(x, 1), [(4, 3)], None, EXPLICIT,
                                               "int32"),
    "tile repeats on several axes, a leading one added": ("tile", lambda x: relax.op.tile(x, (2, 1, 3, 2)),
                                                          [(2, 3, 4)], None, {}),
    "tile of bool": ("tile", lambda x: relax.op.tile(x, (2, 2)), [(2, 3)], None, {}, "bool"),
    "broadcast_to adding leading dims": ("broadcast_to", lambda x: relax.op.broadcast_to(x, (2, 4, 3, 5)),
                                         [(3, 1)], None, {}),
    "floor_divide int32 by signed constants": (
        "floor_divide", lambda x: relax.op.floor_divide(x, relax.const(np.array([3, -2, 5], "int32"))), [(4, 3)],
        None, {}, "int32"),
    "floor_mod of floats": ("floor_mod", lambda x, y: relax.op.floor_mod(x, y), [(2, 3, 4), (2, 3, 4)], None, {}),
    "sign of int64": ("sign", lambda x: relax.op.sign(x), [(3, 4)], None, {}, "int64"),
    "abs of int32": ("abs", lambda x: relax.op.abs(x), [(3, 4)], None, {}, "int32"),
    "square of int64": ("square", lambda x: relax.op.square(x), [(3, 4)], None, {}, "int64"),
    "prelu channels last": ("nn.prelu", lambda x: relax.op.nn.prelu(x, const(5), axis=-1), [(2, 3, 5)], None, {}),
    # gather, resize, scan, einsum and normalisation ops
    "take from 1-D data, axis=None (explicit batch)": ("take", lambda x: relax.op.take(x, ints([4, 0, 4])), [(5,)],
                                                       None, EXPLICIT),
    "take a scalar index, int32": ("take", lambda x: relax.op.take(x, ints(2, "int32"), axis=2), [(2, 3, 4)], None,
                                   {}),
    "take of int64 data, computed indices": ("take", lambda x, i: relax.op.take(x, i, axis=1, mode="clip"),
                                             [(3, 4), (3,)], None, {}, "int64"),
    "gather_nd over the batch (explicit batch)": ("gather_nd", lambda x: relax.op.gather_nd(x, ints([[1, 2], [0, 0]])),
                                                  [(2, 3, 4)], None, EXPLICIT),
    "cumsum of everything (explicit batch)": ("cumsum", lambda x: relax.op.cumsum(x), [(2, 3)], None, EXPLICIT),
    "cumsum of int32": ("cumsum", lambda x: relax.op.cumsum(x, axis=-1, exclusive=True), [(2, 6)], None, {},
                        "int32"),
    "einsum transposing one operand (explicit batch)": ("einsum", lambda x: relax.op.einsum((x,), "ij->ji"),
                                                        [(2, 3)], None, EXPLICIT),
    "topk on 1-D data, int64 indices (explicit batch)": (
        "topk", lambda x: relax.op.topk(x, 2, axis=0, dtype="int64"), [(6,)], 1, EXPLICIT),
    "topk of int32 data": ("topk", lambda x: relax.op.topk(x, 3, axis=-1, largest=False), [(2, 7)], 0, {},
                           "int32"),
    "argmax of everything (explicit batch)": ("argmax", lambda x: relax.op.argmax(x), [(2, 3)], None, EXPLICIT),
    "argmin of everything, keepdims (explicit batch)": ("argmin", lambda x: relax.op.argmin(x, keepdims=True),
                                                        [(2, 3)], None, EXPLICIT),
    "dropout mask": ("nn.dropout", lambda x: relax.op.nn.dropout(x, 0.1), [(2, 3)], 1, {}),
}

def sample(op_name: str) -> tuple:
    """(make, shapes, field, dtype) of a SAMPLES entry."""
    make, shapes, field, *dtype = SAMPLES[op_name]
    return make, shapes, field, dtype[0] if dtype else "float32"


_N = SizeVar("n", "int64")

# Ops that only appear on symbolic sizes (on static ones they fold to constants before
# partitioning): op name -> (make, input shapes, input dtype), run in explicit-batch mode with a
# range for n (tests/test_sizes.py).
SIZE_SAMPLES = {
    "arange": (lambda x: relax.op.add(x, relax.op.expand_dims(relax.op.arange(0, _N, 1, dtype="int64"), -1)),
               [(_N, 3)], "int64"),
    "shape_to_tensor": (lambda x: relax.op.add(x, relax.op.shape_to_tensor(relax.ShapeExpr([_N, 2 * _N]))),
                        [(_N, 2)], "int64"),
}


def sample_module(op_name: str) -> tvm.IRModule:
    make, shapes, field, dtype = sample(op_name)
    return single_op_module(make, *shapes, dtype=dtype, field=field)


def extra_sample_module(case_id: str) -> tuple:
    """(op name, module, partition options) of an EXTRA_SAMPLES case."""
    op_name, make, shapes, field, options, *dtype = EXTRA_SAMPLES[case_id]
    return op_name, single_op_module(make, *shapes, dtype=dtype[0] if dtype else "float32", field=field), dict(options)


def random_array(rng, shape, dtype: str) -> np.ndarray:
    """Standard normal floats; small integers (equal values and both signs are common); fair bools."""
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith("int"):
        return rng.integers(-4, 5, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def random_inputs(mod: tvm.IRModule, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [random_array(rng, [int(d) for d in p.ty.shape.values], str(p.ty.dtype)) for p in mod["main"].params]


def run_tvm(mod_or_executable, inputs) -> list:
    """Run `main` on the CPU; returns a list of numpy outputs."""
    executable = mod_or_executable
    if isinstance(mod_or_executable, tvm.IRModule):
        executable = tvm.compile(mod_or_executable, target="llvm")
    vm = relax.VirtualMachine(executable, tvm.cpu())
    out = vm["main"](*[tvm.runtime.tensor(a) for a in inputs])
    return [out.numpy()] if hasattr(out, "numpy") else [o.numpy() for o in out]


def offloaded_ops(mod: tvm.IRModule) -> dict:
    """{symbol: [relax op names]} for every function marked Codegen="tensorrt"."""
    found = {}
    for gv, func in mod.functions.items():
        if isinstance(func, relax.Function) and func.attrs and func.attrs.get("Codegen") == "tensorrt":
            ops = []
            relax.analysis.post_order_visit(
                func, lambda e: ops.append(e.op.name) if isinstance(e, relax.Call) and isinstance(e.op, tvm.ir.Op)
                else None)
            found[str(func.attrs["global_symbol"])] = ops
    return found


def main_ops(mod: tvm.IRModule) -> list:
    ops = []
    relax.analysis.post_order_visit(
        mod["main"], lambda e: ops.append(e.op.name) if isinstance(e, relax.Call) and isinstance(e.op, tvm.ir.Op)
        else None)
    return ops


# Asymmetric quantization (a zero point other than 0, uint8): dequantized in float by the engine
# (tests/test_asymmetric_qdq.py has the quantize side, which needs its partner dequantize).
EXTRA_SAMPLES.update({
    "dequantize of uint8 with zero points, per channel": (
        "dequantize", lambda x: relax.op.dequantize(x, relax.const(np.array([0.02, 0.5, 0.1], "float32")),
                                                    relax.const(np.array([128, 3, 250], "uint8"), "uint8"), axis=1),
        [(2, 3, 4)], None, {}, "uint8"),
    "dequantize of int8 weights with zero points (folded to float weights)": (
        "dequantize", lambda x: relax.op.matmul(x, relax.op.dequantize(
            ints(RNG.integers(-128, 128, (5, 3)), "int8"), relax.const(np.array([0.02, 0.03, 0.05], "float32")),
            relax.const(np.array([1, -7, 0], "int8"), "int8"), axis=1)), [(2, 4, 5)], None, {}),
})
