"""verify(): every converter computes what TVM computes, in FP32 and FP16, checked on the CPU."""

import numpy as np
import pytest
from tvm import relax

import tvm_tensorrt
from tvm_tensorrt.converters import TensorRTOpConverter, get_converter, register_converter
from tvm_tensorrt.runtime.build import offloaded_functions
from tvm_tensorrt.runtime.engine import build_network
from tvm_tensorrt.runtime.serialize import subgraph_of
from op_samples import SAMPLES, const, random_inputs, sample_module, single_op_module

# Awkward attribute cases beyond the one sample per op in op_samples.SAMPLES.
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
}


def cases() -> list:
    found = [pytest.param(make, shapes, field, id=name) for name, (make, shapes, field) in sorted(SAMPLES.items())]
    found += [pytest.param(make, shapes, 0 if "batch_norm" in name else None, id=name)
              for name, (make, shapes) in AWKWARD.items()]
    return found


def offloaded_module(make, shapes, field):
    mod = single_op_module(make, *shapes, field=field)
    report = tvm_tensorrt.explain(mod)
    assert all(d.offloaded for d in report.decisions), report.to_table()
    return mod


@pytest.mark.parametrize("make, shapes, field", cases())
def test_converter_matches_tvm_fp32(make, shapes, field):
    report = tvm_tensorrt.verify(offloaded_module(make, shapes, field))
    assert len(report.subgraphs) == 1 and report.passed, report.to_table()
    assert report.precision == "fp32"


@pytest.mark.parametrize("make, shapes, field", cases())
def test_converter_matches_tvm_fp16(make, shapes, field, monkeypatch):
    monkeypatch.setenv("TVM_TENSORRT_USE_FP16", "1")
    report = tvm_tensorrt.verify(offloaded_module(make, shapes, field))
    assert len(report.subgraphs) == 1 and report.passed, report.to_table()
    assert report.precision == "fp16" and report.rtol == 3e-2


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
    builtin = type(get_converter("nn.relu"))

    class ReluAsIdentity(TensorRTOpConverter):
        def convert(self, params):
            return [params.network.add_identity(params.inputs[0].tensor).get_output(0)]

    mod = sample_module("nn.relu")
    try:
        register_converter("nn.relu", override=True)(ReluAsIdentity)
        report = tvm_tensorrt.verify(mod)
        assert not report.passed and not report.subgraphs[0].passed
        assert not report.subgraphs[0].ill_conditioned  # rounding cannot explain a wrong layer
        assert report.subgraphs[0].max_abs_error > 0.5  # negatives of a standard normal pass through
        assert "MISMATCH" in report.to_table()
    finally:
        register_converter("nn.relu", override=True)(builtin)
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
    from tvm_tensorrt.verify.api import _compare

    nan, inf = float("nan"), float("inf")
    assert _compare([np.array([nan, 0.0, inf])], [np.array([nan, 0.0, inf])], 1e-3, 1e-4) == (0.0, 0.0, True)
    max_abs, _, passed = _compare([np.array([nan, 0.0, 5.0])], [np.array([nan, 0.0, 0.0])], 1e-3, 1e-4)
    assert max_abs == 5.0 and not passed
    max_abs, _, passed = _compare([np.array([nan, 1.0])], [np.array([1.0, 1.0])], 1e-3, 1e-4)
    assert max_abs == inf and not passed
    assert _compare([], [np.zeros(2)], 1e-3, 1e-4)[2] is False
    assert _compare([np.ones(2)], [np.ones(2) * 1.5], 0.0, 0.0)[:2] == (0.5, 0.5 / 1.5)
