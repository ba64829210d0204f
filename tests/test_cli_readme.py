"""Every code block of the README runs as written (issue 25, item 6): the Python blocks with this
interpreter and the bash blocks with bash, in order, in one folder laid out as a checkout (its
.venv), holding the files the text calls the user's: model.onnx (here the bundled CNN), calib/
and image.npy. The set-up block is the one left out: it creates the checkout and runs this very
suite. The machinery (blocks, the user's folder, running one) serves docs/ too
(tests/test_docs_blocks.py)."""

import os
import re
import shutil
import subprocess
import sys

import numpy as np

from tvm_tensorrt.models import DEFAULT_MODEL

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = re.compile(r"^```([\w-]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)  # every fenced block, with its language
RUN = ("bash", "python")  # the languages run as written; tests/test_docs_blocks.py names the others


def code_blocks(path: str) -> list:
    """(language, code) of every fenced block of a Markdown file, in order."""
    with open(path, encoding="utf-8") as f:
        return BLOCK.findall(f.read())


def readme_blocks() -> list:
    return [b for b in code_blocks(os.path.join(ROOT, "README.md")) if b[0] in RUN]


def user_folder(folder, model: str = DEFAULT_MODEL) -> dict:
    """Lay out `folder` as the docs' user has it: model.onnx, calib/ (4 batches), image.npy, and
    a checkout's .venv. Returns the environment to run blocks in (HOME there, so ~/.cache too)."""
    os.symlink(os.path.join(ROOT, ".venv"), os.path.join(folder, ".venv"))
    shutil.copy(model, os.path.join(folder, "model.onnx"))
    rng = np.random.default_rng(0)
    os.mkdir(os.path.join(folder, "calib"))
    for i in range(4):
        np.save(os.path.join(folder, "calib", f"batch{i}.npy"), rng.standard_normal((1, 3, 32, 32)).astype("float32"))
    np.save(os.path.join(folder, "image.npy"), rng.standard_normal((1, 3, 32, 32)).astype("float32"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVM_TENSORRT_")}
    env["HOME"] = str(folder)
    return env


def run_block(language: str, code: str, folder, env: dict) -> subprocess.CompletedProcess:
    """One block, as written: exit 0, no traceback, no warning on stderr."""
    command = [sys.executable, "-c", code] if language == "python" else ["bash", "-eo", "pipefail", "-c", code]
    proc = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (code, proc.stdout[-2000:], proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr and "Warning: " not in proc.stderr, (code, proc.stderr[-3000:])
    return proc


def test_every_readme_code_block_runs_as_written(tmp_path):
    blocks = readme_blocks()
    setup, *rest = blocks
    assert "setup.sh" in setup[1] and len(rest) >= 5, blocks
    env = user_folder(tmp_path)
    for language, code in rest:
        run_block(language, code, tmp_path, env)
    written = {"default.so", "report.html", "compiled.so", "model.so", "gpu_only.so", "int8.so"}
    assert written <= set(os.listdir(tmp_path))
    assert os.path.isdir(tmp_path / ".cache" / "tvm-tensorrt")


def test_the_documented_unsupported_onnx_operators_are_what_tvm_lacks():
    """docs/partitioning.md lists the ONNX operators no importer converts; the list is checked
    against the installed TVM (our converters merged in) and onnx's own schemas."""
    import onnx.defs
    from tvm.relax.frontend.onnx import onnx_frontend

    from tvm_tensorrt.onnx_ops import relax_importers

    with relax_importers():
        converted = set(onnx_frontend._get_convert_map()) | {"If", "Constant"}  # the importer's own two
    lacking = sorted({s.name for s in onnx.defs.get_all_schemas() if s.domain in ("", "ai.onnx") and not s.deprecated}
                     - converted)
    with open(os.path.join(ROOT, "docs", "partitioning.md"), encoding="utf-8") as f:
        text = f.read()
    listed = text.split("<!-- unsupported-onnx-ops -->")[1].split("<!-- /unsupported-onnx-ops -->")[0]
    assert re.findall(r"`(\w+)`", listed) == lacking
    assert {"LSTM", "GRU", "DFT"} <= set(lacking)
