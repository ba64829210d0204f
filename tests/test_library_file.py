"""Issue 28, item 1: a library is never written corrupt, and a damaged one is one line, never a signal.

Measured before: a 1.1B-parameter LLM's library came out of `export_library` 2**32 bytes short in
its embedded blob, `compile` said "Wrote", and loading it died of SIGSEGV; a library cut short by
a copy dies of SIGBUS (exit 135) inside `tvm.runtime.load_module`.
"""

import io
import os
import shutil
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
import tvm
from tvm import relax
from tvm.relax.vm_build import VMExecutable

import tvm_tensorrt
from tvm_tensorrt import CorruptLibraryError, LibraryTooLargeError, TensorRTError
from tvm_tensorrt.cli import compile_model, main
from tvm_tensorrt.library_file import EMBED_LIMIT, check_library, embedded_bytes
from tvm_tensorrt.models import DEFAULT_MODEL

CLI = [sys.executable, "-m", "tvm_tensorrt.cli"]
IMAGE = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype("float32")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The bundled model compiled by the CLI's path: (library, its .json, the "Wrote" output)."""
    path = str(tmp_path_factory.mktemp("lib") / "default.so")
    out = io.StringIO()
    compile_model(DEFAULT_MODEL, path, out=out)
    return path, path + ".json", out.getvalue()


@pytest.fixture(scope="module")
def built():
    """What tvm_tensorrt.build returns for the bundled model."""
    mod, params = tvm_tensorrt.from_onnx(DEFAULT_MODEL)
    mod, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
    return tvm_tensorrt.build(mod, target="llvm", config=config)


def copy_cut(source: str, folder, size: int) -> str:
    """A copy of the library (and its .json) cut to `size` bytes, as an interrupted copy leaves it."""
    path = str(folder / "cut.so")
    with open(source, "rb") as f:
        data = f.read(size)
    with open(path, "wb") as f:
        f.write(data)
    shutil.copy(source + ".json", path + ".json")
    return path


def cut_sizes(path: str) -> dict:
    info = check_library(path)
    return {"60%": info["file_bytes"] * 6 // 10, "inside the blob": info["blob_offset"] + 8 + 5}


def one_line(proc) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stderr)  # 135/139 would be SIGBUS/SIGSEGV
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_the_checked_library_loads_and_runs(compiled):
    path, _, said = compiled
    assert f"Wrote {path}" in said
    info = check_library(path)
    assert info["blob_bytes"] > 0 and info["blob_offset"] + 8 + info["blob_bytes"] < info["file_bytes"]
    assert sorted(os.listdir(os.path.dirname(path))) == ["default.so", "default.so.json"]  # no temporary left
    out = tvm_tensorrt.load(path).run(IMAGE)[0]
    assert out.shape == (1, 10) and np.isfinite(out).all()


def test_the_check_takes_well_under_a_millisecond_or_so(compiled):
    start = time.perf_counter()
    for _ in range(100):
        check_library(compiled[0])
    assert (time.perf_counter() - start) / 100 < 0.005  # measured here: ~0.06 ms


def test_build_returns_an_executable_that_checks_its_own_export(built, tmp_path):
    assert isinstance(built, VMExecutable)  # VirtualMachine(ex, dev), ex.jit(), ex.mod as before
    vm = relax.VirtualMachine(built, tvm.cpu())
    expected = vm["main"](tvm.runtime.tensor(IMAGE)).numpy()
    built.export_library(str(tmp_path / "a.so"))
    assert tvm_tensorrt.export_library(built, tmp_path / "b.so")["blob_bytes"] > 0
    for name in ("a.so", "b.so"):
        np.testing.assert_allclose(tvm_tensorrt.load(str(tmp_path / name)).run(IMAGE)[0], expected, rtol=1e-5)
    assert sorted(os.listdir(tmp_path)) == ["a.so", "b.so"]


@pytest.mark.parametrize("where", ["60%", "inside the blob"])
def test_a_truncated_library_is_a_typed_error(compiled, tmp_path, where):
    path = copy_cut(compiled[0], tmp_path, cut_sizes(compiled[0])[where])
    with pytest.raises(CorruptLibraryError, match="cut.so is damaged: .* past the end of the"):
        tvm_tensorrt.load(path)
    # in a fresh process: an exit code and one line, never the SIGBUS TVM's loader dies of
    proc = subprocess.run([sys.executable, "-c", "import sys, tvm_tensorrt; tvm_tensorrt.load(sys.argv[1])", path],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "CorruptLibraryError" in proc.stderr, (proc.returncode, proc.stderr)
    for command in ("run", "inspect"):
        proc = subprocess.run([*CLI, command, path], capture_output=True, text=True, timeout=300)
        assert one_line(proc).startswith(f"tvm-tensorrt: error: {path} is damaged:")


def test_an_empty_or_headless_file_is_refused_too(tmp_path):
    (tmp_path / "x.so").write_bytes(b"\x7fELF\x02\x01\x01")
    with pytest.raises(CorruptLibraryError, match="the ELF header"):
        tvm_tensorrt.load(str(tmp_path / "x.so"))
    (tmp_path / "y.so").write_bytes(b"not a library at all")
    assert check_library(str(tmp_path / "y.so")) is None  # not ELF: TVM's loader says what it is
    with pytest.raises(TensorRTError, match="not a library compiled by"):
        tvm_tensorrt.load(str(tmp_path / "y.so"))


def written_short(real):
    """An export that does what TVM 0.27's LLVM did past 4 GiB: the blob's length says 2**32
    bytes more than the library holds."""
    def export(self, file_name, **kwargs):
        real(self, file_name, **kwargs)
        offset = check_library(file_name)["blob_offset"]
        with open(file_name, "r+b") as f:
            f.seek(offset)
            nbytes = struct.unpack("<Q", f.read(8))[0]
            f.seek(offset)
            f.write(struct.pack("<Q", nbytes + (1 << 32)))
    return export


def test_a_library_written_short_never_replaces_the_old_one(built, tmp_path, monkeypatch):
    dest = tmp_path / "model.so"
    dest.write_bytes(b"the previous library")
    monkeypatch.setattr(VMExecutable, "export_library", written_short(VMExecutable.export_library))
    with pytest.raises(CorruptLibraryError, match=r"claim \d+ bytes but their symbol holds \d+ \(4294967296 missing\)"):
        built.export_library(str(dest))
    assert dest.read_bytes() == b"the previous library"
    assert os.listdir(tmp_path) == ["model.so"]  # the temporary folder is gone


def test_a_failed_export_leaves_nothing_behind(built, tmp_path, monkeypatch):
    def fails(self, file_name, **kwargs):
        with open(file_name, "wb") as f:
            f.write(b"\x7fELF half")
        raise RuntimeError("linker killed")
    monkeypatch.setattr(VMExecutable, "export_library", fails)
    with pytest.raises(RuntimeError, match="linker killed"):
        tvm_tensorrt.export_library(built, tmp_path / "model.so")
    assert os.listdir(tmp_path) == []


def test_compile_says_wrote_only_after_the_check(tmp_path, monkeypatch, capsys):
    dest = tmp_path / "model.so"
    dest.write_bytes(b"the previous library")
    monkeypatch.setattr(VMExecutable, "export_library", written_short(VMExecutable.export_library))
    assert main(["compile", "-o", str(dest)]) == 1
    out, err = capsys.readouterr()
    assert "Wrote" not in out
    assert err.strip().startswith(f"tvm-tensorrt: error: TVM wrote a damaged library, so {dest} was not written "
                                  "(a file there is unchanged): the embedded modules claim")
    assert len(err.strip().splitlines()) == 1
    assert dest.read_bytes() == b"the previous library" and os.listdir(tmp_path) == ["model.so"]


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def module_with(*constants) -> tvm.IRModule:
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((2,), "uint8"))
    with bb.function("main", [x]):
        bb.emit_func_output(bb.emit(relax.Tuple([x, *constants])))
    return bb.get()


def test_constants_past_4_gib_are_refused_before_anything_is_written(tmp_path):
    before = rss_bytes()
    big = tvm.runtime.empty((2 ** 32 + 64,), "uint8")  # allocated lazily: no page is touched
    mod = module_with(relax.const(big), relax.const(big))  # the same tensor twice is stored once
    assert embedded_bytes(mod) == 2 ** 32 + 64 > EMBED_LIMIT
    with pytest.raises(LibraryTooLargeError, match=r"constants take 4\.00 GiB \(4294967360 bytes\); TVM 0\.27 writes "
                                                    r"at most 3\.75 GiB into one library.*external_weights=True"):
        tvm_tensorrt.build(mod, target="llvm", external_weights=False)  # by default they go beside it
    with pytest.raises(LibraryTooLargeError):  # TVM's own flow with our pipeline refuses as well
        tvm.compile(mod, target="llvm", relax_pipeline=tvm_tensorrt.pipeline())
    assert not any(tmp_path.iterdir())
    assert rss_bytes() - before < 256 << 20  # no GB was touched


def test_embedded_bytes_counts_dtypes_and_each_tensor_once():
    half = tvm.runtime.empty((3, 5), "float16")
    mod = module_with(relax.const(half), relax.const(half), relax.const(np.zeros((7,), "uint16")))
    assert embedded_bytes(mod) == 3 * 5 * 2 + 7 * 2
