"""onnx_fold.inline_constant_ifs: an If whose condition is constant once the static dims are
known (torch's `t.squeeze(1)` on a dim that is statically 1) is replaced by its taken branch, so
the model imports with a known rank; an If of an unknown condition stays one."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tvm_tensorrt.onnx_fold import inline_constant_ifs
from test_onnx_symbolic import _import, _out_shapes, _run_both

ROOT = Path(__file__).resolve().parent.parent
EXPORTS = ROOT / "tests" / "models" / "exports"
F32 = TensorProto.FLOAT


def _const(name, values):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(values, np.int64), name))


def _if_model(dim1, cond_axis=1):
    """y = Resize(x) to sizes read from x's own shape (x: [n, dim1, h, w]), as BEiT resizes its
    position bias table: ONNX's shape inference knows y's dim 1, onnxslim does not. Then
    z = If(Shape(y)[1] == 1, Squeeze(y, [1]), Identity(y)); out = Unsqueeze(z, [0]): torch's
    export of `y.squeeze(1).unsqueeze(0)`. Without the If inlined, TVM's importer fails on the
    Unsqueeze ("requires a statically known input rank"). cond_axis=0: the condition reads the
    symbolic n instead, and the branches are Neg(y) and Identity(y) (of one rank)."""
    if cond_axis == 1:
        then_nodes = [_const("axes1", [1]), helper.make_node("Squeeze", ["y", "axes1"], ["taken"])]
        then_shape, rank = ["s0", "s1", "s2"], 4 if dim1 == 1 else 5
    else:
        then_nodes, then_shape, rank = [helper.make_node("Neg", ["y"], ["taken"])], ["s0", "s3", "s1", "s2"], 5
    then_branch = helper.make_graph(then_nodes, "then", [], [helper.make_tensor_value_info("taken", F32, then_shape)])
    else_branch = helper.make_graph(
        [helper.make_node("Identity", ["y"], ["same"])],
        "else", [], [helper.make_tensor_value_info("same", F32, ["s0", "s3", "s1", "s2"])])
    nodes = [
        helper.make_node("Shape", ["x"], ["x_shape"]), _const("s0", [0]), _const("s2", [2]), _const("s4", [4]),
        helper.make_node("Slice", ["x_shape", "s0", "s2"], ["lead"]),
        helper.make_node("Slice", ["x_shape", "s2", "s4"], ["hw"]),
        helper.make_node("Concat", ["lead", "hw"], ["sizes"], axis=0),
        helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest"),
        helper.make_node("Shape", ["y"], ["shape"]),
        _const("index", [cond_axis]), _const("one", [1]), _const("axes0", [0]),
        helper.make_node("Gather", ["shape", "index"], ["dim"], axis=0),
        helper.make_node("Equal", ["dim", "one"], ["cond"]),
        helper.make_node("If", ["cond"], ["z"], name="squeeze_if", then_branch=then_branch, else_branch=else_branch),
        helper.make_node("Unsqueeze", ["z", "axes0"], ["out"]),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F32, ["n", dim1, "h", "w"])],
                              [helper.make_tensor_value_info("out", F32, [f"o{i}" for i in range(rank)])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _x(*shape):
    return np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("dim1, shape", [(1, ["1", "n", "h", "w"]), (3, ["1", "n", "3", "h", "w"])])
def test_squeeze_if_on_a_static_dim_is_inlined(dim1, shape):
    """dim 1 is statically 1: the Squeeze branch is taken; statically 3: the Identity one. Either
    way the result has a known rank and a shape of the named axes."""
    model = _if_model(dim1)
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    assert inline_constant_ifs(copy) == 1
    ops = [n.op_type for n in copy.graph.node]
    assert "If" not in ops and ("Squeeze" in ops) == (dim1 == 1)
    onnx.checker.check_model(copy)
    mod = _import(model)
    assert _out_shapes(mod) == [shape]
    # (onnxruntime rejects the model of dim 3, whose Squeeze branch fails shape inference: it
    # runs the inlined copy there)
    _run_both(model if dim1 == 1 else copy, mod, [{"x": _x(2, dim1, 5, 6)}, {"x": _x(4, dim1, 7, 3)}])


def test_if_on_a_symbolic_dim_stays_an_if():
    """Shape(y)[0] == 1 on the symbolic axis n is not known before run time: the If is kept, and
    the model imports as before (a relax If), computing both branches' results as onnxruntime."""
    model = _if_model(1, cond_axis=0)
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    assert inline_constant_ifs(copy) == 0
    assert [n.op_type for n in copy.graph.node] == [n.op_type for n in model.graph.node]
    mod = _import(model)
    assert "    if " in mod["main"].script()  # a relax If, as before
    _run_both(model, mod, [{"x": _x(1, 1, 5, 6)}, {"x": _x(3, 1, 7, 3)}])


def test_beit_imports_with_named_axes():
    """BEiT's relative position bias squeezes a dim that is statically 1 through an If."""
    sys.path.insert(0, str(ROOT / "tests"))
    from model_utils import manifest_inputs

    entry = json.loads((EXPORTS / "manifest.json").read_text())["beit"]
    model = onnx.load(EXPORTS / "beit.onnx")
    mod = _import(model)
    hidden, pooled = _out_shapes(mod)
    assert hidden[0] == "batch" and hidden[2] == "32" and {"height", "width"} <= set(re.findall(r"[a-z]+", hidden[1]))
    assert pooled == ["batch", "32"]
    _run_both(model, mod, [manifest_inputs(entry, 0), manifest_inputs(entry, 1)])
