#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtualenv in .venv with the package and its test tools.
# Versions are pinned in constraints.txt to what is verified on this project's machines.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[test]"
.venv/bin/python -c "import tvm_tensorrt, tvm; from tvm_tensorrt.runtime.backend import load_backend; \
print('tvm', tvm.__version__, '|', load_backend().describe())"
