"""ONNX helpers for end-to-end tests: the onnx package's light models, weight randomisation,
and running a compiled library in a fresh Python process."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import onnx
from onnx import numpy_helper

LIGHT_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
LIGHT_MODELS = sorted(glob.glob(os.path.join(LIGHT_DIR, "*.onnx")))


def randomize_constant_weights(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """The light models fill every weight with one value (ConstantOfShape), so every input gives
    the same output; random weights make a numeric comparison mean something."""
    rng = np.random.default_rng(seed)
    model = onnx.ModelProto.FromString(model.SerializeToString())
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    kept = []
    for node in model.graph.node:
        if node.op_type == "ConstantOfShape" and node.input and node.input[0] in inits:
            shape = [int(d) for d in inits[node.input[0]]]
            if len(shape) >= 2:
                value = rng.standard_normal(shape) * np.sqrt(2.0 / max(1, int(np.prod(shape[1:]))))
            else:
                value = rng.uniform(0.5, 1.5, shape)
            model.graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), node.output[0]))
        else:
            kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return model


def model_input(model_path_or_proto, seed: int = 0) -> tuple[str, np.ndarray]:
    model = model_path_or_proto if isinstance(model_path_or_proto, onnx.ModelProto) else \
        onnx.load(model_path_or_proto, load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    [inp] = [i for i in model.graph.input if i.name not in inits]
    shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    return inp.name, np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def onnxruntime_output(model, name: str, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {name: x})[0]


RUNNER = textwrap.dedent("""
    import logging, sys
    import numpy as np
    import tvm
    import tvm_tensorrt  # registers the runtime
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    lib = tvm.runtime.load_module(sys.argv[1])
    vm = tvm.relax.VirtualMachine(lib, tvm.cpu())
    out = vm["main"](tvm.runtime.tensor(np.load(sys.argv[2])))
    out = out if hasattr(out, "numpy") else out[0]
    np.save(sys.argv[3], out.numpy())
""")


def run_in_fresh_process(library: str, x: np.ndarray, workdir: str, env=None) -> tuple[np.ndarray, str]:
    """Load and run `library` in a new interpreter; returns (output, its log)."""
    x_path, out_path = os.path.join(workdir, "x.npy"), os.path.join(workdir, "out.npy")
    np.save(x_path, x)
    proc = subprocess.run([sys.executable, "-c", RUNNER, library, x_path, out_path], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return np.load(out_path), proc.stderr


def decisions_summary(decisions) -> dict:
    return json.loads(json.dumps({
        "offloaded": sum(d.offloaded for d in decisions), "total": len(decisions),
        "subgraphs": len({d.subgraph for d in decisions if d.subgraph}),
    }))


def weight_bytes(model: onnx.ModelProto) -> int:
    return sum(numpy_helper.to_array(i).nbytes for i in model.graph.initializer)


def manifest_inputs(entry: dict, k: int, seed: int = 0) -> dict:
    """Valid inputs for test size k (0: small, 1: larger) of a model in
    tests/models/exports/manifest.json, by the rules it states: token ids in range, masks of
    ones, EmbeddingBag offsets from 0 increasing, sizes derived from others (`past + sequence`)."""
    rng = np.random.default_rng(seed + k)
    dims = {axis: v[k] for axis, v in entry["sizes"].items() if isinstance(v, list)}
    dims.update({axis: int(eval(v, {}, dict(dims))) for axis, v in entry["sizes"].items() if isinstance(v, str)})
    feeds = {}
    for name, spec in entry["inputs"].items():
        shape = [d if isinstance(d, int) else dims[d] for d in spec["shape"]]
        if spec.get("values") == "ones":
            feeds[name] = np.ones(shape, dtype=spec["dtype"])
        elif spec.get("values") == "offsets":  # 0 first, increasing, each < the length of the indices
            rest = np.sort(rng.choice(np.arange(1, dims[spec["of_length"]]), size=shape[0] - 1, replace=False))
            feeds[name] = np.concatenate([[0], rest]).astype(spec["dtype"])
        elif "range" in spec:
            lo, hi = (int(eval(str(b), {}, dict(dims))) for b in spec["range"])
            feeds[name] = rng.integers(lo, hi + 1, size=shape).astype(spec["dtype"])
        else:
            feeds[name] = rng.standard_normal(shape).astype(spec["dtype"])
    return feeds
