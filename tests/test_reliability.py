"""Bad inputs to a loaded library, foreign and outdated libraries, NaN/inf, threads and leaks."""

import gc
import logging
import threading

import numpy as np
import pytest
import tvm

import tvm_tensorrt
from model_utils import run_in_fresh_process
from test_runtime_cache import SHAPE, compile_library, two_subgraph_module


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return compile_library(tmp_path_factory.mktemp("lib") / "two.so")


@pytest.mark.parametrize("inputs,says", [
    (lambda: [np.zeros(SHAPE, "float32")] * 2, "two.so takes 1 input(s) (x); 2 were given"),
    (lambda: [], "two.so takes 1 input(s) (x); 0 were given"),
    (lambda: [np.zeros((2, 3, 8, 8), "float32")], 'input x (#0) of two.so takes R.Tensor((1, 3, 8, 8), '
                                                   'dtype="float32"); it was given float32 (2, 3, 8, 8)'),
    (lambda: [np.zeros(SHAPE, "float64")], "it was given float64 (1, 3, 8, 8)"),
    (lambda: [np.zeros((1, 3, 8), "float32")], "it was given float32 (1, 3, 8)"),
], ids=["too many", "none", "shape", "dtype", "rank"])
def test_wrong_inputs_are_an_input_error_naming_the_input(library, inputs, says):
    with pytest.raises(tvm_tensorrt.InputError) as raised:
        tvm_tensorrt.load(library).run(*inputs())
    assert says in str(raised.value)


def test_tvm_s_own_call_names_the_parameter_and_its_type(library):
    """vm["main"] is TVM's: its check already names the parameter and its annotation."""
    vm = tvm.relax.VirtualMachine(tvm.runtime.load_module(library), tvm.cpu())
    with pytest.raises(Exception, match=r'param=x, annotation=R.Tensor\(\(1, 3, 8, 8\), dtype="float32"\)'):
        vm["main"](tvm.runtime.tensor(np.zeros((2, 3, 8, 8), "float32")))


def test_nan_and_inf_pass_through(library):
    x = np.random.default_rng(0).standard_normal(SHAPE).astype("float32")
    x[0, 0, 0, 0], x[0, 1, 2, 3] = np.nan, np.inf
    [out] = tvm_tensorrt.load(library).run(x)
    assert out.shape == (1, 2, 8, 8) and np.isnan(out).any()  # the softmax spreads the NaN; nothing crashes


def test_a_shared_library_that_is_not_ours_says_so(tmp_path):
    import subprocess

    source = tmp_path / "other.c"
    source.write_text("int answer(void) { return 42; }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp_path / "other.so"), str(source)], check=True)
    with pytest.raises(tvm_tensorrt.TensorRTError, match="is not a library compiled by tvm-tensorrt or TVM"):
        tvm_tensorrt.load(str(tmp_path / "other.so"))


def test_a_library_from_another_version_of_this_package_says_rebuild(tmp_path, monkeypatch):
    """A library whose subgraphs were written in an older format fails on first use with the
    reason and the fix, in a fresh process as users meet it."""
    from tvm_tensorrt.formats import subgraph

    monkeypatch.setattr(subgraph, "FORMAT_VERSION", 2)
    old = compile_library(tmp_path / "old.so", two_subgraph_module())
    monkeypatch.undo()
    with pytest.raises(AssertionError, match=f"subgraph format version 2 is not {subgraph.FORMAT_VERSION}; rebuild "
                                             "the library with this tvm_tensorrt version"):
        run_in_fresh_process(old, np.zeros(SHAPE, "float32"), str(tmp_path))


def test_eight_threads_with_different_inputs_equal_serial_results(library, caplog):
    model = tvm_tensorrt.load(library)
    rng = np.random.default_rng(3)
    inputs = [[rng.standard_normal(SHAPE).astype("float32") for _ in range(200)] for _ in range(8)]
    serial = [[model.run(x)[0] for x in per_thread] for per_thread in inputs]
    threaded = [None] * 8
    errors = []

    def worker(i):
        try:
            threaded[i] = [model.run(x)[0] for x in inputs[i]]
        except Exception as err:  # noqa: BLE001 (reported below, not lost in the thread)
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tvm_tensorrt"):
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors
    # each thread's VM shares the library's constants: the engines the serial calls made serve them
    assert not [r for r in caplog.records if "Building new TensorRT engine" in r.getMessage()]
    for mine, theirs in zip(threaded, serial):
        for a, b in zip(mine, theirs):
            np.testing.assert_array_equal(a, b)


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_loading_and_dropping_a_library_fifty_times_does_not_grow_memory(library):
    x = np.zeros(SHAPE, "float32")
    for _ in range(5):  # warm up: allocator pools, the per-process engines
        tvm_tensorrt.load(library).run(x)
    gc.collect()
    before = resident_bytes()
    for _ in range(50):
        model = tvm_tensorrt.load(library)
        model.run(x)
        del model
    gc.collect()
    grown = resident_bytes() - before
    assert grown < 8 << 20, f"resident memory grew by {grown / 1e6:.1f} MB over 50 loads"
