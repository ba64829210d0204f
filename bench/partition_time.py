"""Partition time per model of the project's model set: ours against TVM's own
(BindParams + FoldConstant + partition_for_tensorrt), on the same imported module in one run.

    .venv/bin/python bench/partition_time.py [--repeat 3] [--models DIR] [--no-cnns]

The models: tests/models (or DIR) and the full-size classifiers of tests/cnn_models.py
(VGG-16-BN, MobileNet-V2, EfficientNet-B0 and -V2-S), written to a temporary folder.

Prints per model the median seconds of each and their ratio (goal: ours <= 0.5x TVM's).
Import (from_onnx) is outside both timings.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tvm import relax

ROOT = Path(__file__).resolve().parent.parent


def tvm_own(mod, params):
    from tvm.relax.backend.contrib.tensorrt import partition_for_tensorrt

    if params:
        mod = relax.transform.BindParams("main", params)(mod)
    return partition_for_tensorrt(relax.transform.FoldConstant()(mod))


def ours(mod, params):
    import tvm_tensorrt

    return tvm_tensorrt.partition_for_tensorrt(mod, params)


def median_seconds(fn, mod, params, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(mod, params)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", type=Path, default=ROOT / "tests" / "models")
    parser.add_argument("--no-cnns", action="store_true", help="leave out tests/cnn_models.py's classifiers")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        sys.path.insert(0, str(ROOT / "tests"))
        from cnn_models import write_cnn_set

        models = sorted(args.models.glob("*.onnx")) + ([] if args.no_cnns else [Path(p) for p in write_cnn_set(workdir)])
        compare(models, args.repeat)


def compare(models: list, repeat: int) -> None:
    import tvm_tensorrt

    ours(*tvm_tensorrt.from_onnx(str(models[0])))  # warm up imports and TVM
    print(f"{'model':24s} {'ours s':>8s} {'TVM s':>8s} {'ratio':>6s}")
    worst = 0.0
    for path in models:
        mod, params = tvm_tensorrt.from_onnx(str(path))
        mine = median_seconds(ours, mod, params, repeat)
        try:
            theirs = median_seconds(tvm_own, mod, params, repeat)
        except Exception as err:  # TVM's partitioner fails on some models: that is a result too
            print(f"{path.stem:24s} {mine:8.3f} {'failed':>8s}   ({type(err).__name__})")
            continue
        worst = max(worst, mine / theirs)
        print(f"{path.stem:24s} {mine:8.3f} {theirs:8.3f} {mine / theirs:6.2f}")
    print(f"worst ratio {worst:.2f} (goal <= 0.5)")


if __name__ == "__main__":
    main()
