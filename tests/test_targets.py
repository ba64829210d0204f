"""Targets in every form users write them, and a library cross-compiled for a Jetson-class
aarch64 device (the cross compiler comes from Debian's g++-aarch64-linux-gnu, which setup.sh
installs)."""

import json
import os
import struct
import subprocess
import sys

import pytest
import tvm

import tvm_tensorrt
from tvm_tensorrt.errors import ConfigError
from tvm_tensorrt.models import DEFAULT_MODEL
from tvm_tensorrt.targets import make_target

EM_AARCH64 = 183
CLI = [sys.executable, "-m", "tvm_tensorrt.cli"]


@pytest.mark.parametrize("given", ["cuda -arch=sm_87", {"kind": "cuda", "arch": "sm_87"},
                                   tvm.target.Target({"kind": "cuda", "arch": "sm_87"})],
                         ids=["classic string", "JSON dict", "Target"])
def test_every_target_form_becomes_one_target(given):
    target = make_target(given)
    assert isinstance(target, tvm.target.Target)
    assert target.kind.name == "cuda" and str(target.attrs["arch"]) == "sm_87"
    assert str(make_target("cuda", arch="sm_87").attrs["arch"]) == "sm_87"


def test_bad_targets_name_the_problem():
    with pytest.raises(ConfigError, match="arch='sm_87' applies to CUDA targets, not 'llvm'"):
        make_target("llvm", arch="sm_87")
    with pytest.raises(ConfigError, match="not a target TVM knows"):
        make_target("no_such_kind")
    with pytest.raises(ConfigError, match="kind string"):
        make_target(42)


@pytest.mark.parametrize("given", ["llvm", {"kind": "llvm"}, tvm.target.Target("llvm")],
                         ids=["kind string", "JSON dict", "Target"])
def test_build_takes_every_target_form(given):
    mod, params = tvm_tensorrt.from_onnx(DEFAULT_MODEL)
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
    assert tvm_tensorrt.build(partitioned, target=given, config=config) is not None


def elf_machine(path) -> int:
    with open(path, "rb") as f:
        header = f.read(20)
    assert header[:4] == b"\x7fELF"
    return struct.unpack("<H", header[18:20])[0]


def test_cli_cross_compiles_for_a_jetson(tmp_path):
    """--target cuda --arch sm_87 --host aarch64: a library for Jetson Orin, made here."""
    library = str(tmp_path / "jetson.so")
    proc = subprocess.run([*CLI, "compile", "-o", library, "--target", "cuda", "--arch", "sm_87", "--host", "aarch64"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert elf_machine(library) == EM_AARCH64
    symbols = subprocess.run(["aarch64-linux-gnu-nm", "-D", library], capture_output=True, text=True,
                             check=True).stdout
    assert "__tvm_ffi__library_bin" in symbols  # TVM's module blob: the VM program and the CUDA kernels
    assert "__tvm_ffi_conv2d" in symbols  # host code of the TVM copy, compiled for aarch64
    assert open(library, "rb").read().count(b"TVMTRTSG") >= 1  # the serialised subgraph travels inside
    meta = json.load(open(library + ".json"))
    assert '"arch":"sm_87"' in meta["target"] and "aarch64-linux-gnu" in meta["target"]


def test_cli_takes_a_json_target(tmp_path):
    library = str(tmp_path / "model.so")
    proc = subprocess.run([*CLI, "compile", "-o", library, "--target", '{"kind": "llvm"}'], capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert os.path.getsize(library) > 0


def test_a_cuda_library_on_a_machine_without_cuda_says_so_in_one_line(tmp_path):
    """TVM's loader meets the CUDA kernels of the library's TVM part before any device check."""
    library = str(tmp_path / "gpu.so")
    proc = subprocess.run([*CLI, "compile", "-o", library, "--target", "cuda", "--arch", "sm_87"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for command in (["run", library], ["export-triton", library, str(tmp_path / "repo")]):
        proc = subprocess.run([*CLI, *command], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 1, proc.stderr[-3000:]
        [line] = proc.stderr.strip().splitlines()
        assert "was compiled for CUDA" in line and "--target llvm" in line, line
        assert "load_from_bytes" not in line and 'target="llvm"' not in line
    with pytest.raises(tvm_tensorrt.DeviceUnavailableError, match='compile for this one with target="llvm"'):
        tvm_tensorrt.load(library)
