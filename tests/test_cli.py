"""The README's main job: compile and run the bundled model from the command line."""

import json
import os
import subprocess
import sys

import pytest

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
    assert "relax.nn.softmax x1: relax.nn.softmax is excluded (--exclude)" in proc.stdout  # the flag, at the shell
    proc = run_cli("explain", "--json", cwd=tmp_path)
    report = json.loads(proc.stdout)
    assert report["subgraphs"] == ["tensorrt_0"] and all(d["offloaded"] for d in report["decisions"])


def test_missing_files_are_clear_errors(tmp_path):
    proc = run_cli("run", "nope.so", cwd=tmp_path)
    assert proc.returncode == 1 and "does not exist" in proc.stderr
    proc = run_cli("compile", "nope.onnx", cwd=tmp_path)
    assert proc.returncode == 1 and "nope.onnx" in proc.stderr and "does not exist" in proc.stderr
    assert os.listdir(tmp_path) == []


def one_line_error(proc, code: int) -> str:
    """The CLI's contract: exit 2 for usage, 1 for errors, one line on stderr, no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr and lines, proc.stderr
    return lines[-1]


@pytest.mark.parametrize("args,says", [
    (["--shape", "input=1,x,224"], "--shape: takes NAME=D0,D1,..."),
    (["--shape", "1,3,224,224"], "--shape: takes NAME=D0,D1,..."),
    (["--dim", "seq=16:128"], "--dim: takes NAME=MIN:OPT:MAX"),
    (["--dim", "seq=64:16:128"], "1 <= MIN <= OPT <= MAX"),
    (["--target", '{"kind": "cuda",'], "--target: "),
], ids=["shape not ints", "shape without name", "dim two values", "dim out of order", "target bad json"])
def test_malformed_options_are_usage_errors(args, says, tmp_path):
    line = one_line_error(run_cli("compile", *args, cwd=tmp_path), 2)
    assert says in line and line.startswith("tvm-tensorrt compile: error:")


def test_an_unwritable_output_is_one_line_naming_the_path(tmp_path):
    line = one_line_error(run_cli("compile", "-o", "/proc/nope/o.so", cwd=tmp_path), 1)
    assert line == "tvm-tensorrt: error: cannot write /proc/nope/o.so: folder /proc/nope does not exist"
    line = one_line_error(run_cli("compile", "-o", str(tmp_path), cwd=tmp_path), 1)
    assert "it is a folder" in line


@pytest.mark.parametrize("content", [b"", b"not a model at all", "truncated"], ids=["empty", "text", "truncated"])
def test_a_file_that_is_not_an_onnx_model_is_one_line(content, tmp_path):
    from tvm_tensorrt.models import DEFAULT_MODEL

    path = tmp_path / "bad.onnx"
    path.write_bytes(open(DEFAULT_MODEL, "rb").read()[:200] if content == "truncated" else content)
    line = one_line_error(run_cli("explain", str(path), cwd=tmp_path), 1)
    assert str(path) in line


def test_verify_prints_report_and_exit_code(tmp_path):
    proc = run_cli("verify", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "PASS: 1 TensorRT subgraph(s) checked on the CPU in fp32" in proc.stdout
    assert "tensorrt_0: 20 ops," in proc.stdout  # as compile and explain count them (not the folded weight transpose)
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


def test_engine_builds_show_progress_on_a_terminal_and_lines_elsewhere(tmp_path):
    """A bar redrawn per engine on a terminal (a pseudo-terminal here), one line per build phase
    when stderr is a pipe."""
    import pty

    parent, child = pty.openpty()
    proc = subprocess.Popen([*CLI, "compile", "--prebuild-engines", "-o", str(tmp_path / "a.so")], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=child)
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(parent, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=600) == 0
    os.close(parent)
    shown = b"".join(chunks).decode(errors="replace")
    assert "\rtensorrt_0 [" in shown and "100.0%" in shown and "#" * 30 in shown

    piped = run_cli("compile", "--prebuild-engines", "-o", str(tmp_path / "b.so"), cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr
    lines = [line for line in piped.stderr.splitlines() if line.startswith("tensorrt_0: building TensorRT engine:")]
    assert len(lines) >= 3 and "\r" not in piped.stderr and lines[-1].startswith("tensorrt_0: building TensorRT "
                                                                                "engine: done (100%")


def test_inspect_lists_each_subgraph_s_layers_and_engines(tmp_path):
    """`inspect` on the bundled model's library: its one subgraph's layers (as the runtime builds
    them), and with --prebuild-engines the embedded engine; on a cached .plan, its meta."""
    library = tmp_path / "model.so"
    assert run_cli("compile", "--prebuild-engines", "-o", str(library), cwd=tmp_path).returncode == 0
    proc = run_cli("inspect", str(library), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("tensorrt_0: inputs input_0 float32(1, 3, 32, 32)")
    assert any(line.strip().startswith("prebuilt engine") and "bytes" in line for line in lines)
    rows = [line.split() for line in lines if line.startswith("  tensorrt_0/")]
    assert len(rows) >= 10 and {"CONVOLUTION", "POOLING", "SOFTMAX"} <= {row[1] for row in rows}
    report = json.loads(run_cli("inspect", "--json", str(library), cwd=tmp_path).stdout)
    assert [entry["symbol"] for entry in report] == ["tensorrt_0"] and len(report[0]["layers"]) == len(rows)

    cache = tmp_path / "cache"
    env = {**os.environ, "TVM_TENSORRT_CACHE_DIR": str(cache)}
    subprocess.run([*CLI, "run", str(library)], cwd=tmp_path, env={**env, "TVM_TENSORRT_PRECISION": "fp16"},
                   capture_output=True, timeout=600, check=True)
    [plan] = cache.glob("*.plan")
    described = json.loads(run_cli("inspect", str(plan), cwd=tmp_path).stdout)
    assert described["precision"] == "fp16" and described["bytes"] == plan.stat().st_size
    assert described["layers"] > 0 and "needs a CUDA GPU" in described["engine_inspector"]


def test_a_failing_progress_reporter_neither_fails_nor_cancels_the_build(caplog):
    """A reporter writing to a stream that has since closed (main() called from a test that has
    ended, say) once made TensorRT cancel every later build in the process."""
    import tvm_tensorrt
    from tvm_tensorrt.cli import main
    from tvm_tensorrt.lowering.dispatch import offloaded_functions
    from tvm_tensorrt.lowering.serialize import subgraph_of
    from tvm_tensorrt.models import DEFAULT_MODEL
    from tvm_tensorrt.runtime.plan_builder import build_plan
    from tvm_tensorrt.runtime.progress import report_builds

    calls = []

    def closed_stream(symbol, fraction, phase):
        calls.append(phase)
        raise ValueError("I/O operation on closed file.")

    previous = report_builds(closed_stream)
    try:
        assert main(["explain"]) == 0  # main() shows builds while it runs, then puts ours back
        mod, _ = tvm_tensorrt.from_onnx(DEFAULT_MODEL)
        partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod)
        func, = offloaded_functions(partitioned).values()
        plan = build_plan(subgraph_of(func, str(func.attrs["global_symbol"]), config), config["max_workspace_size"])
    finally:
        assert report_builds(previous) is closed_stream
    assert len(plan) > 1000
    assert len(calls) == 1  # told once, then left alone for the rest of the build
    assert "the build progress reporter failed (ValueError: I/O operation on closed file.)" in caplog.text


def test_batch_mode_flags_default_to_the_target(tmp_path):
    default = run_cli("explain", cwd=tmp_path)
    assert default.returncode == 0, default.stderr
    assert "batch mode: explicit (TensorRT 10" in default.stdout and "the default for TensorRT >= 10" in default.stdout
    implicit = run_cli("explain", "--implicit-batch", cwd=tmp_path)
    assert implicit.returncode == 0, implicit.stderr
    assert "batch mode: implicit, on TensorRT 10" in implicit.stdout
    both = run_cli("explain", "--implicit-batch", "--explicit-batch", cwd=tmp_path)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
