"""The README's main job: compile and run the bundled model from the command line."""

import json
import os
import subprocess
import sys

CLI = [sys.executable, "-m", "tvm_tensorrt.cli"]


def run_cli(*args, cwd):
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=600)
    return proc


def test_compile_and_run_the_bundled_model(tmp_path):
    proc = run_cli("compile", "-o", "default.so", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "20 of 20 operator calls offloaded to TensorRT in 1 subgraph" in proc.stdout
    assert "tensorrt_0: nn.conv2d x4" in proc.stdout
    meta = json.loads((tmp_path / "default.so.json").read_text())
    assert meta["inputs"] == [{"name": "image", "shape": [1, 3, 32, 32], "dtype": "float32"}]
    proc = run_cli("-v", "run", "default.so", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "output 0: shape (1, 10) float32" in proc.stdout
    assert "Building new TensorRT engine for subgraph tensorrt_0" in proc.stderr
    assert "Finished building TensorRT engine for subgraph tensorrt_0" in proc.stderr


def test_explain_prints_reasons_and_json(tmp_path):
    proc = run_cli("explain", "--exclude", "nn.softmax", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "relax.nn.softmax x1: relax.nn.softmax is in ops_to_exclude" in proc.stdout
    proc = run_cli("explain", "--json", cwd=tmp_path)
    report = json.loads(proc.stdout)
    assert report["subgraphs"] == ["tensorrt_0"] and all(d["offloaded"] for d in report["decisions"])


def test_missing_files_are_clear_errors(tmp_path):
    proc = run_cli("run", "nope.so", cwd=tmp_path)
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    proc = run_cli("compile", "nope.onnx", cwd=tmp_path)
    assert proc.returncode == 2 and "nope.onnx" in proc.stderr and "does not exist" in proc.stderr
    assert not os.path.exists(tmp_path / "model.so")


def test_verify_prints_report_and_exit_code(tmp_path):
    proc = run_cli("verify", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "PASS: 1 TensorRT subgraph(s) checked on the CPU in fp32" in proc.stdout
    proc = subprocess.run([*CLI, "verify", "--atol", "0", "--rtol", "0"], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "TVM_TENSORRT_USE_FP16": "1"}, timeout=600)
    assert proc.returncode == 1 and "MISMATCH" in proc.stdout


def test_prebuilt_engines_from_the_cli(tmp_path):
    proc = run_cli("compile", "-o", "pre.so", "--prebuild-engines", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    env = {**os.environ, "TVM_TENSORRT_CACHE_DIR": str(tmp_path / "empty")}
    proc = subprocess.run([*CLI, "-v", "run", "pre.so"], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Loading prebuilt TensorRT engine for subgraph tensorrt_0" in proc.stderr
    assert "Building" not in proc.stderr
