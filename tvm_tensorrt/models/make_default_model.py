"""Writes default_cnn.onnx, the small CNN the CLI and README use when no model is given.

A residual block, batch norm, both poolings, a classifier and softmax: the shapes of a real
image model at a size that compiles and runs in seconds. Random weights with a fixed seed.
Run: python -m tvm_tensorrt.models.make_default_model
"""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.join(HERE, "default_cnn.onnx")


def build_model(seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    inits = []

    def weight(name, *shape, scale=None):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        value = (rng.standard_normal(shape) * (scale or np.sqrt(2.0 / fan_in))).astype(np.float32)
        inits.append(numpy_helper.from_array(value, name))
        return name

    def positive(name, n):
        inits.append(numpy_helper.from_array(rng.uniform(0.5, 1.5, n).astype(np.float32), name))
        return name

    nodes = [
        helper.make_node("Conv", ["image", weight("c1_w", 16, 3, 3, 3), weight("c1_b", 16, scale=0.1)], ["c1"],
                         pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", positive("bn_g", 16), weight("bn_b", 16, scale=0.1),
                                                weight("bn_m", 16, scale=0.1), positive("bn_v", 16)], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", weight("c2_w", 16, 16, 3, 3), weight("c2_b", 16, scale=0.1)], ["c2"],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Conv", ["r2", weight("c3_w", 16, 16, 3, 3), weight("c3_b", 16, scale=0.1)], ["c3"],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c3", "p1"], ["res"]),
        helper.make_node("Relu", ["res"], ["r3"]),
        helper.make_node("AveragePool", ["r3"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p2", weight("c4_w", 32, 16, 3, 3), weight("c4_b", 32, scale=0.1)], ["c4"],
                         pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Clip", ["c4", "clip_lo", "clip_hi"], ["r4"]),
        helper.make_node("GlobalAveragePool", ["r4"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"]),
        helper.make_node("Gemm", ["flat", weight("fc_w", 10, 32), weight("fc_b", 10, scale=0.1)], ["logits"],
                         transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    inits += [numpy_helper.from_array(np.array(0.0, np.float32), "clip_lo"),
              numpy_helper.from_array(np.array(6.0, np.float32), "clip_hi")]
    graph = helper.make_graph(
        nodes, "default_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 10])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="tvm-tensorrt")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    onnx.save(build_model(), DEFAULT_MODEL)
    print(DEFAULT_MODEL)
