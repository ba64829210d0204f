"""onnx_mapped.read_mapped: the model it parses around the large weights, with the weights read
back from the file, is the model onnx.load reads; what it cannot walk falls back to onnx.load; a
file rewritten before its weights are read is an error, not a crash or wrong weights."""

import os

import numpy as np
import onnx
import pytest
import tvm_ffi
from onnx import TensorProto, helper, numpy_helper

import tvm_tensorrt
from model_utils import LIGHT_DIR, randomize_constant_weights
from tvm_tensorrt.frontend import load_leaving_weights_in_file
from tvm_tensorrt.onnx_mapped import read_mapped
from tvm_tensorrt.onnx_weights import LIFT_MIN_ELEMENTS


def _as_loaded(model: onnx.ModelProto, in_file: dict) -> onnx.ModelProto:
    whole = onnx.ModelProto()
    whole.CopyFrom(model)
    for init in whole.graph.initializer:
        if init.name in in_file:
            assert not init.raw_data
            init.raw_data = in_file[init.name].read().tobytes()
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
    model, in_file = read_mapped(path, LIFT_MIN_ELEMENTS)
    assert in_file and all(np.prod(w.shape) >= LIFT_MIN_ELEMENTS for w in in_file.values())
    assert all(w.read().ctypes.data % 64 == 0 for w in in_file.values())  # memory TVM can share
    assert _as_loaded(model, in_file) == onnx.load(path)


def test_only_large_float_weights_stay_in_the_file(tmp_path):
    model, in_file = read_mapped(_saved(tmp_path, _mixed_model()), LIFT_MIN_ELEMENTS)
    assert sorted(in_file) == ["also_output", "w16", "w32", "w64"]
    assert {n: str(w.read().dtype) for n, w in in_file.items()} == {"also_output": "float32", "w16": "float16",
                                                                   "w32": "float32", "w64": "float64"}


@pytest.mark.parametrize("cut", [3, 100, -7])
def test_a_file_it_cannot_walk_is_left_to_onnx_load(cut, tmp_path):
    data = _mixed_model().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[:cut])
    assert read_mapped(str(path), LIFT_MIN_ELEMENTS) is None
    with pytest.raises(tvm_tensorrt.TensorRTError):
        load_leaving_weights_in_file(str(path))


def test_external_weights_load_as_before(tmp_path):
    model = _mixed_model()
    path = str(tmp_path / "ext.onnx")
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin",
              size_threshold=4096)
    loaded, in_file = load_leaving_weights_in_file(path)
    assert _as_loaded(loaded, in_file) == onnx.load(path)


def test_weights_that_stay_initializers_get_their_values_back(tmp_path):
    """A weight that is also a graph output is not lifted (split_weights): the model TVM imports
    must hold its values, read from the file."""
    from tvm_tensorrt.onnx_weights import split_weights

    light, weights = split_weights(*load_leaving_weights_in_file(_saved(tmp_path, _mixed_model())))
    kept = {i.name: numpy_helper.to_array(i) for i in light.graph.initializer}
    assert "also_output" in kept and kept["also_output"].shape == (1024,)
    expected = {i.name: numpy_helper.to_array(i) for i in _mixed_model().graph.initializer}
    np.testing.assert_array_equal(kept["also_output"], expected["also_output"])


def test_a_file_and_its_model_import_alike(tmp_path):
    model = randomize_constant_weights(onnx.load(os.path.join(LIGHT_DIR, "light_squeezenet.onnx")))
    from_file, _ = tvm_tensorrt.from_onnx(_saved(tmp_path, model))
    from_proto, _ = tvm_tensorrt.from_onnx(model)
    assert tvm_ffi.structural_equal(from_file, from_proto)


@pytest.mark.parametrize("change", ["cut short", "rewritten"])
def test_a_file_changed_before_its_weights_are_read_is_an_error(change, tmp_path):
    path = _saved(tmp_path, _mixed_model())
    _, in_file = read_mapped(path, LIFT_MIN_ELEMENTS)
    data = open(path, "rb").read()
    if change == "cut short":
        open(path, "wb").write(data[:len(data) // 2])
    else:
        open(path, "wb").write(data[::-1])
        os.utime(path, ns=(1, 1))  # a rewrite with the same size: told apart by its time
    with pytest.raises(tvm_tensorrt.TensorRTError, match="(changed while|ended before)"):
        for weight in in_file.values():
            weight.read()


def test_large_arrays_for_tvm_are_populated_maps_tvm_shares():
    """Weights are read into these: fresh memory faulted page by page cost VGG-16 1.2 s, not 0.2."""
    import mmap

    from tvm_tensorrt.shared_tensors import MAPPED_MIN_BYTES, aligned_empty, shared_tensor

    small, large = aligned_empty((16,), "float32"), aligned_empty((MAPPED_MIN_BYTES // 4 + 3,), "float32")
    for array in (small, large):
        array[...] = 2.5
        assert array.ctypes.data % 64 == 0 and array.flags.writeable and array.flags.c_contiguous
        tensor = shared_tensor(array)
        array[0] = 7.0  # shared, not copied
        assert tensor.numpy()[0] == 7.0
    assert large.ctypes.data % mmap.PAGESIZE == 0  # a map of its own, populated in one call
