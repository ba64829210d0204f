"""Real architectures (tests/models: BERT, GPT-2, ViT, Swin, ConvNeXt, MobileViT, LLaMA,
DeepLabV3, MaxViT-style einsum attention, T5) go to TensorRT whole: one subgraph, every operator
offloaded, `verify` passing in FP32 and FP16, and an exported library run in a fresh process
matching onnxruntime. Symbolic batch and sequence dims: explicit-batch mode, one engine."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import pytest

import tvm_tensorrt
from model_utils import decisions_summary
from tvm_tensorrt.partition.api import partition_with_decisions

MODELS_DIR = os.path.join(os.path.dirname(__file__), "models")
STATIC_MODELS = ["bert_encoder", "gpt2_decoder", "vit", "swin_block", "convnext", "mobilevit", "llama_block",
                 "deeplabv3", "maxvit_einsum", "t5_encoder"]


def model_path(name):
    return os.path.join(MODELS_DIR, f"{name}.onnx")


def model_inputs(name, batch=1, sequence=16, seed=0) -> dict:
    """Token ids below every model's vocabulary, a padding mask with real zeros, images."""
    rng = np.random.default_rng(seed)
    model = onnx.load(model_path(name), load_external_data=False)
    feeds = {}
    for info in model.graph.input:
        dims = [d.dim_value or {"batch": batch, "sequence": sequence}[d.dim_param]
                for d in info.type.tensor_type.shape.dim]
        if info.name == "input_ids":
            feeds[info.name] = rng.integers(0, 100, dims).astype(np.int64)
        elif info.name == "attention_mask":
            mask = np.ones(dims, np.int64)
            mask[..., -3:] = 0
            feeds[info.name] = mask
        else:
            feeds[info.name] = rng.standard_normal(dims).astype(np.float32)
    return feeds


def onnxruntime_outputs(name, feeds) -> list:
    import onnxruntime as ort

    session = ort.InferenceSession(model_path(name), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def assert_whole_in_one_subgraph(name, **options):
    mod, params = tvm_tensorrt.from_onnx(model_path(name))
    report = tvm_tensorrt.explain(mod, params, **options)
    assert len(report.subgraphs) == 1 and len(report.offloaded) == len(report.decisions), report.to_table()


@pytest.mark.parametrize("name", STATIC_MODELS)
def test_whole_model_in_one_subgraph(name):
    assert_whole_in_one_subgraph(name)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("name", STATIC_MODELS)
def test_verify_passes(name, precision, monkeypatch):
    monkeypatch.setenv("TVM_TENSORRT_USE_FP16", "1" if precision == "fp16" else "0")
    mod, params = tvm_tensorrt.from_onnx(model_path(name))
    report = tvm_tensorrt.verify(mod, params, inputs=model_inputs(name))
    assert len(report.subgraphs) == 1 and report.passed, report.to_table()
    assert not report.subgraphs[0].ill_conditioned, report.to_table()


RUNNER = textwrap.dedent("""
    import json, logging, sys
    import numpy as np
    import tvm_tensorrt
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    library, feeds, out = sys.argv[1:4]
    data = np.load(feeds)
    model = tvm_tensorrt.load(library)
    results = {}
    for key in sorted({k.split("/")[0] for k in data.files}, key=int):
        inputs = [data[f"{key}/{i}"] for i in range(len([k for k in data.files if k.startswith(key + "/")]))]
        for i, value in enumerate(model.run(*inputs)):
            results[f"{key}/{i}"] = value
    np.savez(out, **results)
""")


def run_fresh(library, calls, workdir, env=None) -> tuple[list, str]:
    """Run `library` on each list of inputs in `calls`, in one new interpreter."""
    feeds = os.path.join(workdir, "feeds.npz")
    out = os.path.join(workdir, "out.npz")
    np.savez(feeds, **{f"{k}/{i}": x for k, inputs in enumerate(calls) for i, x in enumerate(inputs)})
    proc = subprocess.run([sys.executable, "-c", RUNNER, library, feeds, out], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    data = np.load(out)
    results = [[data[f"{k}/{i}"] for i in range(len([f for f in data.files if f.startswith(f"{k}/")]))]
               for k in range(len(calls))]
    return results, proc.stderr


def compile_library(name, path, **options):
    mod, params = tvm_tensorrt.from_onnx(model_path(name))
    partitioned, config, decisions = partition_with_decisions(mod, params, **options)
    tvm_tensorrt.build(partitioned, target="llvm", config=config).export_library(path)
    return decisions


def assert_matches_onnxruntime_in_a_fresh_process(library, name, workdir) -> str:
    """Run `library` on the model's inputs in a new interpreter, compare with onnxruntime, and
    return the runtime's log."""
    feeds = model_inputs(name)
    [got], log = run_fresh(library, [list(feeds.values())], str(workdir))
    expected = onnxruntime_outputs(name, feeds)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-4)
    assert "Building new TensorRT engine for subgraph tensorrt_0" in log
    return log


@pytest.mark.parametrize("name", STATIC_MODELS)
def test_exported_library_matches_onnxruntime_in_a_fresh_process(name, tmp_path):
    library = str(tmp_path / f"{name}.so")
    decisions = compile_library(name, library)
    assert_matches_onnxruntime_in_a_fresh_process(library, name, tmp_path)
    assert decisions_summary(decisions)["subgraphs"] == 1


def test_symbolic_batch_vit_in_explicit_batch_mode(tmp_path):
    name = "vit_dynamic_batch"
    assert_whole_in_one_subgraph(name, use_implicit_batch=False)
    library = str(tmp_path / "vit.so")
    compile_library(name, library, use_implicit_batch=False, dim_ranges={"batch": (1, 2, 4)})
    calls = [list(model_inputs(name, batch=b, seed=b).values()) for b in (1, 3, 2)]
    results, log = run_fresh(library, calls, str(tmp_path))
    for inputs, got in zip(calls, results):
        np.testing.assert_allclose(got[0], onnxruntime_outputs(name, dict(zip(["pixel_values"], inputs)))[0],
                                   rtol=1e-3, atol=1e-4)
    assert log.count("Building new TensorRT engine for subgraph tensorrt_0") == 1


def test_symbolic_sequence_bert_runs_three_lengths_from_one_engine(tmp_path):
    name = "bert_encoder_dynamic"
    assert_whole_in_one_subgraph(name, use_implicit_batch=False)
    library = str(tmp_path / "bert.so")
    compile_library(name, library, use_implicit_batch=False,
                    dim_ranges={"batch": (1, 1, 2), "sequence": (4, 16, 32)})
    calls = [model_inputs(name, batch=b, sequence=s, seed=s) for b, s in ((1, 8), (2, 16), (1, 32))]
    results, log = run_fresh(library, [list(c.values()) for c in calls], str(tmp_path))
    for feeds, got in zip(calls, results):
        for g, e in zip(got, onnxruntime_outputs(name, feeds)):
            np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-4)
    assert log.count("Building new TensorRT engine for subgraph tensorrt_0") == 1


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("name, sizes", [("vit_dynamic_batch", {"batch": 3}),
                                         ("bert_encoder_dynamic", {"batch": 2, "sequence": 8})])
def test_verify_passes_with_symbolic_dims_in_explicit_batch_mode(name, sizes, precision, monkeypatch):
    monkeypatch.setenv("TVM_TENSORRT_USE_FP16", "1" if precision == "fp16" else "0")
    mod, params = tvm_tensorrt.from_onnx(model_path(name))
    report = tvm_tensorrt.verify(mod, params, inputs=model_inputs(name, **sizes), use_implicit_batch=False)
    assert len(report.subgraphs) == 1 and report.passed and not report.subgraphs[0].ill_conditioned, \
        report.to_table()
