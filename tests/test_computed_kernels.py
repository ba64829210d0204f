"""Convolutions whose kernel the model computes (dynamic convolutions, a kernel a hypernetwork
makes, weight standardisation left unfolded) go to TensorRT with the kernel as the layer's
second input, as NVIDIA's parser gives it (today's-exports issue, item 3)."""

import numpy as np
import onnx
import pytest
import tvm
from onnx import TensorProto, helper, numpy_helper
from tvm import relax

import tvm_tensorrt
from model_utils import onnxruntime_output


def dynamic_conv_model(kernel_rank=2):
    """y = conv(x, W + mean(x)): the kernel depends on the input, so nothing folds it."""
    window = (3,) * kernel_rank
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((6, 4, *window)).astype(np.float32), "w")
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], keepdims=1),
             helper.make_node("Reshape", ["m", "one"], ["m1"]),
             helper.make_node("Add", ["w", "m1"], ["k"]),
             helper.make_node("Conv", ["x", "k"], ["y"], pads=[1] * 2 * kernel_rank)]
    one = numpy_helper.from_array(np.ones(2 + kernel_rank, np.int64), "one")
    shape = [1, 4, *(8,) * kernel_rank]
    graph = helper.make_graph(nodes, "dynamic_conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, one])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), shape


def test_a_computed_kernel_is_offloaded_and_runs_as_onnxruntime():
    model, shape = dynamic_conv_model()
    mod, params = tvm_tensorrt.from_onnx(model)
    report = tvm_tensorrt.explain(mod, params)
    conv = [d for d in report.decisions if d.op == "relax.nn.conv2d"]
    assert conv and conv[0].offloaded, conv
    assert all(d.offloaded for d in report.decisions) and {d.subgraph for d in report.decisions} == {"tensorrt_0"}

    assert tvm_tensorrt.verify(mod, params).passed  # the TensorRT network, evaluated, against TVM
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
    vm = relax.VirtualMachine(tvm_tensorrt.build(partitioned, config=config), tvm.cpu())
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(vm["main"](tvm.runtime.tensor(x)).numpy(), onnxruntime_output(model, "x", x),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernel_rank, options, words", [(1, {}, "2-D and 3-D"),
                                                          (2, {"version": (8, 6, 1)}, "explicit batch")])
def test_where_tensorrt_takes_no_computed_kernel_the_reason_says_so(kernel_rank, options, words):
    model, _ = dynamic_conv_model(kernel_rank)
    report = tvm_tensorrt.explain(*tvm_tensorrt.from_onnx(model), **options)  # TensorRT 8.6: implicit batch
    [conv] = [d for d in report.decisions if d.op.startswith("relax.nn.conv")]
    assert not conv.offloaded and "weight is computed" in conv.reason and words in conv.reason
