#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtualenv in .venv with the package and its test tools.
# Versions are pinned in constraints.txt to what is verified on this project's machines.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[test,serve]"
# The Triton server for `tvm-tensorrt serve` (tests/test_serving.py): the tritonserver binary and its
# Python backend, shipped in nvidia-pytriton (a 55 MB wheel). --no-deps: its metadata pins numpy<2 for
# its own Python API, which we do not use (pyproject.toml's [serve] extra says more).
.venv/bin/python -m pip install --quiet --no-deps -c constraints.txt nvidia-pytriton==0.7.0
# From Debian's packages: the cross compiler for Jetson-class (aarch64) libraries (a test builds
# one), and Chromium, the headless browser the tests of the HTML partition report drive.
NEED=""
command -v aarch64-linux-gnu-g++ >/dev/null || NEED="$NEED g++-aarch64-linux-gnu"
command -v chromium >/dev/null || NEED="$NEED chromium"
if [ -n "$NEED" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $NEED >/dev/null
fi
.venv/bin/python -c "import tvm_tensorrt, tvm; from tvm_tensorrt.backend import load_backend; \
print('tvm', tvm.__version__, '|', load_backend().describe())"
