"""ONNX -> partition -> build -> export -> load in a new process -> run, against onnxruntime."""

import os

import numpy as np
import onnx
import pytest

import tvm_tensorrt
from tvm_tensorrt.models import DEFAULT_MODEL
from tvm_tensorrt.partition.api import partition_with_decisions
from cnn_models import make_vgg
from model_utils import (LIGHT_MODELS, decisions_summary, model_input, onnxruntime_output,
                         randomize_constant_weights, run_in_fresh_process, weight_bytes)


def compile_and_run(model, tmp_path):
    """Returns (output from a fresh process, onnxruntime's output, decisions, runtime log).
    The library runs TVM's copy of each subgraph here (no GPU); tests that must also check the
    TensorRT networks' numbers run verify() on the same model."""
    name, x = model_input(model)
    mod, params = tvm_tensorrt.from_onnx(model)
    partitioned, config, decisions = partition_with_decisions(mod, params)
    executable = tvm_tensorrt.build(partitioned, target="llvm", config=config)
    library = str(tmp_path / "model.so")
    executable.export_library(library)
    del executable, partitioned, mod
    out, log = run_in_fresh_process(library, x, str(tmp_path))
    return out, onnxruntime_output(model, name, x), decisions, log


def assert_every_conv_offloaded(decisions):
    convs = [d for d in decisions if d.op == "relax.nn.conv2d"]
    assert convs and all(d.offloaded for d in convs), [d for d in convs if not d.offloaded]


def assert_engines_built(decisions, log):
    for symbol in sorted({d.subgraph for d in decisions if d.subgraph}):
        assert f"Building new TensorRT engine for subgraph {symbol}" in log
        assert f"Finished building TensorRT engine for subgraph {symbol}" in log


@pytest.mark.parametrize("path", LIGHT_MODELS, ids=[os.path.basename(p)[6:-5] for p in LIGHT_MODELS])
def test_light_model_matches_onnxruntime(path, tmp_path):
    model = onnx.load(path)
    out, expected, decisions, log = compile_and_run(model, tmp_path)
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-4)
    assert_every_conv_offloaded(decisions)
    assert_engines_built(decisions, log)
    print(os.path.basename(path), decisions_summary(decisions))


@pytest.mark.parametrize("name", ["squeezenet", "shufflenet", "resnet50"])
def test_light_model_with_random_weights_matches_onnxruntime(name, tmp_path):
    """The light models' constant weights make every output uniform; random ones do not. The
    library's numbers are TVM's (no GPU here), so verify checks the TensorRT networks' too."""
    model = randomize_constant_weights(onnx.load(os.path.join(os.path.dirname(LIGHT_MODELS[0]), f"light_{name}.onnx")))
    out, expected, decisions, _ = compile_and_run(model, tmp_path)
    assert expected.std() > 1e-4  # the comparison has power
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-5)
    assert_every_conv_offloaded(decisions)
    report = tvm_tensorrt.verify(*tvm_tensorrt.from_onnx(model))
    assert report.passed and len(report.subgraphs) == len({d.subgraph for d in decisions if d.subgraph}), \
        report.to_table()


def test_default_model_is_fully_offloaded_and_matches(tmp_path):
    model = onnx.load(DEFAULT_MODEL)
    out, expected, decisions, log = compile_and_run(model, tmp_path)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-6)
    assert decisions_summary(decisions) == {"offloaded": len(decisions), "total": len(decisions), "subgraphs": 1}
    assert "runs through TVM on the CPU" in log


def test_a_vgg_library_stores_each_weight_once(tmp_path):
    """The default library (with its TVM copy of every subgraph) is the size of its weights, not twice
    it: the TVM copy and the TensorRT subgraph read the same constants (bench/library_size.py: VGG-19)."""
    model = make_vgg("vgg11", width=0.25)  # 36 MB of weights
    out, expected, decisions, log = compile_and_run(model, tmp_path)
    weights = weight_bytes(model)
    assert weights < os.path.getsize(tmp_path / "model.so") < 1.1 * weights
    assert all(d.offloaded for d in decisions) and {d.subgraph for d in decisions} == {"tensorrt_0"}
    assert_engines_built(decisions, log)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
