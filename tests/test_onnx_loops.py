"""ONNX Loops with a constant trip count are unrolled before import (tvm_tensorrt/onnx_loops.py):
the loop-carried values, the iteration number, outer-scope reads and scan outputs compute what
onnxruntime computes, and the unrolled ops go to TensorRT whole."""

import numpy as np
import onnx
import pytest
import tvm
from onnx import TensorProto, helper, numpy_helper
from tvm import relax

import tvm_tensorrt
from tvm_tensorrt.onnx_resize import UnsupportedLoopError

SHAPE = [2, 3]


def loop_model(trips=3, opset=17, cond_from_body=False):
    """v <- v * 2 + x + iteration, v's each value also a scan output; x read from the outer scope."""
    f = TensorProto.FLOAT
    body_nodes = [helper.make_node("Cast", ["i"], ["i_f"], to=f),
                  helper.make_node("Mul", ["v_in", "two"], ["doubled"]),
                  helper.make_node("Add", ["doubled", "x"], ["plus_x"]),
                  helper.make_node("Add", ["plus_x", "i_f"], ["v_out"]),
                  helper.make_node("Identity", ["v_out"], ["scan"])]
    if cond_from_body:  # a while loop: stop once the sum passes a bound
        body_nodes += [helper.make_node("ReduceSum", ["v_out"], ["total"], keepdims=0),
                       helper.make_node("Less", ["total", "bound"], ["cond_out"])]
    else:
        body_nodes.append(helper.make_node("Identity", ["cond_in"], ["cond_out"]))
    body = helper.make_graph(
        body_nodes, "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", f, SHAPE)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), helper.make_tensor_value_info("v_out", f, SHAPE),
         helper.make_tensor_value_info("scan", f, SHAPE)],
        [numpy_helper.from_array(np.array(2.0, np.float32), "two"), numpy_helper.from_array(np.array(1e9, np.float32), "bound")])
    nodes = [helper.make_node("Relu", ["x"], ["v0"]),
             helper.make_node("Loop", ["trips", "keep_going", "v0"], ["v_final", "scans"], body=body, name="the_loop"),
             helper.make_node("Sigmoid", ["v_final"], ["y"])]
    inits = [numpy_helper.from_array(np.array(trips, np.int64), "trips"),
             numpy_helper.from_array(np.array(True), "keep_going")]
    graph = helper.make_graph(nodes, "loop", [helper.make_tensor_value_info("x", f, SHAPE)],
                              [helper.make_tensor_value_info("y", f, SHAPE),
                               helper.make_tensor_value_info("scans", f, [trips, *SHAPE])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    onnx.checker.check_model(model)
    return model


def run(mod, x):
    vm = relax.VirtualMachine(tvm.compile(mod, target="llvm"), tvm.cpu())
    out = vm["main"](tvm.runtime.tensor(x))
    return [out[i].numpy() for i in range(len(out))]


@pytest.mark.parametrize("opset", [11, 17])
def test_a_constant_trip_count_loop_is_unrolled_computing_onnxruntimes_numbers(opset):
    import onnxruntime as ort

    model = loop_model(opset=opset)
    x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    mod, params = tvm_tensorrt.from_onnx(model)
    for got, want in zip(run(mod, x), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    report = tvm_tensorrt.explain(mod, params)
    assert all(d.offloaded for d in report.decisions) and {d.subgraph for d in report.decisions} == {"tensorrt_0"}
    assert tvm_tensorrt.verify(mod, params, inputs=[x]).passed


def test_a_loop_the_body_may_stop_is_left_to_the_importer_naming_the_node():
    with pytest.raises(UnsupportedLoopError, match="the_loop"):
        tvm_tensorrt.from_onnx(loop_model(cond_from_body=True))


def test_the_callers_model_is_not_edited():
    model = loop_model()
    before = model.SerializeToString()
    tvm_tensorrt.from_onnx(model)
    assert model.SerializeToString() == before
