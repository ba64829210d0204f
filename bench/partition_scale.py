"""Partitioning time against graph size: ours and TVM's own TensorRT partitioner.

The graph is a chain of residual conv/relu/add blocks with an op TensorRT does not take
(cumprod) every few blocks, so both partitioners must cut and avoid cycles at every such op.
Target (issue 2): about linear growth, under 10 s at 16k operators on a 2-core machine.

    python bench/partition_scale.py                  # both at 1k, 4k and 16k ops
    python bench/partition_scale.py --tvm-max 4000   # skip TVM's at the largest size
"""

import argparse
import time

import numpy as np
from tvm import relax

OPS_PER_BLOCK = 3  # conv2d, relu, add


def chain_module(n_ops: int, unsupported_every: int = 4):
    rng = np.random.default_rng(0)
    weight = relax.const(rng.standard_normal((4, 4, 3, 3)).astype("float32"))
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 4, 8, 8), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            value, blocks, count = x, 0, 0
            while count < n_ops:
                conv = bb.emit(relax.op.nn.conv2d(value, weight, padding=(1, 1)))
                act = bb.emit(relax.op.nn.relu(conv))
                value = bb.emit(relax.op.add(act, value))
                count += OPS_PER_BLOCK
                blocks += 1
                if blocks % unsupported_every == 0:
                    value = bb.emit(relax.op.cumprod(value, axis=3))
                    count += 1
            out = bb.emit_output(value)
        bb.emit_func_output(out)
    return bb.get(), count


def offloaded_calls(mod) -> int:
    """Calls from main into TensorRT functions (TVM's partitioner reuses one function for
    identical subgraphs, so counting functions would undercount)."""
    marked = {gv for gv, f in mod.functions.items() if f.attrs and f.attrs.get("Codegen") == "tensorrt"}
    calls = []
    relax.analysis.post_order_visit(mod["main"], lambda e: calls.append(1) if isinstance(e, relax.Call)
                                    and isinstance(e.op, relax.GlobalVar) and e.op in marked else None)
    return len(calls)


def time_ours(mod):
    import tvm_tensorrt

    start = time.perf_counter()
    partitioned, _ = tvm_tensorrt.partition_for_tensorrt(mod)
    return time.perf_counter() - start, offloaded_calls(partitioned)


def time_tvm(mod):
    from tvm.relax.backend.contrib.tensorrt import partition_for_tensorrt

    start = time.perf_counter()
    partitioned = partition_for_tensorrt(mod)
    return time.perf_counter() - start, offloaded_calls(partitioned)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,4000,16000")
    parser.add_argument("--tvm-max", type=int, default=1 << 30, help="largest size TVM's partitioner is timed at")
    args = parser.parse_args()
    print(f"{'ops':>7} {'ours (s)':>9} {'subgraphs':>9} {'s per 1k ops':>12} {'TVM own (s)':>11} {'subgraphs':>9}")
    for size in (int(s) for s in args.sizes.split(",")):
        mod, n_ops = chain_module(size)
        ours, ours_n = time_ours(mod)
        if n_ops <= args.tvm_max:
            theirs, theirs_n = time_tvm(mod)
            tvm_cols = f"{theirs:11.2f} {theirs_n:9d}"
        else:
            tvm_cols = f"{'skipped':>11} {'':>9}"
        print(f"{n_ops:7d} {ours:9.2f} {ours_n:9d} {ours / n_ops * 1000:12.3f} {tvm_cols}", flush=True)


if __name__ == "__main__":
    main()
