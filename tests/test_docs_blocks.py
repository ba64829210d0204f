"""Every code block of docs/*.md runs as written (issue 25), with the README's machinery
(tests/test_cli_readme.py): the bash and Python blocks (RUN), in order, one folder per test
module, so what one block writes (model.so) the next may use. The user's model.onnx there is the
bundled CNN with its batch dim named `batch`, the model docs/serving.md asks for; `tvm-tensorrt`
is on PATH, as for a user who installed the package.

A block in any other language is not run, and each language says why (NOT_RUN); a fence without
a language, or with one in neither list, fails here, so no runnable block is skipped unseen."""

import glob
import os

import onnx
import pytest

from test_cli_readme import ROOT, RUN, code_blocks, run_block, user_folder
from tvm_tensorrt.models import DEFAULT_MODEL

NOT_RUN = {
    "text": "output samples, pseudo-code and formats, and commands for elsewhere: a server that runs until "
            "Ctrl-C (tests/test_serving.py runs them), installing packages, a device image, what needs a GPU",
    "yaml": "Kubernetes manifests",
    "dockerfile": "container images",
}
DOCS = sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def test_every_block_is_run_or_says_why_not():
    for path in [os.path.join(ROOT, "README.md"), *DOCS]:
        for language, code in code_blocks(path):
            assert language in RUN or language in NOT_RUN, (os.path.relpath(path, ROOT), language, code[:200])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docs")
    model = onnx.load(DEFAULT_MODEL)
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.save(model, str(folder / "batched.onnx"))
    env = user_folder(folder, model=str(folder / "batched.onnx"))
    env["PATH"] = os.path.join(folder, ".venv", "bin") + os.pathsep + env.get("PATH", "")
    return folder, env


@pytest.mark.parametrize("doc", [os.path.basename(p) for p in DOCS])
def test_every_docs_code_block_runs_as_written(doc, folder):
    folder, env = folder
    for language, code in code_blocks(os.path.join(ROOT, "docs", doc)):
        if language in RUN:
            run_block(language, code, folder, env)
