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


VGG_LAYERS = {  # channels per 3x3 conv, "M" a 2x2 max pool (the VGG paper's configurations)
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


def make_vgg(name: str = "vgg19", width: float = 1.0, image: int = 224, hidden: int = 4096,
             classes: int = 1000, seed: int = 0) -> onnx.ModelProto:
    """A VGG network with random weights, written with onnx.helper (no torch needed): almost all
    of its bytes are weights, which is what a library-size check needs. `width` scales channels."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []

    def weight(name, shape):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32), name))
        return name

    x, channels, size = "input", 3, image
    for i, layer in enumerate(VGG_LAYERS[name]):
        if layer == "M":
            nodes.append(helper.make_node("MaxPool", [x], [f"pool{i}"], kernel_shape=[2, 2], strides=[2, 2]))
            x, size = f"pool{i}", size // 2
            continue
        out = max(1, int(layer * width))
        nodes.append(helper.make_node("Conv", [x, weight(f"conv{i}.w", [out, channels, 3, 3]), weight(f"conv{i}.b", [out])],
                                      [f"conv{i}"], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"]))
        x, channels = f"relu{i}", out
    nodes.append(helper.make_node("Flatten", [x], ["flat"]))
    features, hidden = channels * size * size, max(1, int(hidden * width))
    for j, (n_in, n_out) in enumerate([(features, hidden), (hidden, hidden), (hidden, classes)]):
        out = f"fc{j}" if j < 2 else "output"
        nodes.append(helper.make_node("Gemm", ["flat" if j == 0 else f"fc{j - 1}_relu", weight(f"fc{j}.w", [n_out, n_in]),
                                              weight(f"fc{j}.b", [n_out])], [out], transB=1))
        if j < 2:
            nodes.append(helper.make_node("Relu", [out], [f"fc{j}_relu"]))
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, image, image])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, classes])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def weight_bytes(model: onnx.ModelProto) -> int:
    return sum(numpy_helper.to_array(i).nbytes for i in model.graph.initializer)
