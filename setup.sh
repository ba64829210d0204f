#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtualenv in .venv with the package and its test tools.
# Versions are pinned in constraints.txt to what is verified on this project's machines.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[test]"
# The cross compiler for Jetson-class (aarch64) libraries, from Debian's packages; a test builds one.
if ! command -v aarch64-linux-gnu-g++ >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq g++-aarch64-linux-gnu >/dev/null
fi
.venv/bin/python -c "import tvm_tensorrt, tvm; from tvm_tensorrt.backend import load_backend; \
print('tvm', tvm.__version__, '|', load_backend().describe())"
