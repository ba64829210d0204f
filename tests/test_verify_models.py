"""verify() on whole models: every onnx light model, random-weight variants, the bundled CNN."""

import os

import onnx
import pytest

import tvm_tensorrt
from tvm_tensorrt.models import DEFAULT_MODEL
from model_utils import LIGHT_MODELS, randomize_constant_weights


@pytest.mark.parametrize("path", LIGHT_MODELS, ids=[os.path.basename(p)[6:-5] for p in LIGHT_MODELS])
def test_verify_passes_on_light_model(path):
    mod, params = tvm_tensorrt.from_onnx(path)
    report = tvm_tensorrt.verify(mod, params)
    assert report.subgraphs and report.passed, report.to_table()


def random_weight_model(name):
    return randomize_constant_weights(onnx.load(os.path.join(os.path.dirname(LIGHT_MODELS[0]), f"light_{name}.onnx")))


@pytest.mark.parametrize("name", ["squeezenet", "shufflenet", "inception_v2"])
def test_verify_passes_with_random_weights(name):
    mod, params = tvm_tensorrt.from_onnx(random_weight_model(name))
    assert tvm_tensorrt.verify(mod, params).passed


def test_fp16_verify_on_random_weights(monkeypatch):
    monkeypatch.setenv("TVM_TENSORRT_USE_FP16", "1")
    mod, params = tvm_tensorrt.from_onnx(random_weight_model("squeezenet"))
    report = tvm_tensorrt.verify(mod, params)
    assert report.precision == "fp16" and report.passed, report.to_table()
    # random batch-norm statistics push shufflenet's activations past 4e7, beyond FP16's range:
    # verify must say so instead of reporting a small error
    mod, params = tvm_tensorrt.from_onnx(random_weight_model("shufflenet"))
    report = tvm_tensorrt.verify(mod, params)
    assert not report.passed and report.subgraphs[0].max_abs_error == float("inf")


def test_verify_passes_on_default_model_in_both_precisions(monkeypatch):
    mod, params = tvm_tensorrt.from_onnx(DEFAULT_MODEL)
    fp32 = tvm_tensorrt.verify(mod, params)
    assert fp32.passed and [s.symbol for s in fp32.subgraphs] == ["tensorrt_0"]
    assert fp32.subgraphs[0].max_rel_error < 1e-4
    monkeypatch.setenv("TVM_TENSORRT_USE_FP16", "1")
    assert tvm_tensorrt.verify(mod, params).passed
