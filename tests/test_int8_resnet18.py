"""onnxruntime's own INT8 export of a ResNet-18 (today's-exports issue, item 6): quantize_static
with its defaults (QDQ, asymmetric activations) made 30 subgraphs, every quantize/dequantize in
TVM. The architecture here is ResNet-18's (7x7 stem, max pool, four stages of two basic blocks,
1x1 projections, global pool, Gemm; batch norms folded into the convolutions, as
torch.onnx.export writes them in eval mode) at a sixteenth of the width, so that it quantizes
and compiles in seconds: the graph onnxruntime's quantizer rewrites is the same."""

import numpy as np
import onnx
import tvm
from onnx import TensorProto, helper, numpy_helper
from tvm import relax

import tvm_tensorrt
from test_asymmetric_qdq import IMAGE, images, onnxruntime_outputs, output_step, quantize

WIDTHS = (4, 8, 16, 32)  # ResNet-18's 64, 128, 256, 512 over 16


def resnet18_narrow(path, seed=0):
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def conv(x, cin, cout, k, stride=1, relu=True):
        name = f"conv{len(nodes)}"
        w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
        inits.extend([numpy_helper.from_array(w, name + ".w"),
                      numpy_helper.from_array((rng.standard_normal(cout) * 0.1).astype(np.float32), name + ".b")])
        nodes.append(helper.make_node("Conv", [x, name + ".w", name + ".b"], [name], pads=[k // 2] * 4,
                                      strides=[stride, stride]))
        return relu_of(name) if relu else name

    def relu_of(x):
        nodes.append(helper.make_node("Relu", [x], [x + ".relu"]))
        return x + ".relu"

    def basic_block(x, cin, cout, stride):
        shortcut = conv(x, cin, cout, 1, stride, relu=False) if stride != 1 or cin != cout else x
        y = conv(conv(x, cin, cout, 3, stride), cout, cout, 3, relu=False)
        nodes.append(helper.make_node("Add", [y, shortcut], [y + ".add"]))
        return relu_of(y + ".add")

    x = conv("x", 3, WIDTHS[0], 7, 2)
    nodes.append(helper.make_node("MaxPool", [x], ["pool"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4))
    x, cin = "pool", WIDTHS[0]
    for stage, width in enumerate(WIDTHS):
        x = basic_block(x, cin, width, 1 if stage == 0 else 2)
        x, cin = basic_block(x, width, width, 1), width
    nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"]), helper.make_node("Flatten", ["gap"], ["flat"])]
    inits += [numpy_helper.from_array((rng.standard_normal((10, cin)) * 0.1).astype(np.float32), "fc.w"),
              numpy_helper.from_array(np.zeros(10, np.float32), "fc.b")]
    nodes.append(helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["y"], transB=1))
    graph = helper.make_graph(nodes, "resnet18_narrow", [helper.make_tensor_value_info("x", TensorProto.FLOAT, IMAGE)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def test_onnxruntime_int8_resnet18_is_one_engine_matching_onnxruntime(tmp_path):
    path = quantize(resnet18_narrow(tmp_path / "float.onnx"), tmp_path / "int8.onnx")
    model = onnx.load(path)
    assert sum(n.op_type == "Conv" for n in model.graph.node) == 20  # 17 of ResNet-18's 3x3/7x7 + 3 projections
    zero_points = [numpy_helper.to_array(i) for i in model.graph.initializer if i.name.endswith("_zero_point")]
    assert any(np.any(z != 0) for z in zero_points)  # asymmetric activations: quantize_static's default

    mod, params = tvm_tensorrt.from_onnx(path)
    report = tvm_tensorrt.explain(mod, params)
    assert all(d.offloaded for d in report.decisions), [(d.op, d.reason) for d in report.decisions if not d.offloaded]
    assert {d.subgraph for d in report.decisions} == {"tensorrt_0"}
    assert sum(d.op == "relax.quantize" for d in report.decisions) >= 20

    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
    vm = relax.VirtualMachine(tvm_tensorrt.build(partitioned, config=config), tvm.cpu())
    inputs = images(3, seed=500)
    got = np.stack([vm["main"](tvm.runtime.tensor(x)).numpy() for x in inputs])
    expected = np.stack(onnxruntime_outputs(path, inputs))
    # fake-quantized in float computes onnxruntime's numbers; a value that float rounding puts on
    # the other side of a half step moves by one step, and that can carry through the layers
    assert np.abs(got - expected).max() <= 3 * output_step(path) + 1e-6
