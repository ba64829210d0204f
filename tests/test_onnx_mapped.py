"""onnx_mapped.read_mapped: the model it parses around the large weights, with the weights put
back from its arrays, is the model onnx.load reads; what it cannot walk falls back to onnx.load."""

import os

import numpy as np
import onnx
import pytest
import tvm_ffi
from onnx import TensorProto, helper, numpy_helper

import tvm_tensorrt
from model_utils import LIGHT_DIR, randomize_constant_weights
from tvm_tensorrt.frontend import load_with_weight_views
from tvm_tensorrt.onnx_mapped import read_mapped
from tvm_tensorrt.onnx_weights import LIFT_MIN_ELEMENTS


def _as_loaded(model: onnx.ModelProto, views: dict) -> onnx.ModelProto:
    whole = onnx.ModelProto()
    whole.CopyFrom(model)
    for init in whole.graph.initializer:
        if init.name in views:
            assert not init.raw_data
            init.raw_data = views[init.name].tobytes()
    return whole


def _mixed_model():
    """float32, float16 and float64 weights above and below the size limit, an int64 shape, a
    weight that is also an output, doc strings and metadata around the graph."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((64, 32)).astype(np.float32), "w32"),
             numpy_helper.from_array(rng.standard_normal((8,)).astype(np.float32), "small"),
             numpy_helper.from_array(rng.standard_normal((32, 64)).astype(np.float16), "w16"),
             numpy_helper.from_array(rng.standard_normal((2048,)).astype(np.float64), "w64"),
             numpy_helper.from_array(rng.standard_normal((1024,)).astype(np.float32), "also_output"),
             numpy_helper.from_array(np.array([1, 2048], np.int64), "shape")]
    nodes = [helper.make_node("MatMul", ["x", "w32"], ["a"]), helper.make_node("Add", ["a", "small"], ["b"]),
             helper.make_node("Cast", ["b"], ["c"], to=TensorProto.FLOAT16),
             helper.make_node("MatMul", ["c", "w16"], ["d"]), helper.make_node("Cast", ["d"], ["e"], to=TensorProto.DOUBLE),
             helper.make_node("Reshape", ["w64", "shape"], ["f"]), helper.make_node("Mul", ["e", "f"], ["y"])]
    graph = helper.make_graph(nodes, "mixed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [1, 2048]),
                               helper.make_tensor_value_info("also_output", TensorProto.FLOAT, [1024])], inits,
                              doc_string="a graph")
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], doc_string="a model")
    helper.set_model_props(model, {"author": "tests"})
    return model


def _saved(tmp_path, model, name="model.onnx"):
    path = str(tmp_path / name)
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("name", ["light_resnet50", "light_squeezenet", "light_inception_v2", "mixed", "default"])
def test_the_model_and_its_weights_are_what_onnx_load_reads(name, tmp_path):
    from tvm_tensorrt.models import DEFAULT_MODEL

    if name == "mixed":
        path = _saved(tmp_path, _mixed_model())
    elif name == "default":
        path = DEFAULT_MODEL
    else:
        path = _saved(tmp_path, randomize_constant_weights(onnx.load(os.path.join(LIGHT_DIR, f"{name}.onnx"))))
    model, views = read_mapped(path, LIFT_MIN_ELEMENTS)
    assert views and all(not v.flags.writeable for v in views.values())  # views of the file, not copies
    assert all(np.prod(v.shape) >= LIFT_MIN_ELEMENTS for v in views.values())
    assert _as_loaded(model, views) == onnx.load(path)


def test_only_large_float_weights_stay_in_the_file(tmp_path):
    model, views = read_mapped(_saved(tmp_path, _mixed_model()), LIFT_MIN_ELEMENTS)
    assert sorted(views) == ["also_output", "w16", "w32", "w64"]
    assert {n: str(v.dtype) for n, v in views.items()} == {"also_output": "float32", "w16": "float16",
                                                          "w32": "float32", "w64": "float64"}


@pytest.mark.parametrize("cut", [3, 100, -7])
def test_a_file_it_cannot_walk_is_left_to_onnx_load(cut, tmp_path):
    data = _mixed_model().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[:cut])
    assert read_mapped(str(path), LIFT_MIN_ELEMENTS) is None
    with pytest.raises(tvm_tensorrt.TensorRTError):
        load_with_weight_views(str(path))


def test_external_weights_load_as_before(tmp_path):
    model = _mixed_model()
    path = str(tmp_path / "ext.onnx")
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin",
              size_threshold=4096)
    loaded, views = load_with_weight_views(path)
    assert _as_loaded(loaded, views) == onnx.load(path)


def test_weights_that_stay_initializers_get_their_values_back(tmp_path):
    """A weight that is also a graph output is not lifted (split_weights): the model TVM imports
    must hold its values, read from the file."""
    from tvm_tensorrt.onnx_weights import split_weights

    light, weights = split_weights(*load_with_weight_views(_saved(tmp_path, _mixed_model())))
    kept = {i.name: numpy_helper.to_array(i) for i in light.graph.initializer}
    assert "also_output" in kept and kept["also_output"].shape == (1024,)
    expected = {i.name: numpy_helper.to_array(i) for i in _mixed_model().graph.initializer}
    np.testing.assert_array_equal(kept["also_output"], expected["also_output"])


def test_a_file_and_its_model_import_alike(tmp_path):
    model = randomize_constant_weights(onnx.load(os.path.join(LIGHT_DIR, "light_squeezenet.onnx")))
    from_file, _ = tvm_tensorrt.from_onnx(_saved(tmp_path, model))
    from_proto, _ = tvm_tensorrt.from_onnx(model)
    assert tvm_ffi.structural_equal(from_file, from_proto)
