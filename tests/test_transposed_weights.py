"""ONNX Gemm's transB: the matmul reads the weights as stored (MatrixOperation.TRANSPOSE), as
NVIDIA's parser builds it, instead of a transposed copy folded before the partition."""

import numpy as np
import onnx
import pytest
import tvm
from onnx import TensorProto, helper, numpy_helper
from tvm import relax

import tvm_tensorrt
from tvm_tensorrt.lowering.dispatch import offloaded_functions
from tvm_tensorrt.lowering.serialize import subgraph_of
from tvm_tensorrt.runtime.plan_builder import build_network
from model_utils import onnxruntime_output


def gemm_model(case: str) -> onnx.ModelProto:
    """x (2, 16) -> Gemm(transB) -> Relu -> Gemm(transB) -> y.
    "tied": both Gemms read the same (16, 16) weights; "also_added": a Transpose of the weights
    feeds a MatMul and an Add, so it is not only a matmul's right operand."""
    rng = np.random.default_rng(0)
    weight = lambda name, *shape: numpy_helper.from_array(rng.uniform(-1, 1, shape).astype(np.float32), name)
    inits = [weight("w1", 16, 16), weight("b1", 16), weight("w2", 8, 16)]
    second = "w1" if case == "tied" else "w2"
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", second], ["y"], transB=1)]
    out = 16 if case == "tied" else 8
    if case == "also_added":
        nodes = [helper.make_node("Transpose", ["w1"], ["w1t"], perm=[1, 0]),
                 helper.make_node("MatMul", ["x16", "w1t"], ["m"]),
                 helper.make_node("Add", ["m", "w1t"], ["y"])]
        graph_input, out = helper.make_tensor_value_info("x16", TensorProto.FLOAT, [16, 16]), 16
    else:
        graph_input = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16])
    rows = 16 if case == "also_added" else 2
    graph = helper.make_graph(nodes, "g", [graph_input], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, out])],
                              inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def calls(func) -> list:
    names = []
    relax.analysis.post_order_visit(func, lambda e: names.append(e.op.name) if isinstance(e, relax.Call)
                                    and isinstance(e.op, tvm.ir.Op) else None)
    return names


def layers(network, trt) -> list:
    """(layer type name, MatrixOperation of each operand) per layer."""
    found = []
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        kind = layer.type.name
        if kind == "MATRIX_MULTIPLY":
            layer.__class__ = trt.IMatrixMultiplyLayer
            found.append((kind, layer.op0.name, layer.op1.name))
        else:
            found.append((kind,))
    return found


@pytest.mark.parametrize("implicit_batch", [True, False])
@pytest.mark.parametrize("case", ["plain", "tied"])
def test_gemm_transb_reads_the_stored_weights_transposed(case, implicit_batch):
    mod, params = tvm_tensorrt.from_onnx(gemm_model(case))
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, params, use_implicit_batch=implicit_batch)
    functions = list(offloaded_functions(partitioned).values())
    assert len(functions) == 1
    assert "relax.permute_dims" not in calls(partitioned["main"])
    subgraph = subgraph_of(functions[0], str(functions[0].attrs["global_symbol"]), config)
    shapes = sorted(tuple(w.shape) for w in subgraph.weights)
    assert (16, 16) in shapes and (16, 8) not in shapes  # stored as in the model, never transposed
    _, built, _ = build_network(subgraph)
    found = layers(built.network, load_trt())
    assert not [layer for layer in found if layer[0] == "SHUFFLE"]
    products = [layer for layer in found if layer[0] == "MATRIX_MULTIPLY"]
    assert products == [("MATRIX_MULTIPLY", "NONE", "TRANSPOSE")] * 2
    report = tvm_tensorrt.verify(mod, params, use_implicit_batch=implicit_batch)  # the network, on the CPU
    assert report.passed, report.to_table()


def test_transposed_weights_in_fp16(monkeypatch):
    """FP16 engines store the weights as half: still read as stored, still the model's numbers."""
    monkeypatch.setenv("TVM_TENSORRT_USE_FP16", "1")
    mod, params = tvm_tensorrt.from_onnx(gemm_model("plain"))
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
    function = list(offloaded_functions(partitioned).values())[0]
    _, built, _ = build_network(subgraph_of(function, str(function.attrs["global_symbol"]), config), precision="fp16")
    assert [layer for layer in layers(built.network, load_trt()) if layer[0] == "MATRIX_MULTIPLY"] \
        == [("MATRIX_MULTIPLY", "NONE", "TRANSPOSE")] * 2
    report = tvm_tensorrt.verify(mod, params)
    assert report.precision == "fp16" and report.passed, report.to_table()


def test_a_transposed_weight_is_weights_not_an_operator_call():
    """Decisions, reports and min_subgraph_size count the model's operators: two Gemms are two
    matmuls, an add and (between them) a relu, whatever their weights' layout."""
    from tvm_tensorrt.partition.api import partition_with_decisions

    mod, params = tvm_tensorrt.from_onnx(gemm_model("plain"))
    _, _, decisions = partition_with_decisions(mod, params)
    assert [d.op for d in decisions] == ["relax.matmul", "relax.add", "relax.nn.relu", "relax.matmul"]
    assert all(d.offloaded for d in decisions)
    assert [d.inputs for d in decisions] == [("x",)] + [(d.binding,) for d in decisions[:-1]]  # weights are no input
    partitioned, _ = tvm_tensorrt.partition_for_tensorrt(mod, params, min_subgraph_size=5)
    assert not offloaded_functions(partitioned)  # 4 operators: fewer than 5


def test_a_transpose_read_by_more_than_matmuls_is_folded():
    mod, params = tvm_tensorrt.from_onnx(gemm_model("also_added"))
    partitioned, _ = tvm_tensorrt.partition_for_tensorrt(mod, params)
    assert all("relax.permute_dims" not in calls(f) for f in partitioned.functions.values()
               if isinstance(f, relax.Function))
    assert tvm_tensorrt.verify(mod, params).passed


def test_a_transposed_weight_whose_matmul_stays_in_tvm_is_folded_there():
    model = gemm_model("plain")
    mod, params = tvm_tensorrt.from_onnx(model)
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, params, ops_to_exclude=["matmul"])
    assert "relax.permute_dims" not in calls(partitioned["main"])
    assert "relax.matmul" in calls(partitioned["main"])
    x = np.random.default_rng(1).uniform(-1, 1, (2, 16)).astype(np.float32)
    executable = tvm_tensorrt.build(partitioned, target="llvm", config=config)
    vm = relax.VirtualMachine(executable, tvm.cpu())
    np.testing.assert_allclose(vm["main"](tvm.runtime.tensor(x)).numpy(), onnxruntime_output(model, "x", x),
                               rtol=1e-5, atol=1e-5)


def load_trt():
    from tvm_tensorrt.backend import load_backend

    return load_backend().trt
