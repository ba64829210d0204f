"""Issue 25: a command line a user can trust. Nothing of theirs is overwritten, Ctrl-C stops with
one line and exit code 130 (a running TensorRT build cancelled, nothing left behind), a damaged
library is one line, typos in --shape/--dim are errors that list what the model has, and hints
name flags, not Python arguments."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tvm_tensorrt.models import DEFAULT_MODEL
from test_cli import CLI, one_line_error, run_cli

MODELS = os.path.join(os.path.dirname(__file__), "models")


def one_line(proc, code: int) -> str:
    """test_cli's one-line contract, and no TensorRT complaint ("Exception caught" in its logger)."""
    line = one_line_error(proc, code)
    assert "Exception caught" not in proc.stderr, proc.stderr
    return line


# -- 1. the output never replaces the input; the default output is named after it ---------------

def test_an_output_that_would_replace_the_model_is_refused(tmp_path):
    model = tmp_path / "model.onnx"
    shutil.copy(DEFAULT_MODEL, model)
    before = model.read_bytes()
    line = one_line(run_cli("compile", "model.onnx", "-o", "model.onnx", cwd=tmp_path), 2)
    assert line == ("tvm-tensorrt compile: error: -o model.onnx would replace the model model.onnx; give another "
                    "file name, e.g. -o model.so")
    line = one_line(run_cli("compile", "model.onnx", "-o", "other.onnx", cwd=tmp_path), 2)
    assert "a library named .onnx would pass for a model" in line
    line = one_line(run_cli("explain", str(model), "--html", "./model.onnx", cwd=tmp_path), 2)
    assert "--html ./model.onnx would replace the model" in line
    assert model.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["model.onnx"]


def test_the_default_output_is_named_after_the_model_in_the_current_folder(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "work").mkdir()
    shutil.copy(DEFAULT_MODEL, tmp_path / "models" / "resnet.onnx")
    proc = run_cli("compile", "../models/resnet.onnx", cwd=tmp_path / "work")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("Wrote resnet.so in ")
    assert sorted(os.listdir(tmp_path / "work")) == ["resnet.so", "resnet.so.json"]
    proc = run_cli("compile", cwd=tmp_path / "work")  # the bundled model
    assert proc.returncode == 0, proc.stderr
    assert "default_cnn.so" in os.listdir(tmp_path / "work")


# -- 2. Ctrl-C --------------------------------------------------------------------------------------

# SIGINT sent from inside the CLI at a chosen moment: while TensorRT builds an engine (in its
# progress callback, where TensorRT used to catch the KeyboardInterrupt and finish the build), or
# while the library is checked before it is renamed into place.
INTERRUPTING = textwrap.dedent("""
    import os, signal, sys
    from tvm_tensorrt import library_file
    from tvm_tensorrt.runtime import progress
    import tvm_tensorrt.cli as cli

    moment = sys.argv.pop(1)
    if moment == "build":
        shown = progress.TerminalBar.__call__
        def bar(self, symbol, fraction, phase):
            shown(self, symbol, fraction, phase)
            if phase.startswith("Cloning"):
                os.kill(os.getpid(), signal.SIGINT)
        progress.TerminalBar.__call__ = bar
    else:
        check = library_file._Reader.check
        def checked(self):
            os.kill(os.getpid(), signal.SIGINT)
            return check(self)
        library_file._Reader.check = checked
    sys.exit(cli.main(sys.argv[1:]))
""")


def interrupted(moment, *args, cwd):
    proc = subprocess.run([sys.executable, "-c", INTERRUPTING, moment, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)
    assert one_line(proc, 130) == "tvm-tensorrt: interrupted"
    return proc


def test_ctrl_c_during_an_engine_build_cancels_it(tmp_path):
    proc = interrupted("build", "compile", "--prebuild-engines", "-o", "a.so", cwd=tmp_path)
    assert "tensorrt_0: building TensorRT engine: cancelled" in proc.stderr
    assert "done (100%" not in proc.stderr and "Wrote" not in proc.stdout
    assert os.listdir(tmp_path) == []  # no library, no sidecar, no temporary folder

    assert run_cli("compile", "-o", "b.so", cwd=tmp_path).returncode == 0
    proc = interrupted("build", "run", "b.so", cwd=tmp_path)  # the build inside TVM's VM call
    assert "cancelled" in proc.stderr and "output 0" not in proc.stdout


def test_ctrl_c_while_the_library_is_written_leaves_nothing(tmp_path):
    interrupted("export", "compile", "-o", "a.so", cwd=tmp_path)
    assert os.listdir(tmp_path) == []


def test_ctrl_c_from_outside_at_any_moment_after_start_up(tmp_path):
    """A real SIGINT from outside, after the first two lines of `run`'s output (the model imported
    and partitioned, while it is being compiled): 130 and one line."""
    proc = subprocess.Popen([*CLI, "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})  # each line as it is printed
    lines = [proc.stdout.readline()]
    while proc.poll() is None and len(lines) < 2:
        lines.append(proc.stdout.readline())
    stopped = proc.poll() is None
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert stopped, "the CLI finished before it could be interrupted"
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "tvm-tensorrt: interrupted", err
    assert "Traceback" not in err and "output 0" not in out



# While Python imports TVM (the first ~1.3 s), before cli.main() runs: the installed command's
# module (tvm_tensorrt_launcher.py) has its handler in place by then. The first ~30 ms are
# Python's own start-up (site, .pth files), before any module of ours: 0.1 s is past them.
SCRIPT = os.path.join(os.path.dirname(sys.executable), "tvm-tensorrt")


@pytest.mark.parametrize("command, moments", [([SCRIPT], (0.1, 0.3, 0.8, 1.3)),
                                              ([sys.executable, "-m", "tvm_tensorrt_launcher"], (0.5,))])
def test_ctrl_c_while_the_command_starts(tmp_path, command, moments):
    assert os.path.isfile(command[0]), "the console script: pip install -e . (setup.sh) installs it"
    for moment in moments:
        proc = subprocess.Popen([*command, "compile", "-o", "a.so"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=tmp_path)
        time.sleep(moment)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode, err.splitlines()) == (130, ["tvm-tensorrt: interrupted"]), (moment, err)
        assert "Wrote" not in out
    assert os.listdir(tmp_path) == []


# -- 3. a damaged library ------------------------------------------------------------------------

def test_a_cut_off_library_is_one_line_not_a_signal(tmp_path):
    assert run_cli("compile", "-o", "whole.so", cwd=tmp_path).returncode == 0
    data = (tmp_path / "whole.so").read_bytes()
    for size in (len(data) // 2, len(data) - 1000):
        (tmp_path / "cut.so").write_bytes(data[:size])
        for command in ("run", "inspect"):
            line = one_line(run_cli(command, "cut.so", cwd=tmp_path), 1)
            assert line.startswith("tvm-tensorrt: error: cut.so is damaged: ") and "copy it again" in line


# -- 4. --shape and --dim names ------------------------------------------------------------------

@pytest.mark.parametrize("model,args,says", [
    (None, ["--shape", "nosuch=1,3,32,32"], "--shape nosuch=...: the model has no input named 'nosuch'; its inputs: "
                                            "image (1, 3, 32, 32) float32"),
    (None, ["--shape", "image=1,3,32"], "--shape image=1,3,32: input image has 4 dims (1, 3, 32, 32); 3 were given "
                                        "(1, 3, 32)"),
    (None, ["--dim", "batch=1:2:4"], "--dim batch: no input of the model has a dynamic dim named 'batch'; the model's "
                                     "inputs have no dynamic dims"),
    ("bert_encoder_dynamic.onnx", ["--dim", "seq=1:8:16"],
     "its dynamic dims: batch (of input_ids, attention_mask), sequence (of input_ids, attention_mask)"),
    ("vit_dynamic_batch.onnx", ["--shape", "pixel_values=2,3,32,32", "--dim", "batch=1:2:4"],
     "--dim batch: --shape pixel_values=... fixes it"),
], ids=["shape name", "shape rank", "dim on a static model", "dim name", "dim fixed by shape"])
def test_shape_and_dim_names_must_exist(model, args, says, tmp_path):
    path = os.path.join(MODELS, model) if model else DEFAULT_MODEL
    for command in ("explain", "compile"):
        line = one_line(run_cli(command, path, *args, cwd=tmp_path), 2)
        assert line.startswith(f"tvm-tensorrt {command}: error: ") and says in line, line
    assert os.listdir(tmp_path) == []


def test_a_failed_import_after_a_shape_changed_fixed_dims_says_so(tmp_path):
    line = one_line(run_cli("explain", "--shape", "image=1,4,32,32", cwd=tmp_path), 1)
    assert "ONNX node 'c1' (Conv)" in line
    assert line.endswith("--shape image=1,4,32,32 changes the model's fixed shape (1, 3, 32, 32) (the model may "
                         "work at its own sizes only)")
    proc = run_cli("explain", "--shape", "image=2,3,32,32", cwd=tmp_path)  # another batch: allowed, as before
    assert proc.returncode == 0 and "20 of 20 operator calls offloaded" in proc.stdout


# -- 5. hints in the words of the CLI -------------------------------------------------------------

def test_reasons_and_errors_name_flags_at_the_shell(tmp_path):
    import numpy as np

    proc = run_cli("explain", os.path.join(MODELS, "vit_dynamic_batch.onnx"), "--implicit-batch", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "the batch dimension (--explicit-batch offloads it)" in proc.stdout
    assert "use_implicit_batch" not in proc.stdout

    assert run_cli("compile", "-o", "gpu.so", "--no-cpu-fallback", cwd=tmp_path).returncode == 0
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 32, 32), "float32"))
    line = one_line(run_cli("run", "gpu.so", cwd=tmp_path), 1)  # no CUDA device here
    assert "compiled with --no-cpu-fallback" in line and "compile it again without --no-cpu-fallback" in line
    assert "cpu_fallback" not in line
    (tmp_path / "gpu.so.json").unlink()  # without the CLI's notes, the runtime's own error, translated
    line = one_line(run_cli("run", "gpu.so", "--input", "x.npy", cwd=tmp_path), 1)
    assert "compiled with --no-cpu-fallback" in line and "compile it again without --no-cpu-fallback" in line



def test_a_library_without_cpu_fallback_raises_without_promising_a_fallback(tmp_path, caplog):
    """Where no engine runs, a cpu_fallback=False library raises its one typed error; the log must
    not say first that the subgraph runs through TVM. The same subgraph in a library with the
    fallback still says so (once per process: it is checked after, on a fresh runtime)."""
    import logging

    import numpy as np
    from tvm import relax

    import tvm_tensorrt
    from tvm_tensorrt.runtime.executor import forget_runtimes

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((2, 8), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(relax.op.nn.relu(relax.op.matmul(x, relax.const(np.ones((8, 4), "float32")))))
        bb.emit_func_output(out)
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(bb.get())
    for name, fallback in (("gpu_only.so", False), ("both.so", True)):
        tvm_tensorrt.build(partitioned, config=config, cpu_fallback=fallback).export_library(str(tmp_path / name))
    caplog.set_level(logging.INFO, logger="tvm_tensorrt")
    forget_runtimes()
    with pytest.raises(tvm_tensorrt.TensorRTError, match="built with cpu_fallback=False") as raised:
        tvm_tensorrt.load(str(tmp_path / "gpu_only.so")).run(np.ones((2, 8), "float32"))
    assert str(raised.value).count("\n") == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [], warnings
    assert "Finished building TensorRT engine for subgraph tensorrt_0" in caplog.text  # conversion still checked
    caplog.clear()
    out = tvm_tensorrt.load(str(tmp_path / "both.so")).run(np.ones((2, 8), "float32"))[0]
    np.testing.assert_allclose(out, np.full((2, 4), 8.0))
    assert "No CUDA device holds the inputs of tensorrt_0: it runs through TVM on the CPU" in caplog.text
    forget_runtimes()


def test_cli_words_translate_the_python_hints():
    from tvm_tensorrt.cli_words import cli_words

    assert cli_words("a (use_implicit_batch=False offloads it)") == "a (--explicit-batch offloads it)"
    assert cli_words("relax.nn.softmax is in ops_to_exclude") == "relax.nn.softmax is excluded (--exclude)"
    assert cli_words("give one, e.g. dim_ranges={'seq': (1, 64, 256)} (CLI: --dim seq=1:64:256)") == \
        "give one, e.g. --dim seq=1:64:256"
    assert cli_words("shapes: from_onnx(..., shape_dict={name: shape}), CLI --shape NAME=D0,D1,...)") == \
        "shapes: --shape NAME=D0,D1,...)"


# -- 6. load(device="cuda") without CUDA ------------------------------------------------------------

def test_loading_on_a_missing_cuda_device_is_our_typed_error(tmp_path):
    import tvm

    import tvm_tensorrt
    from tvm_tensorrt.errors import DeviceUnavailableError

    if tvm.cuda(0).exist:
        pytest.skip("a CUDA device exists here: tests/test_gpu_run.py covers load on it")
    assert run_cli("compile", "-o", "m.so", cwd=tmp_path).returncode == 0
    with pytest.raises(DeviceUnavailableError, match=r"cuda:0 is not available on this machine.*device=\"cpu\""):
        tvm_tensorrt.load(str(tmp_path / "m.so"), device="cuda")


# -- 8. the smaller items -------------------------------------------------------------------------

def test_version_verbose_anywhere_sizes_and_saved_outputs(tmp_path):
    import numpy as np

    from tvm_tensorrt.cli_args import size_arg

    proc = run_cli("--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("tvm-tensorrt ") and "TVM 0." in proc.stdout
    assert size_arg("1G") == 1 << 30 and size_arg("512M") == 512 << 20 and size_arg("1.5GiB") == 3 << 29
    assert size_arg("4096") == 4096
    line = one_line(run_cli("explain", "--max-workspace-size", "lots", cwd=tmp_path), 2)
    assert "--max-workspace-size: takes a size such as 1G, 512M" in line

    proc = run_cli("compile", "-o", "m.so", "--max-workspace-size", "256M", "-v", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert '"max_workspace_size": 268435456' in (tmp_path / "m.so.json").read_text()
    (tmp_path / "out").mkdir()
    proc = run_cli("run", "m.so", "--save", "out", "-v", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Building new TensorRT engine for subgraph tensorrt_0" in proc.stderr  # -v after the subcommand
    saved = np.load(tmp_path / "out" / "output_0.npy")
    assert saved.shape == (1, 10) and f"max {saved.max():.5g}" in proc.stdout
    assert os.listdir(tmp_path / "out") == ["output_0.npy"]


def test_a_reader_that_stops_early_is_no_error(tmp_path):
    assert run_cli("compile", "-o", "m.so", cwd=tmp_path).returncode == 0
    proc = subprocess.run(f"{sys.executable} -m tvm_tensorrt.cli inspect --json m.so | head -c 1", shell=True,
                          capture_output=True, text=True, cwd=tmp_path, timeout=600, executable="/bin/bash")
    assert proc.stdout == "[" and proc.stderr == "", proc.stderr


def test_a_call_outside_a_dim_range_says_that_its_engine_is_built_again(tmp_path, caplog):
    import numpy as np

    import tvm_tensorrt

    mod, params = tvm_tensorrt.from_onnx(os.path.join(MODELS, "bert_encoder_dynamic.onnx"))
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, params, dim_ranges={"sequence": (4, 8, 16)})
    tvm_tensorrt.build(partitioned, target="llvm", config=config).export_library(str(tmp_path / "bert.so"))
    model = tvm_tensorrt.load(str(tmp_path / "bert.so"))

    def call(length):
        ids = np.ones((1, length), "int64")
        caplog.clear()
        model.run(ids, ids)
        return [r.getMessage() for r in caplog.records if "outside its range" in r.getMessage()]

    with caplog.at_level("WARNING", logger="tvm_tensorrt"):
        assert call(8) == [] and call(16) == []
        [said] = call(32)
        assert call(32) == [] and call(12) == []  # the stretched engine serves both, without a word
    assert said.endswith("sequence=32 is outside its range 4..16 (dim_ranges, CLI --dim): its engine is built "
                         "again to cover 4..32")


def test_a_float64_calibration_file_is_named_in_one_line(tmp_path):
    import numpy as np

    (tmp_path / "calib").mkdir()
    np.save(tmp_path / "calib" / "a.npy", np.zeros((1, 3, 32, 32), "float32"))
    np.save(tmp_path / "calib" / "b.npy", np.zeros((1, 3, 32, 32)))  # numpy's default: float64
    line = one_line(run_cli("compile", "--int8", "--calib-data", "calib", cwd=tmp_path), 1)
    assert line.endswith('calib/b.npy is float64; input image takes float32 (save it as np.asarray(x, "float32"))')
    assert sorted(os.listdir(tmp_path)) == ["calib"]
