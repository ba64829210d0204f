"""ONNX import: ops TVM's importer writes as opaque TIR reach Relax as operators rules can see."""

import numpy as np
import pytest
import tvm
from onnx import TensorProto, helper, numpy_helper
from tvm import relax

import tvm_tensorrt
from op_samples import main_ops
from model_utils import onnxruntime_output


def one_node_model(node, shape, initializers=(), opset=19):
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)


def run_relax(mod, x):
    vm = relax.VirtualMachine(tvm.compile(mod, target="llvm"), tvm.cpu())
    return vm["main"](tvm.runtime.tensor(x)).numpy()


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
def test_pad_imports_as_nn_pad_and_is_offloaded(mode):
    pads = numpy_helper.from_array(np.array([0, 1, 2, 0, 2, 1], np.int64), "pads")
    value = numpy_helper.from_array(np.array(-1.5, np.float32), "value")
    model = one_node_model(helper.make_node("Pad", ["x", "pads", "value"], ["y"], mode=mode), [2, 3, 4],
                           [pads, value])
    mod, params = tvm_tensorrt.from_onnx(model)
    assert main_ops(mod) == ["relax.nn.pad"]
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(run_relax(mod, x), onnxruntime_output(model, "x", x), rtol=1e-6)
    assert all(d.offloaded for d in tvm_tensorrt.explain(mod, params).decisions)


def test_negative_pads_keep_tvm_s_own_lowering():
    pads = numpy_helper.from_array(np.array([0, -1, 0, 1], np.int64), "pads")
    model = one_node_model(helper.make_node("Pad", ["x", "pads"], ["y"]), [3, 4], [pads])
    mod, _ = tvm_tensorrt.from_onnx(model)
    assert "relax.nn.pad" not in main_ops(mod)
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_allclose(run_relax(mod, x), onnxruntime_output(model, "x", x))


def test_einsum_imports_as_relax_einsum():
    w = numpy_helper.from_array(np.random.default_rng(1).standard_normal((2, 4, 5)).astype(np.float32), "w")
    model = one_node_model(helper.make_node("Einsum", ["x", "w"], ["y"], equation="bij,bjk->bik"), [2, 3, 4], [w])
    mod, _ = tvm_tensorrt.from_onnx(model)
    assert main_ops(mod) == ["relax.einsum"]
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(run_relax(mod, x), onnxruntime_output(model, "x", x), rtol=1e-5, atol=1e-6)


def test_the_importer_map_is_restored():
    from tvm.relax.frontend.onnx import onnx_frontend

    before = onnx_frontend._get_convert_map
    tvm_tensorrt.from_onnx(one_node_model(helper.make_node("Relu", ["x"], ["y"]), [2]))
    assert onnx_frontend._get_convert_map is before
    assert onnx_frontend._get_convert_map()["Einsum"] is onnx_frontend.Einsum


@pytest.mark.parametrize("bounds, ops", [((0.0, 6.0), ["relax.clip"]), ((-1.0, None), ["relax.maximum"]),
                                         ((None, 2.5), ["relax.minimum"])], ids=["relu6", "min only", "max only"])
def test_clip_with_constant_bounds_imports_as_relax_ops(bounds, ops):
    inits = [numpy_helper.from_array(np.array(b, np.float32), n) for b, n in zip(bounds, ("lo", "hi"))
             if b is not None]
    names = ["x"] + [n if b is not None else "" for b, n in zip(bounds, ("lo", "hi"))]
    model = one_node_model(helper.make_node("Clip", names, ["y"]), [2, 3], inits, opset=13)
    mod, params = tvm_tensorrt.from_onnx(model)
    assert main_ops(mod) == ops
    x = np.linspace(-8, 8, 6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(run_relax(mod, x), onnxruntime_output(model, "x", x))
    assert all(d.offloaded for d in tvm_tensorrt.explain(mod, params).decisions)


def test_clip_with_a_nan_bound_keeps_tvm_s_own_lowering():
    nan = numpy_helper.from_array(np.array(np.nan, np.float32), "lo")
    model = one_node_model(helper.make_node("Clip", ["x", "lo"], ["y"]), [2, 3], [nan], opset=13)
    mod, _ = tvm_tensorrt.from_onnx(model)
    x = np.linspace(-8, 8, 6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(run_relax(mod, x), onnxruntime_output(model, "x", x))
