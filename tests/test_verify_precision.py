"""verify's precision: the argument (CLI --precision) wins over TVM_TENSORRT_PRECISION /
TVM_TENSORRT_USE_FP16, and BF16 networks are evaluated from the arrays the converters handed to
TensorRT (its Python bindings give BF16 weights back only as an opaque trt.Weights)."""

import json
import os

import numpy as np
import pytest

import tvm_tensorrt
from tvm_tensorrt import cli
from tvm_tensorrt.backend import load_backend
from tvm_tensorrt.lowering.dispatch import offloaded_functions
from tvm_tensorrt.lowering.serialize import subgraph_of
from tvm_tensorrt.models import DEFAULT_MODEL
from tvm_tensorrt.runtime.plan_builder import build_network
from tvm_tensorrt.verification import UnsupportedLayerError, evaluate_network
from op_samples import random_inputs, sample_module
from test_model_set import model_inputs

MODELS_DIR = os.path.join(os.path.dirname(__file__), "models")


def test_precision_argument_wins_over_the_environment(monkeypatch):
    mod = sample_module("nn.relu")
    monkeypatch.setenv("TVM_TENSORRT_PRECISION", "bf16")
    assert tvm_tensorrt.verify(mod).precision == "bf16"
    report = tvm_tensorrt.verify(mod, precision="fp16")
    assert report.precision == "fp16" and report.passed and report.rtol == 3e-2
    monkeypatch.delenv("TVM_TENSORRT_PRECISION")
    monkeypatch.setenv("TVM_TENSORRT_USE_FP16", "maybe")  # malformed, but the argument says it all
    assert tvm_tensorrt.verify(mod, precision="fp32").precision == "fp32"
    with pytest.raises(tvm_tensorrt.ConfigError, match="TVM_TENSORRT_USE_FP16"):
        tvm_tensorrt.verify(mod)


@pytest.mark.parametrize("value, says", [("fp64", "precision='fp64' is not one of fp32, fp16, bf16"),
                                         ("int8", "quantized \\(QDQ\\) models")])
def test_a_bad_precision_argument_is_one_config_error_naming_it(value, says):
    with pytest.raises(tvm_tensorrt.ConfigError, match=says):
        tvm_tensorrt.verify(sample_module("nn.relu"), precision=value)


def test_bf16_network_is_evaluated_from_the_arrays_handed_to_tensorrt():
    mod = sample_module("nn.conv2d")
    fp32 = tvm_tensorrt.verify(mod, seed=3, precision="fp32")
    bf16 = tvm_tensorrt.verify(mod, seed=3, precision="bf16")
    assert bf16.precision == "bf16" and bf16.passed, bf16.to_table()
    # bfloat16 keeps 8 significant bits: close to TVM's float32, but visibly not equal
    assert bf16.subgraphs[0].max_abs_error > 100 * max(fp32.subgraphs[0].max_abs_error, 1e-7)

    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod)
    [func] = offloaded_functions(partitioned).values()
    backend = load_backend()
    _, built, _ = build_network(subgraph_of(func, "tensorrt_0", config), backend, "bf16")
    kernels = [(key, array) for key, array in built.weights.items() if key[1] == "kernel"]
    assert len(kernels) == 1 and kernels[0][1].dtype.name == "bfloat16"
    layer = built.network.get_layer(kernels[0][0][0])
    layer.__class__ = backend.trt.IConvolutionLayer
    assert layer.kernel.dtype.name == "BF16" and not isinstance(layer.kernel, np.ndarray)  # what the bindings give
    feeds = {built.network.get_input(0).name: random_inputs(mod, seed=3)[0]}
    with pytest.raises(UnsupportedLayerError, match="BF16 kernel"):
        evaluate_network(built.network, backend.trt, feeds)
    [name] = [built.network.get_output(i).name for i in range(built.network.num_outputs)]
    before = evaluate_network(built.network, backend.trt, feeds, weights=built.weights)[name]
    kernels[0][1][...] = 0  # the evaluator computes with exactly these numbers
    after = evaluate_network(built.network, backend.trt, feeds, weights=built.weights)[name]
    assert np.abs(before).max() > 0.1 and np.abs(after).max() < np.abs(before).max()


@pytest.mark.parametrize("name", ["default_cnn", "bert_encoder"])
def test_verify_passes_in_bf16_on_whole_models(name):
    path = DEFAULT_MODEL if name == "default_cnn" else os.path.join(MODELS_DIR, f"{name}.onnx")
    mod, params = tvm_tensorrt.from_onnx(path)
    report = tvm_tensorrt.verify(mod, params, inputs=None if name == "default_cnn" else model_inputs(name),
                                 precision="bf16")
    assert report.precision == "bf16" and len(report.subgraphs) == 1 and report.passed, report.to_table()
    assert not report.subgraphs[0].ill_conditioned and report.subgraphs[0].max_abs_error > 1e-4  # really bf16


def test_cli_precision_and_input_flags(tmp_path, monkeypatch, capsys):
    image = tmp_path / "image.npy"
    np.save(image, np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype("float32"))
    monkeypatch.setenv("TVM_TENSORRT_PRECISION", "fp16")
    assert cli.main(["verify", "--precision", "bf16", "--input", str(image), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["precision"] == "bf16"
    assert cli.main(["verify", "--input", str(image), "--input", str(image)]) == 1
    assert "verify takes one --input FILE.npy per model input (image); got 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["verify", "--precision", "int8"])
    assert "argument --precision: invalid choice: 'int8'" in capsys.readouterr().err
