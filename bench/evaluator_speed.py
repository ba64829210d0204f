"""How long the CPU evaluator (runtime/evaluator) takes on a whole network: what `verify` and a
RunCodegen library without a GPU spend per inference.

    .venv/bin/python bench/evaluator_speed.py [MODEL.onnx ...]

Default: the onnx package's light ResNet-50 with random weights (53 convolutions, 224x224).
Goal: under 30 s per ResNet-50 inference on a 2-core machine.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def main(argv=None):
    import tvm_tensorrt
    from model_utils import LIGHT_DIR, model_input, randomize_constant_weights
    from tvm_tensorrt.backend import load_backend
    from tvm_tensorrt.lowering.dispatch import offloaded_functions
    from tvm_tensorrt.lowering.serialize import subgraph_of
    from tvm_tensorrt.runtime.plan_builder import build_network
    from tvm_tensorrt.runtime.evaluator import evaluate_network

    argv = sys.argv[1:] if argv is None else argv
    models = argv or [randomize_constant_weights(onnx.load(os.path.join(LIGHT_DIR, "light_resnet50.onnx")))]
    backend = load_backend()
    for model in models:
        name = model if isinstance(model, str) else "light_resnet50 (random weights)"
        mod, params = tvm_tensorrt.from_onnx(model)
        partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
        _, x = model_input(model)
        for func in offloaded_functions(partitioned).values():
            subgraph = subgraph_of(func, str(func.attrs["global_symbol"]), config)
            built = build_network(subgraph, backend)[1]
            feeds = {d["name"]: np.random.default_rng(0).standard_normal(d["shape"]).astype(d["dtype"])
                     for d in subgraph.inputs}
            if len(feeds) == 1 and x.shape == tuple(subgraph.inputs[0]["shape"]):
                feeds = {subgraph.inputs[0]["name"]: x}
            start = time.perf_counter()
            evaluate_network(built.network, backend.trt, feeds)
            print(f"{name} {subgraph.symbol}: {built.network.num_layers} layers, "
                  f"{time.perf_counter() - start:.1f} s (goal < 30 s)")


if __name__ == "__main__":
    main()
