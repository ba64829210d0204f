"""The per-call path of a library: one lookup after the first call, nothing that grows per call,
and a library's engines and weights let go of when the library is.

The cost in microseconds is a benchmark (bench/call_overhead.py), not a test; these tests check
the structure that makes it cheap and flat."""

import gc
import tracemalloc

import numpy as np
import pytest
import tvm

import tvm_tensorrt
from tvm_tensorrt.runtime import executor
from test_runtime_cache import SHAPE, compile_library

X = np.random.default_rng(0).standard_normal(SHAPE).astype("float32")


@pytest.fixture(scope="module")
def two_subgraph_library(tmp_path_factory):
    return compile_library(tmp_path_factory.mktemp("calls") / "two.so")


@pytest.fixture(autouse=True)
def fresh_runtimes():
    executor.forget_runtimes()
    yield
    executor.forget_runtimes()


def test_after_the_first_call_each_call_is_a_lookup(two_subgraph_library, monkeypatch):
    vm = tvm.relax.VirtualMachine(tvm.runtime.load_module(two_subgraph_library), tvm.cpu())
    x = tvm.runtime.tensor(X)
    first = vm["main"](x).numpy()
    assert len(executor._BOUND) == 2 and len(executor._RUNTIMES) == 2  # two subgraphs, bound once each

    def no_more_work(*args, **kwargs):
        raise AssertionError("a repeated call reached the runtime's slow path")

    for slow in ("engine_for", "values_of"):
        monkeypatch.setattr(executor.SubgraphRuntime, slow, no_more_work)
    monkeypatch.setattr(executor, "_decode_with_weights", no_more_work)
    monkeypatch.setattr(executor, "read_digest", no_more_work)
    for _ in range(5):
        np.testing.assert_array_equal(vm["main"](x).numpy(), first)
    assert len(executor._BOUND) == 2


def test_memory_does_not_grow_per_call(two_subgraph_library):
    main = tvm.relax.VirtualMachine(tvm.runtime.load_module(two_subgraph_library), tvm.cpu())["main"]
    x = tvm.runtime.tensor(X)
    for _ in range(50):
        main(x)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(3000):
        main(x)
    gc.collect()
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename") if s.size_diff > 0)
    tracemalloc.stop()
    # The shipped defect added one entry per call: 1.6 MB over 3,000 calls. Allow tracemalloc's own noise.
    assert grown < 20_000, grown
    assert len(executor._BOUND) == 2


def test_a_library_s_engines_and_weights_go_when_the_library_does(two_subgraph_library):
    model = tvm_tensorrt.load(two_subgraph_library)
    expected = model.run(X)[0]
    assert len(executor._RUNTIMES) == 2
    held = [bound.runtime for bound in executor._BOUND.values()]
    model.close()
    del held
    gc.collect()
    assert executor._BOUND == {} and executor._RUNTIMES == {}
    with pytest.raises(tvm_tensorrt.TensorRTError, match="was closed"):
        model.run(X)
    again = tvm_tensorrt.load(two_subgraph_library)  # a fresh load binds afresh, same answer
    np.testing.assert_array_equal(again.run(X)[0], expected)
    del again
    gc.collect()
    assert executor._RUNTIMES == {}


def test_a_library_in_use_keeps_its_engines_while_another_is_released(two_subgraph_library, tmp_path):
    kept = tvm_tensorrt.load(two_subgraph_library)
    kept.run(X)
    [other_path] = [compile_library(tmp_path / "other.so")]
    with tvm_tensorrt.load(other_path) as other:
        other.run(X)
        assert len(executor._BOUND) == 4 and len(executor._RUNTIMES) == 2  # same subgraphs: runtimes shared
    assert len(executor._BOUND) == 2 and len(executor._RUNTIMES) == 2
    kept.run(X)
    assert len(executor._BOUND) == 2


def test_a_library_the_garbage_collector_closes_inside_our_locks_does_not_deadlock():
    """LoadedModel.__del__ can run inside a region that holds the runtime lock or the weights lock
    (a collection triggered there, in the same thread: seen hanging a test run). It never waits:
    the region's holder releases what it left, as it leaves."""
    import threading

    from tvm_tensorrt import weights_file
    from tvm_tensorrt.runtime import executor

    class Blob:
        def __chandle__(self):
            return 12345

    class Weights:
        identity = "collected"
        closed = False

        def close(self):
            self.closed = True

    weights = Weights()
    weights_file.register(weights)
    done, failed = threading.Event(), []

    def closed_inside_the_locks():
        try:
            check_inside_the_locks()
        except AssertionError as err:
            failed.append(err)
        done.set()

    def check_inside_the_locks():
        with executor._runtimes_locked():
            executor.release_blobs([Blob()], wait=False)
            assert len(executor._RUNTIMES_LOCK.pending) == 1  # left for the holder: this region
        assert not executor._RUNTIMES_LOCK.pending
        with weights_file._loaded_locked():
            weights_file.release(weights, wait=False)
            assert not weights.closed
        assert weights.closed and "collected" not in weights_file._LOADED

    thread = threading.Thread(target=closed_inside_the_locks, daemon=True)
    thread.start()
    thread.join(10)
    assert done.is_set(), "a close by the garbage collector waited on a lock its own thread held"
    assert not failed, failed
