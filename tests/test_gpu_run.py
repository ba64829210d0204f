"""tests/gpu_path_script.py: the GPU path on a real CUDA device, and its CPU side everywhere.

On a CUDA machine the script compiles the bundled model for sm_90, loads it with
device="cuda", runs it through our executor (engine build, TensorRT's refusal on compute
capability 9.0, one rebuild, TVM's CUDA copy; or the engine itself on a GPU TensorRT runs on),
compares with onnxruntime, and checks the cpu_fallback=False library's TensorRTError.
"""

import json
import os
import subprocess
import sys

import pytest
import tvm

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpu_path_script.py")


def run_script(outdir, *args, timeout=600):
    result = subprocess.run([sys.executable, SCRIPT, str(outdir), *args], capture_output=True, text=True,
                            timeout=timeout)
    outcome_path = os.path.join(outdir, "outcome.json")
    outcome = json.load(open(outcome_path)) if os.path.exists(outcome_path) else None
    return result, outcome


def failures(outcome) -> dict:
    return {k: c["detail"] for k, c in outcome["checks"].items() if not c["ok"]}


@pytest.mark.skipif(not tvm.cuda(0).exist,
                    reason="no CUDA device here (tvm.cuda(0).exist is False). It runs on a GPU machine, e.g. the "
                           "lent H100 (see docs/runtime.md, GPU execution, for that run): there, "
                           "`python tests/gpu_path_script.py OUTDIR` or `pytest tests/test_gpu_run.py`")
def test_the_gpu_path_on_a_cuda_device(tmp_path):
    result, outcome = run_script(tmp_path)
    assert outcome is not None, result.stdout[-4000:] + result.stderr[-4000:]
    assert result.returncode == 0 and outcome["passed"], failures(outcome)
    assert outcome["facts"]["cuda"] is True


def test_the_script_compiles_both_cuda_libraries_without_a_gpu(tmp_path):
    """The script's CPU side, on any machine: TVM 0.27 writes the sm_90 library with its CUDA
    module as source (measured: tvm_callback_cuda_compile is not called by tvm.compile), which
    the CUDA runtime compiles with NVRTC (cuda-bindings) when the library is loaded on a GPU."""
    result, outcome = run_script(tmp_path, "--compile-only", timeout=120)
    assert result.returncode == 0 and outcome["passed"], (result.stdout[-4000:], result.stderr[-4000:])
    assert '"arch":"sm_90"' in outcome["facts"]["target"]
    for name in ("gpu_path_fallback.so", "gpu_path_gpu_only.so"):
        assert os.path.getsize(tmp_path / name) > 0
    assert "cuda" in outcome["facts"]["modules_fallback"]  # TVM's CUDA copy of the offloaded subgraph
    assert os.path.exists(tmp_path / "gpu_path.log")
