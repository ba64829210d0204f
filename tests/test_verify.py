"""verify(): every converter computes what TVM computes, in FP32 and FP16, checked on the CPU."""

import numpy as np
import pytest
from tvm import relax

import tvm_tensorrt
from tvm_tensorrt.converters import TensorRTOpConverter, register_converter
from tvm_tensorrt.lowering.dispatch import offloaded_functions
from tvm_tensorrt.runtime.plan_builder import build_network
from tvm_tensorrt.lowering.serialize import subgraph_of
from op_samples import SAMPLES, const, ints, random_inputs, sample, sample_module, single_op_module

# Awkward attribute cases beyond the one sample per op in op_samples.SAMPLES:
# id -> (make, input shapes[, input dtype(s), default float32]).
AWKWARD = {
    "conv2d asymmetric padding, stride, dilation, groups": (
        lambda x: relax.op.nn.conv2d(x, const(8, 2, 3, 2), strides=(2, 3), padding=(0, 2, 1, 0), dilation=(2, 1),
                                     groups=4), [(1, 8, 11, 12)]),
    "depthwise conv2d": (lambda x: relax.op.nn.conv2d(x, const(6, 1, 3, 3), padding=(1, 1), groups=6),
                         [(2, 6, 7, 7)]),
    "max_pool2d ceil_mode": (lambda x: relax.op.nn.max_pool2d(x, (3, 3), strides=(2, 2), ceil_mode=True),
                             [(1, 2, 8, 8)]),
    "avg_pool2d count_include_pad=False": (
        lambda x: relax.op.nn.avg_pool2d(x, (3, 3), strides=(2, 2), padding=(1, 1, 1, 1), count_include_pad=False),
        [(1, 2, 7, 7)]),
    "avg_pool2d asymmetric padding": (
        lambda x: relax.op.nn.avg_pool2d(x, (2, 3), strides=(1, 2), padding=(0, 1, 1, 2), count_include_pad=True),
        [(1, 3, 6, 7)]),
    "softmax negative axis": (lambda x: relax.op.nn.softmax(x, axis=-2), [(2, 5, 3)]),
    "mean negative axes, no keepdims": (lambda x: relax.op.mean(x, axis=[-1, 1], keepdims=False), [(2, 3, 4, 5)]),
    "concat negative axis, 3 inputs": (lambda x, y, z: relax.op.concat([x, y, z], axis=-3),
                                       [(1, 2, 3, 4), (1, 1, 3, 4), (1, 3, 3, 4)]),
    "permute_dims inverse-sensitive": (lambda x: relax.op.permute_dims(x, [0, 3, 1, 2]), [(2, 3, 4, 5)]),
    "matmul vector": (lambda x: relax.op.matmul(x, const(5)), [(3, 5)]),
    "matmul batched broadcast": (lambda x, y: relax.op.matmul(x, y), [(2, 1, 3, 4), (2, 3, 4, 2)]),
    "add lower-rank constant": (lambda x: relax.op.add(x, const(1, 5)), [(2, 3, 4, 5)]),
    "batch_norm no scale/center": (
        lambda x: relax.op.nn.batch_norm(x, const(3), const(3), const(3), const(3, positive=True), axis=1,
                                         center=False, scale=False, training=False), [(2, 3, 4, 4)]),
    # NaNs and infinities come from other ops: a sample's random inputs have none
    "isnan of log": (lambda x: relax.op.isnan(relax.op.log(x)), [(3, 8)]),
    "isinf of 1 / round(x)": (
        lambda x: relax.op.isinf(relax.op.divide(relax.const(1.0, "float32"), relax.op.round(x))), [(3, 8)]),
    "isfinite of log": (lambda x: relax.op.isfinite(relax.op.log(x)), [(3, 8)]),
    "not_equal with NaN operands": (lambda x, y: relax.op.not_equal(relax.op.log(x), y), [(3, 8), (3, 8)]),
    "greater_equal with NaN operands": (lambda x, y: relax.op.greater_equal(relax.op.log(x), y), [(3, 8), (3, 8)]),
    # gather, resize, scan, einsum and normalisation ops
    "take axis 1, 2-D indices": (lambda x: relax.op.take(x, ints([[0, 2], [1, 1], [2, 0]]), axis=1), [(2, 3, 4)]),
    "take with computed indices": (lambda x, y: relax.op.take(x, relax.op.argmax(y, axis=1), axis=1),
                                   [(2, 5, 3), (2, 5)]),
    "take mode wrap, negative and large indices": (
        lambda x: relax.op.take(x, ints([-1, 5, -7, 2], "int32"), axis=2, mode="wrap"), [(2, 3, 4)]),
    "take mode clip": (lambda x: relax.op.take(x, ints([[-3, 0], [9, 1]]), axis=-1, mode="clip"), [(2, 3, 4)]),
    "gather_elements axis 1, smaller indices": (
        lambda x: relax.op.gather_elements(x, ints([[[2, 0, 1, 1], [0, 0, 2, 1]]] * 2), axis=1), [(2, 3, 4)]),
    "gather_nd full coordinates": (lambda x: relax.op.gather_nd(x, ints([[[0, 1, 3]], [[1, 2, 0]]]), batch_dims=1),
                                   [(2, 2, 3, 4)]),
    **{f"resize2d {method} {mode} {which}": (
        lambda x, method=method, mode=mode, size=size, rounding=rounding: relax.op.image.resize2d(
            x, size, method=method, coordinate_transformation_mode=mode, rounding_method=rounding), [shape])
       for method, rounding in (("linear", ""), ("nearest_neighbor", "round_prefer_ceil"))
       for mode in ("half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel")
       for which, shape, size in (("upsample", (1, 2, 3, 4), (6, 8)), ("downsample", (1, 2, 8, 6), (4, 3)))},
    "resize2d linear pytorch_half_pixel to one column": (
        lambda x: relax.op.image.resize2d(x, (3, 1), coordinate_transformation_mode="pytorch_half_pixel"),
        [(1, 2, 4, 6)]),
    "resize2d nearest asymmetric floor (TVM's default for it)": (
        lambda x: relax.op.image.resize2d(x, (6, 12), method="nearest_neighbor", coordinate_transformation_mode=
                                          "asymmetric", rounding_method=""), [(1, 2, 3, 4)]),
    "resize2d nearest half_pixel ceil": (
        lambda x: relax.op.image.resize2d(x, (6, 8), method="nearest_neighbor", rounding_method="ceil"),
        [(1, 2, 3, 4)]),
    "resize2d nearest half_pixel round_prefer_floor": (
        lambda x: relax.op.image.resize2d(x, (4, 3), method="nearest_neighbor", rounding_method="round_prefer_floor"),
        [(1, 2, 8, 6)]),
    "resize2d nearest align_corners round, halves to even = down": (
        lambda x: relax.op.image.resize2d(x, (5, 10), method="nearest_neighbor",
                                          coordinate_transformation_mode="align_corners"), [(1, 2, 2, 4)]),
    "resize2d cubic half_pixel upsample": (lambda x: relax.op.image.resize2d(x, (8, 10), method="cubic"),
                                           [(1, 2, 4, 5)]),
    "resize2d cubic align_corners downsample, A=-0.5, exclude outside": (
        lambda x: relax.op.image.resize2d(x, (5, 4), method="cubic", coordinate_transformation_mode="align_corners",
                                          cubic_alpha=-0.5, cubic_exclude=1), [(1, 2, 9, 7)]),
    "resize2d cubic asymmetric, exclude outside": (
        lambda x: relax.op.image.resize2d(x, (6, 8), method="cubic", coordinate_transformation_mode="asymmetric",
                                          cubic_exclude=1), [(1, 2, 3, 4)]),
    "cumsum exclusive, negative axis": (lambda x: relax.op.cumsum(x, axis=-1, exclusive=True), [(2, 3, 5)]),
    "einsum bhid,bhjd->bhij": (lambda x, y: relax.op.einsum((x, y), "bhid,bhjd->bhij"), [(2, 2, 3, 4), (2, 2, 5, 4)]),
    "einsum bhij,bhjd->bhid": (lambda x, y: relax.op.einsum((x, y), "bhij,bhjd->bhid"), [(2, 2, 3, 5), (2, 2, 5, 4)]),
    "einsum with ellipsis, implicit output and a constant": (
        lambda x: relax.op.einsum((x, const(4, 5)), "...iJ,Jk"), [(2, 3, 4)]),
    "group_norm 2 groups of 3, rank 3": (
        lambda x: relax.op.nn.group_norm(x, const(6, positive=True), const(6), num_groups=2, channel_axis=1,
                                         axes=[2]), [(2, 6, 5)]),
    "instance_norm rank 5": (lambda x: relax.op.nn.instance_norm(x, const(2, positive=True), const(2), channel_axis=1,
                                                                 axes=[2, 3, 4]), [(2, 2, 3, 2, 4)]),
    "rms_norm over the last two axes": (lambda x: relax.op.nn.rms_norm(x, const(3, 4, positive=True), axes=[1, 2]),
                                        [(2, 3, 4)]),
    "topk smallest on axis 1, indices": (
        lambda x: relax.op.topk(x, 3, axis=1, ret_type="indices", largest=False), [(2, 6, 4)]),
    "topk k=0 takes the whole axis, values": (lambda x: relax.op.topk(x, 0, axis=-1, ret_type="values"), [(2, 5)]),
    "argmax keepdims": (lambda x: relax.op.argmax(x, axis=2, keepdims=True), [(2, 3, 5)]),

}


def cases() -> list:
    found = [pytest.param(*sample(name), id=name) for name in sorted(SAMPLES)]
    found += [pytest.param(make, shapes, 0 if "batch_norm" in name else None, dtype[0] if dtype else "float32",
                           id=name) for name, (make, shapes, *dtype) in AWKWARD.items()]
    return found


def offloaded_module(make, shapes, field, dtype="float32"):
    mod = single_op_module(make, *shapes, field=field, dtype=dtype)
    report = tvm_tensorrt.explain(mod)
    assert all(d.offloaded for d in report.decisions), report.to_table()
    return mod


def verify_case(make, shapes, field, dtype):
    """(verify's report, the precision it should judge in besides the engine's: int8 for a
    sample with a quantize layer)."""
    mod = offloaded_module(make, shapes, field, dtype)
    quantized = any(d.op == "relax.quantize" for d in tvm_tensorrt.explain(mod).decisions)
    return tvm_tensorrt.verify(mod, inputs=random_inputs(mod)), "int8" if quantized else None


@pytest.mark.parametrize("make, shapes, field, dtype", cases())
def test_converter_matches_tvm_fp32(make, shapes, field, dtype):
    report, quantized = verify_case(make, shapes, field, dtype)
    assert len(report.subgraphs) == 1 and report.passed, report.to_table()
    assert report.precision == (quantized or "fp32")


@pytest.mark.parametrize("make, shapes, field, dtype", cases())
def test_converter_matches_tvm_fp16(make, shapes, field, dtype, monkeypatch):
    monkeypatch.setenv("TVM_TENSORRT_USE_FP16", "1")
    report, quantized = verify_case(make, shapes, field, dtype)
    assert len(report.subgraphs) == 1 and report.passed, report.to_table()
    assert report.precision == (quantized or "fp16") and report.rtol == (5e-2 if quantized else 3e-2)


def test_fp16_network_really_computes_in_half(monkeypatch):
    mod, config = tvm_tensorrt.partition_for_tensorrt(sample_module("nn.conv2d"))
    [func] = offloaded_functions(mod).values()
    subgraph = subgraph_of(func, "tensorrt_0", config)
    _, built, _ = build_network(subgraph, precision="fp16")
    network = built.network
    layers = [network.get_layer(i) for i in range(network.num_layers)]
    assert network.get_input(0).dtype.name == "FLOAT" and network.get_output(0).dtype.name == "FLOAT"
    assert layers[0].type.name == "CAST" and layers[0].get_output(0).dtype.name == "HALF"
    assert layers[-1].type.name == "CAST" and layers[-1].get_input(0).dtype.name == "HALF"
    conv = next(layer for layer in layers if layer.type.name == "CONVOLUTION")
    assert conv.get_output(0).dtype.name == "HALF"
    assert any(a.dtype == np.float16 and a.size == 6 * 2 * 3 * 3 for a in built.keep_alive)  # the kernel
    # and the numbers show it: FP16 is close to TVM's FP32 but not equal, FP32 is (nearly) exact
    fp32 = tvm_tensorrt.verify(sample_module("nn.conv2d"), seed=3)
    monkeypatch.setenv("TVM_TENSORRT_USE_FP16", "1")
    fp16 = tvm_tensorrt.verify(sample_module("nn.conv2d"), seed=3)
    assert fp16.passed and fp32.passed
    assert fp16.subgraphs[0].max_abs_error > 10 * max(fp32.subgraphs[0].max_abs_error, 1e-7)


def test_wrong_converter_is_caught_and_a_correct_one_passes():
    from tvm_tensorrt.converters.base import CONVERTERS

    class ReluAsIdentity(TensorRTOpConverter):
        def convert(self, params):
            return [params.network.add_identity(params.inputs[0].tensor).get_output(0)]

    mod = sample_module("nn.relu")
    with CONVERTERS.restored():
        register_converter("nn.relu", override=True)(ReluAsIdentity)
        report = tvm_tensorrt.verify(mod)
        assert not report.passed and not report.subgraphs[0].passed
        assert not report.subgraphs[0].ill_conditioned  # rounding cannot explain a wrong layer
        assert report.subgraphs[0].max_abs_error > 0.5  # negatives of a standard normal pass through
        assert "MISMATCH" in report.to_table()
    assert tvm_tensorrt.verify(mod).passed


def test_inputs_by_name_and_bad_inputs():
    mod = sample_module("add")
    x0, x1 = random_inputs(mod, seed=5)
    assert tvm_tensorrt.verify(mod, inputs={"x0": x0, "x1": x1}).passed
    with pytest.raises(tvm_tensorrt.TensorRTError, match="lack"):
        tvm_tensorrt.verify(mod, inputs={"x0": x0})
    with pytest.raises(tvm_tensorrt.TensorRTError, match="takes 2"):
        tvm_tensorrt.verify(mod, inputs=[x0])


def test_report_json_and_malformed_fp16_variable(monkeypatch):
    import json

    report = tvm_tensorrt.verify(sample_module("nn.relu"))
    data = json.loads(report.to_json())
    assert data["passed"] and data["subgraphs"][0]["symbol"] == "tensorrt_0"
    monkeypatch.setenv("TVM_TENSORRT_USE_FP16", "maybe")
    with pytest.raises(tvm_tensorrt.ConfigError, match="TVM_TENSORRT_USE_FP16"):
        tvm_tensorrt.verify(sample_module("nn.relu"))


def test_comparison_handles_nan_inf_and_missing_outputs():
    from tvm_tensorrt.verification.api import _compare

    nan, inf = float("nan"), float("inf")
    assert _compare([np.array([nan, 0.0, inf])], [np.array([nan, 0.0, inf])], 1e-3, 1e-4) == (0.0, 0.0, True)
    max_abs, _, passed = _compare([np.array([nan, 0.0, 5.0])], [np.array([nan, 0.0, 0.0])], 1e-3, 1e-4)
    assert max_abs == 5.0 and not passed
    max_abs, _, passed = _compare([np.array([nan, 1.0])], [np.array([1.0, 1.0])], 1e-3, 1e-4)
    assert max_abs == inf and not passed
    assert _compare([], [np.zeros(2)], 1e-3, 1e-4)[2] is False
    assert _compare([np.ones(2)], [np.ones(2) * 1.5], 0.0, 0.0)[:2] == (0.5, 0.5 / 1.5)


def test_fp16_weights_beyond_half_range_are_clamped_not_infinite(monkeypatch):
    """An attention mask adds float32's minimum; in half precision that must stay a large finite
    negative (as TensorRT clamps FP16 weights), or a fully masked softmax row turns NaN."""
    lowest = np.finfo(np.float32).min
    mask = relax.const(np.array([[lowest, lowest, lowest], [0.0, lowest, 0.0]], "float32"))
    mod = single_op_module(lambda x: relax.op.nn.softmax(relax.op.add(x, mask), axis=-1), (2, 3))
    monkeypatch.setenv("TVM_TENSORRT_USE_FP16", "1")
    report = tvm_tensorrt.verify(mod)
    assert report.passed and report.subgraphs[0].max_abs_error < 1e-2, report.to_table()
