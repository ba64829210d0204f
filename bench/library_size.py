"""Size of the default library (tvm_tensorrt.build, CPU fallback included) against the bytes of
the model's weights, and the compile's peak resident memory.

    .venv/bin/python bench/library_size.py [--model vgg19] [--width 1.0]

Goal: the library is at most 1.1x its weights (each weight stored once). The compile (import,
partition, tvm_tensorrt.build, export_library) runs in a child process, so its peak RSS is its
own and not this script's.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import onnx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

COMPILE = """
import sys, tvm_tensorrt
mod, params = tvm_tensorrt.from_onnx(sys.argv[1])
partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
tvm_tensorrt.build(partitioned, "llvm").export_library(sys.argv[2])
"""


def main(argv=None):
    from cnn_models import VGG_LAYERS, make_vgg
    from model_utils import weight_bytes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vgg19", choices=sorted(VGG_LAYERS))
    parser.add_argument("--width", type=float, default=1.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        model = make_vgg(args.model, args.width)
        path, library = os.path.join(workdir, "model.onnx"), os.path.join(workdir, "model.so")
        onnx.save(model, path)
        weights = weight_bytes(model)
        del model
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", COMPILE, path, library], check=True)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        size = os.path.getsize(library)
        print(f"{args.model} x{args.width}: weights {weights / 1e6:.1f} MB, library {size / 1e6:.1f} MB "
              f"({size / weights:.2f}x, goal <= 1.1x), compile {seconds:.1f} s, peak RSS {peak / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
