"""Time to first inference in a fresh process: cold (empty cache), warm (cache hit), prebuilt.

    python bench/cold_warm_start.py                       # the bundled CNN
    python bench/cold_warm_start.py path/to/model.onnx

On a machine without a GPU the engines are built (or loaded) and the subgraphs then run through
TVM on the CPU, so the numbers show engine build/load cost plus TVM's CPU run.
"""

import os
import subprocess
import sys
import tempfile
import textwrap
import time

import tvm_tensorrt
from tvm_tensorrt.models import DEFAULT_MODEL

FIRST_RUN = textwrap.dedent("""
    import sys, time, numpy as np
    start = time.perf_counter()
    import tvm_tensorrt
    model = tvm_tensorrt.load(sys.argv[1])
    inputs = [np.zeros(s, "float32") for s in eval(sys.argv[2])]
    loaded = time.perf_counter()
    model.run(*inputs)
    first = time.perf_counter()
    model.run(*inputs)
    second = time.perf_counter()
    print(f"{loaded - start:.2f} {first - loaded:.2f} {second - first:.2f}")
""")


def first_run(library, shapes, cache_dir):
    env = {**os.environ, "TVM_TENSORRT_CACHE_DIR": cache_dir}
    out = subprocess.run([sys.executable, "-c", FIRST_RUN, library, repr(shapes)], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    return [float(v) for v in out]


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_MODEL
    with tempfile.TemporaryDirectory() as tmp:
        mod, params = tvm_tensorrt.from_onnx(model)
        shapes = [[int(d) for d in p.ty.shape.values] for p in mod["main"].params]
        partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
        libraries = {}
        for prebuilt in (False, True):
            start = time.perf_counter()
            path = os.path.join(tmp, f"model{'-prebuilt' if prebuilt else ''}.so")
            tvm_tensorrt.build(partitioned, config=config, prebuild_engines=prebuilt).export_library(path)
            libraries[prebuilt] = (path, time.perf_counter() - start, os.path.getsize(path))
        cache = os.path.join(tmp, "cache")
        rows = [("cold (empty cache)", first_run(libraries[False][0], shapes, cache)),
                ("warm (cache hit)", first_run(libraries[False][0], shapes, cache)),
                ("prebuilt, empty cache", first_run(libraries[True][0], shapes, os.path.join(tmp, "empty")))]
        print(f"model: {os.path.basename(model)}; compile {libraries[False][1]:.1f} s "
              f"({libraries[False][2] / 1e6:.1f} MB), with prebuilt engines {libraries[True][1]:.1f} s "
              f"({libraries[True][2] / 1e6:.1f} MB)")
        print(f"{'start':<24}{'import+load (s)':>16}{'first run (s)':>15}{'second run (s)':>16}")
        for name, (load, first, second) in rows:
            print(f"{name:<24}{load:>16.2f}{first:>15.2f}{second:>16.2f}")


if __name__ == "__main__":
    main()
