"""Every built-in rule fires on its op; rejections carry a reason naming what to change."""

import numpy as np
import pytest
from tvm import relax
from tvm.ir.prim.expr import Var as SizeVar

import tvm_tensorrt
from tvm_tensorrt.partition import registered_rule_names
from op_samples import (EXTRA_SAMPLES, SAMPLES, SIZE_SAMPLES, const, extra_sample_module, main_ops, offloaded_ops, sample_module,
                        single_op_module, ints)


def test_every_rule_has_a_sample():
    assert sorted(list(SAMPLES) + list(SIZE_SAMPLES)) == registered_rule_names()


@pytest.mark.parametrize("op_name", sorted(SAMPLES))
def test_rule_offloads_its_op(op_name):
    mod, config = tvm_tensorrt.partition_for_tensorrt(sample_module(op_name))
    offloaded = offloaded_ops(mod)
    assert list(offloaded) == ["tensorrt_0"] and f"relax.{op_name}" in offloaded["tensorrt_0"]
    assert f"relax.{op_name}" not in main_ops(mod)
    report = tvm_tensorrt.explain(sample_module(op_name))
    [decision] = [d for d in report.decisions if d.op == f"relax.{op_name}"]
    assert decision.offloaded and decision.subgraph == "tensorrt_0" and decision.reason is None


@pytest.mark.parametrize("case_id", sorted(EXTRA_SAMPLES))
def test_extra_sample_is_offloaded(case_id):
    op_name, mod, options = extra_sample_module(case_id)
    report = tvm_tensorrt.explain(mod, **options)
    assert all(d.offloaded for d in report.decisions), report.to_table()
    assert f"relax.{op_name}" in {d.op for d in report.decisions}


def decision_for(mod, op, **options):
    report = tvm_tensorrt.explain(mod, **options)
    [decision] = [d for d in report.decisions if d.op == op]
    return decision


def transposed_conv(x, **kwargs):
    return relax.op.nn.conv2d_transpose(x, const(2, 3, 3, 3), **kwargs)


# (id, make, input shapes, op, expected text in the reason, partition options)
REJECTIONS = [
    ("NHWC pooling with no convolution to convert", lambda x: relax.op.nn.max_pool2d(x, (2, 2), layout="NHWC"),
     [(1, 4, 4, 2)], "relax.nn.max_pool2d", "layout is NHWC", {}),
    ("computed conv1d weight", lambda x, w: relax.op.nn.conv1d(x, w), [(1, 2, 5), (3, 2, 3)],
     "relax.nn.conv1d", "conv1d weight is computed; TensorRT takes a computed kernel only", {}),
    ("computed conv3d weight, implicit batch", lambda x, w: relax.op.nn.conv3d(x, w),
     [(1, 2, 3, 3, 3), (3, 2, 1, 1, 1)], "relax.nn.conv3d", "in explicit batch mode",
     {"version": (8, 6, 1), "use_implicit_batch": True}),
    ("conv1d out_dtype", lambda x: relax.op.nn.conv1d(x, const(2, 2, 1), out_dtype="float16"), [(1, 2, 4)],
     "relax.nn.conv1d", "out_dtype float16 differs", {}),
    ("training batch_norm", lambda x: relax.op.nn.batch_norm(x, const(3), const(3), const(3), const(3, positive=True),
                                                             axis=1, training=True),
     [(1, 3, 4, 4)], "relax.nn.batch_norm", "training mode", {}),
    ("rank-5 batch_norm before 6.0.1", lambda x: relax.op.nn.batch_norm(
        x, const(2), const(2), const(2), const(2, positive=True), axis=1, training=False), [(1, 2, 2, 2, 2)],
     "relax.nn.batch_norm", "batch_norm of a rank-5 input needs TensorRT >= 6.0.1", {"version": (6, 0, 0)}),
    ("dilated pool", lambda x: relax.op.nn.max_pool2d(x, (2, 2), dilation=(2, 2)), [(1, 2, 8, 8)],
     "relax.nn.max_pool2d", "dilation", {}),
    ("pool padding as large as the window", lambda x: relax.op.nn.avg_pool2d(x, (2, 2), padding=(2, 0, 0, 0)),
     [(1, 2, 8, 8)], "relax.nn.avg_pool2d", "must be smaller than the window", {}),
    ("ceil_mode window Relax drops", lambda x: relax.op.nn.max_pool2d(x, (2, 2), strides=(2, 2), padding=(1, 1, 1, 1),
                                                                      ceil_mode=True),
     [(1, 2, 5, 5)], "relax.nn.max_pool2d", "TensorRT rounds up to 4", {}),
    ("ceil_mode before 5.1.5", lambda x: relax.op.nn.max_pool2d(x, (3, 3), strides=(2, 2), ceil_mode=True),
     [(1, 2, 8, 8)], "relax.nn.max_pool2d", "ceil_mode=True needs TensorRT >= 5.1.5, but the target is TensorRT 5.1.4",
     {"version": (5, 1, 4)}),
    ("ceil_mode counting padding past the end", lambda x: relax.op.nn.avg_pool2d(
        x, (3, 3), strides=(2, 2), padding=(1, 1, 1, 1), ceil_mode=True, count_include_pad=True), [(1, 2, 8, 8)],
     "relax.nn.avg_pool2d", "where TVM and TensorRT count differently", {}),
    ("asymmetric padding counted, before TensorRT 10", lambda x: relax.op.nn.avg_pool2d(
        x, (2, 2), padding=(0, 0, 1, 1), count_include_pad=True), [(1, 2, 6, 6)], "relax.nn.avg_pool2d",
     "asymmetric padding needs TensorRT >= 10.0.0", {"version": (8, 6, 1)}),
    ("uneven adaptive pool", lambda x: relax.op.nn.adaptive_avg_pool2d(x, (3, 3)), [(1, 2, 8, 8)],
     "relax.nn.adaptive_avg_pool2d", "multiple of the output size", {}),
    ("dilated conv2d_transpose", lambda x: transposed_conv(x, dilation=2), [(1, 2, 4, 4)], "relax.nn.conv2d_transpose",
     "dilation (2, 2) is not supported", {}),
    ("output_padding past the end padding", lambda x: transposed_conv(x, strides=2, output_padding=1), [(1, 2, 4, 4)],
     "relax.nn.conv2d_transpose", "output_padding (1, 1) exceeds the end padding (0, 0)", {}),
    ("layer_norm without scale", lambda x: relax.op.nn.layer_norm(x, const(4), const(4), axes=-1, scale=False),
     [(2, 4)], "relax.nn.layer_norm", "applies gamma and beta anyway", {}),
    ("layer_norm axes out of order", lambda x: relax.op.nn.layer_norm(x, const(4, 3), const(4, 3), axes=[2, 1]),
     [(2, 3, 4)], "relax.nn.layer_norm", "increasing order", {}),
    ("layout_transform that splits an axis", lambda x: relax.op.layout_transform(
        x, lambda n, c, h, w: (n, c // 2, h, w, c % 2)), [(1, 4, 2, 2)], "relax.layout_transform",
     "is not a permutation", {}),
    ("empty strided_slice", lambda x: relax.op.strided_slice(x, [1], [2], [2]), [(2, 3)], "relax.strided_slice",
     "selects nothing on axis 1", {}),
    ("cropping pad", lambda x: relax.op.nn.pad(x, [0, 0, -1, 0]), [(2, 3)], "relax.nn.pad", "negative pad widths", {}),
    ("reflect pad as wide as the axis", lambda x: relax.op.nn.pad(x, [0, 0, 0, 3], "reflect"), [(2, 3)],
     "relax.nn.pad", "reflect padding 3 on axis 1 must be smaller than its size 3", {}),
    ("circular pad wider than the axis", lambda x: relax.op.nn.pad(x, [0, 0, 4, 0], "circular"), [(2, 3)],
     "relax.nn.pad", "circular padding 4 on axis 1 must not exceed its size 3", {}),
    ("flattening concat", lambda x, y: relax.op.concat([x, y], axis=None), [(3,), (2,)], "relax.concat",
     "axis=None", {"use_implicit_batch": False}),
    ("matmul out_dtype", lambda x: relax.op.matmul(x, const(3, 2), out_dtype="float16"), [(2, 3)], "relax.matmul",
     "out_dtype float16 differs", {}),
    ("op without a rule", lambda x: relax.op.cumprod(x, axis=1), [(2, 3)], "relax.cumprod",
     "no TensorRT rule is registered for relax.cumprod", {}),
    # selection, comparison, cast and element-wise ops
    ("comparison of bool masks", lambda x: relax.op.equal(relax.op.astype(x, "bool"), relax.op.astype(x, "bool")),
     [(2, 3)], "relax.equal", "input 0 has dtype bool; comparisons in TensorRT take", {}),
    ("comparison before TensorRT 10", lambda x, y: relax.op.less(x, y), [(2, 3), (2, 3)], "relax.less",
     "needs TensorRT >= 10.0.0, but the target is TensorRT 8.6.1", {"version": (8, 6, 1)}),
    ("isnan of integers", lambda x: relax.op.isnan(relax.op.astype(x, "int32")), [(2, 3)], "relax.isnan",
     "input 0 has dtype int32; ISNAN and ISINF in TensorRT take", {}),
    ("float mod", lambda x, y: relax.op.mod(x, y), [(2, 3), (2, 3)], "relax.mod", "mod of float32 tensors is fmod", {}),
    ("where broadcasting a lower-rank condition over a symbolic batch",
     lambda c, x: relax.op.where(relax.op.astype(c, "bool"), x, x), [(3,), (SizeVar("n", "int64"), 3)],
     "relax.where", "input 0 has rank 1 < 2", {"use_implicit_batch": True}),
    ("tril of a rank-2 input over a symbolic batch", lambda x: relax.op.tril(x), [(SizeVar("n", "int64"), 3)],
     "relax.tril", "tril of a rank-2 input masks axis 0, the batch dimension", {}),
    ("triu with a symbolic k", lambda x: relax.op.triu(x, relax.prim_value(x.ty.shape.values[0])),
     [(SizeVar("n", "int64"), 3, 3)], "relax.triu", "triu k = n is not known at compile time", {}),
    ("broadcast_to adding a batch dim", lambda x, y: relax.op.broadcast_to(x, y.ty.shape),
     [(4,), (SizeVar("n", "int64"), 4)], "relax.broadcast_to", "broadcast_to adds 1 leading dim(s)", {"use_implicit_batch": True}),
    ("tile repeating a symbolic batch", lambda x: relax.op.tile(x, (2, 1)), [(SizeVar("n", "int64"), 3)],
     "relax.tile", "tile repeats (2, 1) repeat axis 0, the batch dimension", {"use_implicit_batch": True}),
    ("tile to an empty tensor", lambda x: relax.op.tile(x, (1, 0)), [(2, 3)], "relax.tile",
     "make an empty tensor", {}),
    ("softplus with a negative beta", lambda x: relax.op.nn.softplus(x, beta=-1.0), [(2, 3)], "relax.nn.softplus",
     "which needs beta > 0", {}),
    ("prelu with a computed alpha over a symbolic batch", lambda x, a: relax.op.nn.prelu(x, a),
     [(SizeVar("n", "int64"), 3, 4), (3,)], "relax.nn.prelu", "prelu alpha is computed", {"use_implicit_batch": True}),
    # gather, resize, scan, einsum and normalisation ops
    ("take mode fast with a negative constant index", lambda x: relax.op.take(x, ints([0, -1]), axis=1), [(2, 3)],
     "relax.take", "take mode='fast' has constant index -1 outside [0, 3)", {}),
    ("take over a symbolic batch", lambda x: relax.op.take(x, ints([1, 0]), axis=0), [(SizeVar("n", "int64"), 3)],
     "relax.take", "take axis includes axis 0, the batch dimension", {"use_implicit_batch": True}),
    ("gather_elements index out of range", lambda x: relax.op.gather_elements(x, ints([[0, 3], [1, 2]]), axis=1),
     [(2, 3)], "relax.gather_elements", "constant index 3 outside [0, 3)", {}),
    ("gather_nd indexing a symbolic batch", lambda x: relax.op.gather_nd(x, ints([[1], [0]])),
     [(SizeVar("n", "int64"), 3)], "relax.gather_nd", "gather_nd with batch_dims=0 indexes into axis 0", {"use_implicit_batch": True}),
    ("resize2d NHWC", lambda x: relax.op.image.resize2d(x, (4, 4), layout="NHWC"), [(1, 2, 2, 3)],
     "relax.image.resize2d", "resize2d layout is NHWC", {}),
    ("resize2d tf_crop_and_resize", lambda x: relax.op.image.resize2d(
        x, (4, 4), coordinate_transformation_mode="tf_crop_and_resize"), [(1, 1, 3, 3)], "relax.image.resize2d",
     "tf_crop_and_resize has no TensorRT equivalent", {}),
    ("resize2d nearest round, halves both ways", lambda x: relax.op.image.resize2d(
        x, (5, 5), method="nearest_neighbor", coordinate_transformation_mode="align_corners"), [(1, 1, 3, 3)],
     "relax.image.resize2d", "include halves that go down and halves that go up", {}),
    ("resize2d align_corners to one row", lambda x: relax.op.image.resize2d(
        x, (1, 4), coordinate_transformation_mode="align_corners"), [(1, 1, 3, 3)], "relax.image.resize2d",
     "divides by zero in TVM", {}),
    ("resize2d out_dtype", lambda x: relax.op.image.resize2d(x, (4, 4), out_dtype="float16"), [(1, 1, 3, 3)],
     "relax.image.resize2d", "out_dtype float16 differs", {}),
    ("cumsum to another dtype", lambda x: relax.op.cumsum(x, axis=1, dtype="float16"), [(2, 3)], "relax.cumsum",
     "cumsum dtype float16 differs from its input dtype float32", {}),
    ("cumsum of everything over a symbolic batch", lambda x: relax.op.cumsum(x), [(SizeVar("n", "int64"), 3)],
     "relax.cumsum", "cumsum with axis=None flattens the data", {"use_implicit_batch": True}),
    ("einsum of three operands", lambda x: relax.op.einsum((x, x, x), "ij,jk,kl->il"), [(2, 2)], "relax.einsum",
     "has 3 operands; TensorRT's einsum takes at most 2", {}),
    ("einsum diagonal", lambda x: relax.op.einsum((x,), "ii->i"), [(3, 3)], "relax.einsum",
     "repeats a label within operand 0 (a diagonal)", {}),
    ("einsum broadcasting", lambda x, y: relax.op.einsum((x, y), "ij,ij->ij"), [(2, 3), (1, 3)], "relax.einsum",
     "broadcasts a label of sizes [1, 2]", {}),
    ("einsum summing a symbolic batch", lambda x, y: relax.op.einsum((x, y), "bi,bj->ij"),
     [(SizeVar("n", "int64"), 3), (SizeVar("n", "int64"), 4)], "relax.einsum",
     "operand 0's dim 0 is summed, not the output's batch dimension", {"use_implicit_batch": True}),
    ("group_norm channels last", lambda x: relax.op.nn.group_norm(x, const(4), const(4), num_groups=2,
                                                                  channel_axis=-1, axes=[1, 2]),
     [(1, 3, 3, 4)], "relax.nn.group_norm", "TensorRT normalises channel axis 1 over every later axis", {}),
    ("group_norm without center", lambda x: relax.op.nn.group_norm(x, const(4), const(4), num_groups=2,
                                                                   channel_axis=1, axes=[2], center=False),
     [(1, 4, 3)], "relax.nn.group_norm", "applies gamma and beta anyway", {}),
    ("instance_norm over one of two spatial axes", lambda x: relax.op.nn.instance_norm(
        x, const(2), const(2), channel_axis=1, axes=[2]), [(1, 2, 3, 4)], "relax.nn.instance_norm",
     "TensorRT normalises channel axis 1 over every later axis", {}),
    ("rms_norm axes out of order", lambda x: relax.op.nn.rms_norm(x, const(4, 3), axes=[2, 1]), [(2, 3, 4)],
     "relax.nn.rms_norm", "must be distinct and in increasing order", {}),
    ("rms_norm over the batch before TensorRT 10", lambda x: relax.op.nn.rms_norm(x, const(2, 3), axes=[0, 1]),
     [(2, 3)], "relax.nn.rms_norm", "rms_norm axes includes axis 0, the batch dimension", {"version": (8, 6, 1)}),
    ("topk k over TensorRT's limit", lambda x: relax.op.topk(x, 4000, axis=1), [(1, 5000)], "relax.topk",
     "topk k=4000 exceeds TensorRT's limit of 3840", {}),
    ("topk of int64 data", lambda x: relax.op.topk(relax.op.astype(x, "int64"), 1), [(2, 3)], "relax.topk",
     "topk of int64 data", {}),
    ("argmax of everything over a symbolic batch", lambda x: relax.op.argmax(x), [(SizeVar("n", "int64"), 3)],
     "relax.argmax", "argmax with axis=None flattens the data", {"use_implicit_batch": True}),
]


@pytest.mark.parametrize("case", REJECTIONS, ids=[c[0] for c in REJECTIONS])
def test_rejection_reason(case):
    _, make, shapes, op, expected, options = case
    mod = single_op_module(make, *shapes, field=0 if op == "relax.nn.batch_norm" else None)
    decision = decision_for(mod, op, **options)
    assert not decision.offloaded and decision.subgraph is None
    assert expected in decision.reason
    partitioned, _ = tvm_tensorrt.partition_for_tensorrt(mod, **options)
    assert op in main_ops(partitioned)


def test_nhwc_convolutions_are_converted_to_nchw_and_offloaded():
    """Partition preparation runs ConvertLayout, as the original did: the NHWC conv becomes an
    NCHW one between two transposes, all offloaded (the weight transpose is folded)."""
    mod = single_op_module(lambda x: relax.op.nn.conv2d(x, const(3, 3, 2, 4), data_layout="NHWC",
                                                        kernel_layout="HWIO"), (1, 5, 5, 2))
    report = tvm_tensorrt.explain(mod)
    assert all(d.offloaded for d in report.decisions), report.to_table()
    partitioned, _ = tvm_tensorrt.partition_for_tensorrt(mod)
    assert offloaded_ops(partitioned) == {"tensorrt_0": ["relax.permute_dims", "relax.nn.conv2d",
                                                        "relax.permute_dims"]}
    assert main_ops(partitioned) == []


def test_integer_dtype_is_offloaded_where_the_layer_takes_it_and_rejected_with_reason_elsewhere():
    assert decision_for(single_op_module(lambda x: relax.op.add(x, x), (2, 3), dtype="int32"), "relax.add").offloaded
    decision = decision_for(single_op_module(lambda x: relax.op.divide(x, x), (2, 3), dtype="int32"), "relax.divide")
    assert not decision.offloaded
    assert "dtype int32" in decision.reason and "float32/float16/bfloat16" in decision.reason


def test_dynamic_shape_is_rejected_with_reason():
    from tvm.ir.prim.expr import Var as SizeVar

    n = SizeVar("n", "int64")
    mod = single_op_module(lambda x: relax.op.nn.adaptive_avg_pool2d(x, (2, 2)), (1, 3, n, 8))
    reason = decision_for(mod, "relax.nn.adaptive_avg_pool2d").reason  # its window comes from the sizes
    assert "dynamic shape (1, 3, n, 8)" in reason and "converter needs static shapes" in reason


def test_symbolic_batch_passes_in_both_modes():
    """Explicit mode too: a converter that needs static shapes copes with a symbolic dim 0 while
    the op leaves axis 0 alone, so there the implicit-batch limits bind it (and name why)."""
    from tvm.ir.prim.expr import Var as SizeVar

    n = SizeVar("n", "int64")
    mod = single_op_module(lambda x: relax.op.nn.conv2d(x, const(4, 3, 3, 3), padding=1), (n, 3, 8, 8))
    assert decision_for(mod, "relax.nn.conv2d").offloaded
    assert decision_for(mod, "relax.nn.conv2d", use_implicit_batch=False).offloaded
    mod = single_op_module(lambda x: relax.op.nn.pad(x, [1, 0, 0, 0]), (n, 3))
    reason = decision_for(mod, "relax.nn.pad", use_implicit_batch=False).reason
    assert "axis 0" in reason and "converter needs axis 0 left alone when the batch is symbolic" in reason


def test_ops_to_exclude_keeps_op_in_tvm():
    mod = sample_module("nn.relu")
    report = tvm_tensorrt.explain(mod, ops_to_exclude=["nn.relu"])
    assert [d.reason for d in report.decisions] == ["relax.nn.relu is in ops_to_exclude"]


def test_params_are_bound_before_partitioning():
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 2, 5, 5), "float32"))
    w = relax.Var("w", relax.TensorType((3, 2, 3, 3), "float32"))
    with bb.function("main", [x, w]):
        with bb.dataflow():
            out = bb.emit_output(relax.op.nn.conv2d(x, w))
        bb.emit_func_output(out)
    weights = np.ones((3, 2, 3, 3), "float32")
    mod, _ = tvm_tensorrt.partition_for_tensorrt(bb.get(), params={"w": weights})
    assert offloaded_ops(mod) == {"tensorrt_0": ["relax.nn.conv2d"]}


def test_config_contract():
    _, config = tvm_tensorrt.partition_for_tensorrt(sample_module("nn.relu"), version=(8, 6, 1),
                                                    max_workspace_size=1 << 20)
    import json

    assert json.loads(json.dumps(config)) == config
    assert config["tensorrt_version"] == [8, 6, 1]
    assert config["use_implicit_batch"] is True and config["remove_no_mac_subgraphs"] is False
    assert config["max_workspace_size"] == 1 << 20


def test_bad_options_raise_typed_errors():
    with pytest.raises(tvm_tensorrt.ConfigError, match="version"):
        tvm_tensorrt.partition_for_tensorrt(sample_module("nn.relu"), version=(8, 6))
    with pytest.raises(tvm_tensorrt.ConfigError, match="max_workspace_size"):
        tvm_tensorrt.partition_for_tensorrt(sample_module("nn.relu"), max_workspace_size=-1)
    with pytest.raises(tvm_tensorrt.ConfigError, match="min_subgraph_size"):
        tvm_tensorrt.partition_for_tensorrt(sample_module("nn.relu"), min_subgraph_size=0)
    with pytest.raises(tvm_tensorrt.ConfigError, match="ops_to_exclude"):
        tvm_tensorrt.partition_for_tensorrt(sample_module("nn.relu"), ops_to_exclude="nn.relu")
