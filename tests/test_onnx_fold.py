"""The ONNX shape-arithmetic fold (tvm_tensorrt/onnx_fold.py) computes what onnxruntime computes:
op by op, and for every model of the project's set, whose static exports then import without
onnxslim."""

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from tvm_tensorrt import onnx_fold
from tvm_tensorrt.frontend import SLIM_FOR
from tvm_tensorrt.onnx_fold import fold_shape_arithmetic
from tvm_tensorrt.onnx_weights import split_weights

MODELS_DIR = os.path.join(os.path.dirname(__file__), "models")
I64 = np.int64


def _ints(*values):
    return np.array(values, dtype=I64)


# (op, constant inputs, attributes): each folds to what onnxruntime gives
CASES = [
    ("Gather", [_ints(4, 16, 32), np.array(-1, I64)], {}),
    ("Gather", [np.arange(12, dtype=np.float32).reshape(3, 4), _ints(0, 2)], {"axis": 1}),
    ("Concat", [_ints(1), _ints(-1, 8)], {"axis": 0}),
    ("Unsqueeze", [np.array(7, I64), _ints(0)], {}),
    ("Unsqueeze", [_ints(1, 2), _ints(-1, 0)], {}),
    ("Squeeze", [_ints(5).reshape(1, 1), None], {}),
    ("Squeeze", [np.zeros((1, 3, 1), np.float32), _ints(-1)], {}),
    ("Slice", [np.arange(10, dtype=I64), _ints(-3), _ints(9223372036854775807)], {}),
    ("Slice", [np.arange(10, dtype=I64), _ints(8), _ints(-9223372036854775807), _ints(0), _ints(-3)], {}),
    ("Slice", [np.arange(24, dtype=I64).reshape(2, 3, 4), _ints(0, 1), _ints(2, 100), _ints(2, 1), _ints(2, 1)], {}),
    ("Reshape", [np.arange(24, dtype=np.float32).reshape(2, 3, 4), _ints(0, -1)], {}),
    ("Reshape", [np.zeros((3, 0), np.float32), _ints(0, 5)], {"allowzero": 1}),
    ("Flatten", [np.zeros((2, 3, 4), np.float32)], {"axis": 2}),
    ("Transpose", [np.arange(6, dtype=I64).reshape(2, 3)], {}),
    ("Transpose", [np.arange(24, dtype=I64).reshape(2, 3, 4)], {"perm": [1, 2, 0]}),
    ("Expand", [np.arange(3, dtype=np.float32).reshape(3, 1), _ints(2, 1, 4)], {}),
    ("Tile", [_ints(1, 2), _ints(3)], {}),
    ("ConstantOfShape", [_ints(2, 3)], {"value": numpy_helper.from_array(np.array([-1.5], np.float32))}),
    ("ConstantOfShape", [_ints(4)], {}),
    ("ConstantOfShape", [np.zeros(0, I64)], {"value": numpy_helper.from_array(np.array([3], I64))}),
    ("Range", [np.array(2, I64), np.array(11, I64), np.array(3, I64)], {}),
    ("Range", [np.array(1.0, np.float32), np.array(-1.0, np.float32), np.array(-0.5, np.float32)], {}),
    ("Cast", [_ints(1, 0, 3)], {"to": TensorProto.BOOL}),
    ("Cast", [np.array([1.5, -2.5], np.float32)], {"to": TensorProto.FLOAT16}),
    ("Add", [_ints(1, 2), np.array(3, I64)], {}),
    ("Sub", [_ints(1, 2), _ints(5, 5)], {}),
    ("Mul", [np.float32([1.5, 2]), np.float32([4, 0.25])], {}),
    ("Div", [_ints(7, -7, 7, -7, 6), _ints(2, 2, -2, -2, 3)], {}),  # truncation, as C divides
    ("Div", [np.float32([1, -3]), np.float32([4, 2])], {}),
    ("Neg", [_ints(3, -4)], {}),
    ("Abs", [_ints(3, -4)], {}),
    ("Floor", [np.float32([1.5, -1.5])], {}),
    ("Ceil", [np.float32([1.5, -1.5])], {}),
    ("Sqrt", [np.float32([4, 2])], {}),
    ("Min", [_ints(3, 9), _ints(5), _ints(4, 1)], {}),
    ("Max", [_ints(3, 9), _ints(5)], {}),
    ("Equal", [_ints(3, 9), _ints(3, 1)], {}),
    ("Less", [_ints(3, 9), _ints(4)], {}),
    ("LessOrEqual", [_ints(3, 9), _ints(3)], {}),
    ("Greater", [_ints(3, 9), _ints(4)], {}),
    ("GreaterOrEqual", [_ints(3, 9), _ints(9)], {}),
    ("Not", [np.array([True, False])], {}),
    ("And", [np.array([True, False]), np.array(True)], {}),
    ("Or", [np.array([True, False]), np.array(False)], {}),
    ("Where", [np.array([True, False]), _ints(1, 2), _ints(-1)], {}),
    ("ReduceProd", [_ints(2, 3, 4), None], {"keepdims": 0}),
    ("ReduceProd", [np.arange(1, 7, dtype=I64).reshape(2, 3)], {"keepdims": 1, "axes": [1]}),  # opset 17: attribute
    ("ReduceSum", [np.arange(6, dtype=I64).reshape(2, 3), _ints(0)], {"keepdims": 0}),
    ("Identity", [_ints(1, 2)], {}),
]


def _single_node_model(op, inputs, attrs):
    """op(inputs) read by an Identity that is the graph output (outputs stay computed by nodes)."""
    names = [f"in{i}" if value is not None else "" for i, value in enumerate(inputs)]
    while names and names[-1] == "":
        names.pop()
    initializers = [numpy_helper.from_array(value, name) for name, value in zip(names, inputs) if name]
    nodes = [helper.make_node(op, names, ["folded"], name="target", **attrs),
             helper.make_node("Identity", ["folded"], ["y"], name="out")]
    graph = helper.make_graph(nodes, "g", [], [onnx.ValueInfoProto(name="y")],  # type left to inference
                              initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize("op, inputs, attrs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_operator_folds_to_what_onnxruntime_computes(op, inputs, attrs):
    model = _single_node_model(op, inputs, attrs)
    [expected] = ort.InferenceSession(model.SerializeToString()).run(None, {})
    folded, removed = fold_shape_arithmetic(_single_node_model(op, inputs, attrs))
    assert removed == 1 and [n.name for n in folded.graph.node] == ["out"]
    [value] = [numpy_helper.to_array(i) for i in folded.graph.initializer if i.name == "folded"]
    assert value.dtype == expected.dtype and value.shape == expected.shape
    np.testing.assert_array_equal(value, expected)


def _shape_model(x_dims, shape_attrs=None, op="Shape"):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, x_dims)
    nodes = [helper.make_node(op, ["x"], ["s"], **(shape_attrs or {})),
             helper.make_node("Identity", ["s"], ["y"])]
    graph = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info("y", TensorProto.INT64, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize("op, attrs", [("Shape", {}), ("Shape", {"start": 1}), ("Shape", {"start": -2, "end": -1}),
                                       ("Size", {})])
def test_shape_and_size_of_a_static_input_fold(op, attrs):
    model = _shape_model([2, 3, 5], attrs, op)
    data = np.zeros((2, 3, 5), np.float32)
    [expected] = ort.InferenceSession(model.SerializeToString()).run(None, {"x": data})
    folded, removed = fold_shape_arithmetic(model)
    assert removed == 1
    [value] = [numpy_helper.to_array(i) for i in folded.graph.initializer]
    np.testing.assert_array_equal(value, expected)
    assert value.shape == expected.shape


def test_shapes_given_by_shape_dict_fold_and_symbolic_ones_do_not():
    model = _shape_model(["batch", 3])
    assert fold_shape_arithmetic(model)[1] == 0 and [n.op_type for n in model.graph.node] == ["Shape", "Identity"]
    folded, removed = fold_shape_arithmetic(model, {"x": [4, 3]})
    assert removed == 1
    np.testing.assert_array_equal(numpy_helper.to_array(folded.graph.initializer[0]), [4, 3])


def test_nothing_larger_than_the_limit_is_made(monkeypatch):
    monkeypatch.setattr(onnx_fold, "FOLD_MAX_ELEMENTS", 5)
    model = _single_node_model("ConstantOfShape", [_ints(2, 3)], {})
    assert fold_shape_arithmetic(model)[1] == 0 and len(model.graph.node) == 2


def test_models_with_branches_are_left_as_they_are():
    branch = helper.make_graph([helper.make_node("Shape", ["x"], ["o"])], "b", [],
                               [helper.make_tensor_value_info("o", TensorProto.INT64, None)])
    model = _shape_model([2, 3])
    model.graph.node.insert(0, helper.make_node("If", ["c"], ["unused"], then_branch=branch, else_branch=branch))
    before = model.SerializeToString()
    assert fold_shape_arithmetic(model)[1] == 0 and model.SerializeToString() == before


STATIC = ["bert_encoder", "gpt2_decoder", "vit", "swin_block", "convnext", "mobilevit", "llama_block", "deeplabv3",
          "maxvit_einsum", "t5_encoder"]


def _feeds(model, weights, rng):
    feeds = {name: numpy_helper.to_array(init) for name, init in weights.items()}
    for info in model.graph.input:
        if info.name in feeds:
            continue
        dims = [d.dim_value for d in info.type.tensor_type.shape.dim]
        if info.type.tensor_type.elem_type == TensorProto.INT64:
            feeds[info.name] = rng.integers(0, 2 if "mask" in info.name else 100, dims).astype(I64)
        else:
            feeds[info.name] = rng.standard_normal(dims).astype(np.float32)
    return feeds


@pytest.mark.parametrize("name", STATIC)
def test_static_models_lose_their_shape_arithmetic_and_keep_their_outputs(name):
    """The weightless copy frontend.py imports, folded: no op onnxslim was needed for remains,
    and onnxruntime gives the same outputs from it as from the user's model."""
    original = onnx.load(os.path.join(MODELS_DIR, f"{name}.onnx"))
    light, weights = split_weights(original)
    folded, removed = fold_shape_arithmetic(light)
    assert removed > 0
    assert not [n.op_type for n in folded.graph.node if n.op_type in SLIM_FOR]
    onnx.checker.check_model(folded)
    feeds = _feeds(folded, weights, np.random.default_rng(0))
    got = ort.InferenceSession(folded.SerializeToString()).run(None, feeds)
    user_feeds = {i.name: feeds[i.name] for i in original.graph.input if i.name in feeds}
    expected = ort.InferenceSession(original.SerializeToString()).run(None, user_feeds)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
