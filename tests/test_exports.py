"""Today's exports (tests/models/exports, made by make_exports.py): each model as users export it,
with named symbolic axes, from the file as exported and default options:

* one TensorRT subgraph with every operator offloaded, or, where TensorRT itself cannot run an
  op, the fewest subgraphs with that op named (PARTLY; tests/models/README.md says why);
* `verify` passes in FP32 and FP16 (the TensorRT network evaluated against TVM);
* the exported library, loaded in a fresh process, matches onnxruntime at two sizes of every
  symbolic axis, from one library.

The first check runs on every model. The other two cost 10-50 s a model (TVM's compile and the
CPU evaluator), so the default run takes the models that each carry a mechanism of their own
(QUICK: past K/V and a size used as a value, a Loop, If inlining and ScatterND, conv1d over a
symbolic length, interpolated position embeddings, a C division of sizes, argmax over a
sequence, MoE routing); `pytest tests/test_exports.py --all-exports` runs every model (about
15 minutes on 2 cores).
"""

import json
import os

import numpy as np
import pytest

import tvm_tensorrt
from model_utils import manifest_inputs
from test_model_set import run_fresh

EXPORTS = os.path.join(os.path.dirname(__file__), "models", "exports")
MANIFEST = json.load(open(os.path.join(EXPORTS, "manifest.json")))
NAMES = sorted(MANIFEST)
# name -> (the ops kept in TVM: the one TensorRT cannot run and what only it reads, the subgraphs left around it)
PARTLY = {
    # ScatterElements with reduction=add: no TensorRT layer; the zeros it adds into (broadcast_to
    # to num_nodes) and the edge-index slice it reads (num_edges), sizes no subgraph input carries, stay beside it
    "scatter_gnn": (["relax.broadcast_to", "relax.scatter_elements", "relax.strided_slice"], 2),
}


QUICK = ["beit", "clip", "dinov2", "embeddingbag", "llm_decode", "moe", "sam_vit", "wav2vec2",
         "whisper_decoder_step"]


def heavy_unless_asked(name, request):
    if name not in QUICK and not request.config.getoption("--all-exports"):
        pytest.skip(f"{name}: compiled and verified with --all-exports (QUICK covers each mechanism)")


def path_of(name) -> str:
    return os.path.join(EXPORTS, f"{name}.onnx")


def imported(name):
    return tvm_tensorrt.from_onnx(path_of(name))


def onnxruntime_outputs(name, feeds) -> list:
    import onnxruntime as ort

    return ort.InferenceSession(path_of(name), providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("name", NAMES)
def test_goes_to_tensorrt_whole_as_exported(name):
    report = tvm_tensorrt.explain(*imported(name))
    kept = sorted({d.op for d in report.decisions if not d.offloaded})
    if name in PARTLY:
        ops, subgraphs = PARTLY[name]
        assert kept == ops and len(report.subgraphs) <= subgraphs, report.to_table()
    else:
        assert kept == [] and len(report.subgraphs) == 1, report.to_table()


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("name", NAMES)
def test_verify_passes(name, precision, monkeypatch, request):
    heavy_unless_asked(name, request)
    monkeypatch.setenv("TVM_TENSORRT_USE_FP16", "1" if precision == "fp16" else "0")
    mod, params = imported(name)
    report = tvm_tensorrt.verify(mod, params, inputs=manifest_inputs(MANIFEST[name], 0))
    assert report.passed, report.to_table()


@pytest.mark.parametrize("name", NAMES)
def test_one_library_matches_onnxruntime_at_two_sizes_in_a_fresh_process(name, tmp_path, request):
    heavy_unless_asked(name, request)
    mod, params = imported(name)
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
    library = str(tmp_path / f"{name}.so")
    tvm_tensorrt.build(partitioned, target="llvm", config=config).export_library(library)
    calls = [manifest_inputs(MANIFEST[name], k) for k in (0, 1)]
    results, _ = run_fresh(library, [list(feeds.values()) for feeds in calls], str(tmp_path))
    for feeds, got in zip(calls, results):
        expected = onnxruntime_outputs(name, feeds)
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.shape == e.shape
            np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-4)
