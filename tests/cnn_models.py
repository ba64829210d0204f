"""Image classifiers written with onnx.helper, with random weights (no torch, nothing
downloaded): VGG (with or without batch norm), MobileNet-V2, EfficientNet-B0 and EfficientNet-V2-S
at full size.

They are written the way torch.onnx.export writes the torchvision models: Conv with bias,
BatchNormalization nodes where the model keeps them, ReLU6 as Clip, SiLU as Sigmoid * x,
squeeze-excitation as GlobalAveragePool -> Conv -> Conv -> Sigmoid -> Mul, and Flatten ->
Gemm(transB) heads. The benches compare our compile with NVIDIA's parser on them.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

VGG_LAYERS = {  # channels per 3x3 conv, "M" a 2x2 max pool (the VGG paper's configurations)
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}

# (expansion, output channels, blocks, first stride, kernel) per stage, from the papers
MOBILENET_V2 = [(1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 32, 3, 2, 3), (6, 64, 4, 2, 3), (6, 96, 3, 1, 3),
                (6, 160, 3, 2, 3), (6, 320, 1, 1, 3)]
EFFICIENTNET_B0 = [(1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5), (6, 80, 3, 2, 3), (6, 112, 3, 1, 5),
                   (6, 192, 4, 2, 5), (6, 320, 1, 1, 3)]
# EfficientNet-V2-S: its first three stages are fused (the expansion is a full 3x3 convolution,
# no depthwise one, no squeeze-excitation); stem 24 channels
EFFICIENTNET_V2_S_FUSED = 3
EFFICIENTNET_V2_S = [(1, 24, 2, 1, 3), (4, 48, 4, 2, 3), (4, 64, 4, 2, 3), (4, 128, 6, 2, 3), (6, 160, 9, 1, 3),
                     (6, 256, 15, 2, 3)]


class _Graph:
    """Nodes and initializers of one model, named in order."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits = [], []

    def name(self, kind: str) -> str:
        return f"{kind}{len(self.nodes)}"

    def constant(self, array: np.ndarray) -> str:
        name = f"w{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def weight(self, *shape, gain: float = 1.0) -> str:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        return self.constant((self.rng.standard_normal(shape) * gain * np.sqrt(2.0 / fan_in)).astype(np.float32))

    def node(self, op: str, inputs: list, **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1,
             batch_norm: bool = False, gain: float = 1.0) -> str:
        pad = kernel // 2
        y = self.node("Conv", [x, self.weight(cout, cin // groups, kernel, kernel, gain=gain), self.weight(cout, gain=gain)],
                      kernel_shape=[kernel, kernel], strides=[stride, stride], pads=[pad] * 4, group=groups)
        if not batch_norm:
            return y
        stats = [self.rng.uniform(0.5, 1.5, cout), self.rng.uniform(-0.1, 0.1, cout), self.rng.uniform(-0.1, 0.1, cout),
                 self.rng.uniform(0.5, 1.5, cout)]  # scale, bias, mean, var
        return self.node("BatchNormalization", [y] + [self.constant(s.astype(np.float32)) for s in stats], epsilon=1e-5)

    def activation(self, x: str, kind: str) -> str:
        if kind == "relu":
            return self.node("Relu", [x])
        if kind == "relu6":
            return self.node("Clip", [x, self.constant(np.array(0, np.float32)), self.constant(np.array(6, np.float32))])
        return self.node("Mul", [x, self.node("Sigmoid", [x])])  # silu

    def classifier(self, x: str, sizes: list) -> str:
        """Flatten, then Gemm(transB) layers of the given sizes, ReLU between them."""
        x = self.node("Flatten", [x])
        for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
            x = self.node("Gemm", [x, self.weight(n_out, n_in), self.weight(n_out)], transB=1)
            if k < len(sizes) - 2:
                x = self.node("Relu", [x])
        return x

    def model(self, name: str, image: int, classes: int) -> onnx.ModelProto:
        """The model, its last node's result named "output"."""
        self.nodes[-1].output[0] = "output"
        graph = helper.make_graph(self.nodes, name,
                                  [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, image, image])],
                                  [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, classes])], self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def make_vgg(name: str = "vgg19", width: float = 1.0, image: int = 224, hidden: int = 4096,
             classes: int = 1000, seed: int = 0, batch_norm: bool = False) -> onnx.ModelProto:
    """A VGG network: almost all of its bytes are weights (VGG-19's fc6 alone is 400 MB), which is
    what library-size and weight-handling checks need. `width` scales channels."""
    g = _Graph(seed)
    x, channels, size = "input", 3, image
    for layer in VGG_LAYERS[name]:
        if layer == "M":
            x, size = g.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2]), size // 2
            continue
        out = max(1, int(layer * width))
        x, channels = g.activation(g.conv(x, channels, out, 3, batch_norm=batch_norm), "relu"), out
    hidden = max(1, int(hidden * width))
    g.classifier(x, [channels * size * size, hidden, hidden, classes])
    return g.model(name + ("_bn" if batch_norm else ""), image, classes)


def make_mobile_net(name: str = "mobilenet_v2", image: int = 224, classes: int = 1000, seed: int = 0) -> onnx.ModelProto:
    """MobileNet-V2 (inverted residuals, ReLU6), EfficientNet-B0 (SiLU, squeeze-excitation, 5x5
    depthwise stages) or EfficientNet-V2-S (fused stages first): depthwise convolutions and many
    small layers."""
    stages, act, stem, fused = {"mobilenet_v2": (MOBILENET_V2, "relu6", 32, 0),
                                "efficientnet_b0": (EFFICIENTNET_B0, "silu", 32, 0),
                                "efficientnet_v2_s": (EFFICIENTNET_V2_S, "silu", 24, EFFICIENTNET_V2_S_FUSED)}[name]
    excite = name != "mobilenet_v2"
    g = _Graph(seed)
    x, channels = g.activation(g.conv("input", 3, stem, 3, stride=2), act), stem
    for stage, (expansion, out, blocks, first_stride, kernel) in enumerate(stages):
        for b in range(blocks):
            stride, hidden = first_stride if b == 0 else 1, channels * expansion
            if stage < fused:  # one full convolution expands (or is the whole block)
                y = g.activation(g.conv(x, channels, hidden, kernel, stride=stride), act)
            else:
                y = x if expansion == 1 else g.activation(g.conv(x, channels, hidden, 1), act)
                y = g.activation(g.conv(y, hidden, hidden, kernel, stride=stride, groups=hidden), act)
                if excite:
                    squeezed = max(1, channels // 4)
                    s = g.activation(g.conv(g.node("GlobalAveragePool", [y]), hidden, squeezed, 1), act)
                    y = g.node("Mul", [y, g.node("Sigmoid", [g.conv(s, squeezed, hidden, 1)])])
            if not (stage < fused and expansion == 1):  # small, as trained residual branches are
                y = g.conv(y, hidden, out, 1, gain=0.2)
            x, channels = (g.node("Add", [x, y]) if stride == 1 and channels == out else y), out
    x = g.node("GlobalAveragePool", [g.activation(g.conv(x, channels, 1280, 1), act)])
    g.classifier(x, [1280, classes])
    return g.model(name, image, classes)


CNN_SET = {"vgg16_bn": lambda: make_vgg("vgg16", batch_norm=True), "mobilenet_v2": make_mobile_net,
           "efficientnet_b0": lambda: make_mobile_net("efficientnet_b0"),
           "efficientnet_v2_s": lambda: make_mobile_net("efficientnet_v2_s")}


def write_cnn_set(folder: str) -> list:
    """The classifiers above saved as ONNX files in `folder` (VGG-16-BN's is 550 MB): paths."""
    paths = []
    for name, make in CNN_SET.items():
        paths.append(os.path.join(folder, f"{name}.onnx"))
        onnx.save(make(), paths[-1])
    return paths
