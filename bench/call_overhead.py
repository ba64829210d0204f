"""What a call of a compiled library costs over plain TVM, and whether memory grows per call.

    python bench/call_overhead.py                 # bundled CNN, 100,000 calls
    python bench/call_overhead.py --calls 20000

Both libraries are compiled from the same Relax module and called through the VM with the same
input tensor: ours (tvm_tensorrt.build; on a machine without a GPU every call asks the runtime
whether an engine can run, then runs TVM's copy of the subgraph) and plain TVM (tvm.compile of
the unpartitioned module). The difference is our per-call cost (goal: <= 10 us); as it is small
beside the model's own run time, the work we add is also timed alone. Memory: traced
Python allocations and RSS after warm-up and after all calls (goal: flat).
Timings interleave the two libraries in rounds and keep each one's best round, so a burst of
other load on the machine does not land on one side only.
"""

import argparse
import gc
import os
import resource
import tempfile
import time
import tracemalloc

import numpy as np
import tvm

import tvm_tensorrt
from tvm_tensorrt.formats.abi import PREPARE, SUBGRAPHS_LISTING
from tvm_tensorrt.models import DEFAULT_MODEL


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1e6


def per_call_us(call, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) / n * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000, help="calls for the memory check")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=2000)
    args = parser.parse_args()

    mod, params = tvm_tensorrt.from_onnx(DEFAULT_MODEL)
    shape = [int(d) for d in mod["main"].params[0].ty.shape.values]
    x = tvm.runtime.tensor(np.random.default_rng(0).standard_normal(shape).astype("float32"))
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
    with tempfile.TemporaryDirectory() as tmp:
        ours_path, plain_path = os.path.join(tmp, "ours.so"), os.path.join(tmp, "plain.so")
        tvm_tensorrt.build(partitioned, config=config).export_library(ours_path)
        tvm.compile(mod, target="llvm").export_library(plain_path)
        ours = tvm.relax.VirtualMachine(tvm.runtime.load_module(ours_path), tvm.cpu())["main"]
        plain = tvm.relax.VirtualMachine(tvm.runtime.load_module(plain_path), tvm.cpu())["main"]
        np.testing.assert_allclose(ours(x).numpy(), plain(x).numpy(), rtol=1e-4, atol=1e-5)

        best = {"ours": float("inf"), "plain": float("inf")}
        for _ in range(args.rounds):
            for name, call in (("ours", lambda: ours(x)), ("plain", lambda: plain(x))):
                best[name] = min(best[name], per_call_us(call, args.per_round))
        print(f"per call (best of {args.rounds} rounds of {args.per_round}): plain TVM {best['plain']:.1f} us, "
              f"tvm-tensorrt {best['ours']:.1f} us, over plain TVM {best['ours'] - best['plain']:+.1f} us "
              f"({(best['ours'] / best['plain'] - 1) * 100:+.1f}%)")

        # The work we add, alone: the runtime's `prepare` with the arguments main passes it.
        vm = tvm.relax.VirtualMachine(tvm.runtime.load_module(ours_path), tvm.cpu())
        listing = list(vm[SUBGRAPHS_LISTING]())
        count = int(listing[0].numpy())
        blob, plans, weights = listing[1], listing[2], listing[3:3 + count]
        prepare = tvm.get_global_func(PREPARE)
        assert not prepare(blob, plans, x, *weights).numpy()  # no GPU here: TVM's copy runs
        alone = min(per_call_us(lambda: prepare(blob, plans, x, *weights), args.per_round)
                    for _ in range(args.rounds))
        print(f"tvm_tensorrt.prepare alone (the added work for one subgraph): {alone:.1f} us per call")

        for _ in range(1000):
            ours(x)
        gc.collect()
        tracemalloc.start()
        traced_before, rss_before = tracemalloc.get_traced_memory()[0], rss_mb()
        for _ in range(args.calls):
            ours(x)
        gc.collect()
        traced_after, rss_after = tracemalloc.get_traced_memory()[0], rss_mb()
        tracemalloc.stop()
        print(f"memory over {args.calls:,} calls: traced Python {(traced_after - traced_before) / 1e3:+.1f} kB, "
              f"RSS {rss_before:.1f} -> {rss_after:.1f} MB ({rss_after - rss_before:+.1f} MB)")


if __name__ == "__main__":
    main()
