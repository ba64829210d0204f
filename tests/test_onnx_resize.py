"""Resize / Upsample to sizes computed from named axes, and the EmbeddingBag Loop (onnx_resize.py).

Each graph is imported with its axes symbolic; the output type must be an expression of the
named dims (a lost shape is what broke the exports), and TVM's CPU run must match onnxruntime
at two sizes (the size arithmetic is only right if it is right for more than one size)."""

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import tvm
import tvm_tensorrt
from tvm import relax

ort = pytest.importorskip("onnxruntime")
ROOT = Path(__file__).resolve().parent.parent
EXPORTS = ROOT / "tests" / "models" / "exports"


def _model(nodes, inputs, outputs, initializers=(), opset=18):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _tensor(name, dims, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, dims)


def _const(name, values, dtype=np.int64):
    return onnx.numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def _run_both(model, feeds_list, expected_dims=None):
    """Imports once; compares TVM (llvm) with onnxruntime for each feeds dict. Returns the type."""
    mod, params = tvm_tensorrt.from_onnx(model)
    ty = mod["main"].ret_ty if hasattr(mod["main"], "ret_ty") else mod["main"].body.body.ty
    if expected_dims is not None:
        analyzer = tvm.sym.Analyzer()
        assert ty.shape is not None, f"output lost its shape: {ty}"
        assert len(ty.shape.values) == len(expected_dims)
        names = {v.name: v for param in mod["main"].params for d in param.ty.shape.values
                 for v in tvm.tirx.analysis.undefined_vars(d)}
        for got, want in zip(ty.shape.values, expected_dims):
            want = want(names) if callable(want) else want
            assert analyzer.can_prove_equal(got, want), f"{got} != {want} in {ty}"
    vm = relax.VirtualMachine(tvm.compile(mod, target="llvm"), tvm.cpu())
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    order = [i.name for i in sess.get_inputs()]
    for feeds in feeds_list:
        wanted = sess.run(None, feeds)
        got = vm["main"](*[tvm.runtime.tensor(feeds[n]) for n in order])
        got = [got] if len(wanted) == 1 else list(got)
        for g, w in zip(got, wanted):
            assert g.numpy().shape == w.shape
            np.testing.assert_allclose(g.numpy(), w, atol=1e-4, rtol=1e-3)
    return ty


def _images(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def test_resize_to_sizes_from_another_inputs_shape():
    """segformer's decode head: Resize x to the spatial size of y (Shape -> Slice -> Concat)."""
    nodes = [helper.make_node("Shape", ["x"], ["sx"]), helper.make_node("Shape", ["y"], ["sy"]),
             helper.make_node("Slice", ["sx", "zero", "two"], ["nc"]),
             helper.make_node("Slice", ["sy", "two", "four"], ["hw"]),
             helper.make_node("Concat", ["nc", "hw"], ["sizes"], axis=0),
             helper.make_node("Resize", ["x", "", "", "sizes"], ["r"], mode="linear"),
             helper.make_node("Add", ["r", "y"], ["out"])]
    model = _model(nodes, [_tensor("x", ["n", 3, "h", "w"]), _tensor("y", ["n", 3, "H", "W"])],
                   [_tensor("out", None)], [_const("zero", [0]), _const("two", [2]), _const("four", [4])])
    feeds = [dict(zip("xy", _images((1, 3, 4, 5), (1, 3, 8, 11)))), dict(zip("xy", _images((2, 3, 7, 3), (2, 3, 5, 9))))]
    _run_both(model, feeds, [lambda v: v["n"], 3, lambda v: v["H"], lambda v: v["W"]])


def test_resize_to_divided_sizes_proves_equal_to_a_pool():
    """dinov2's position embeddings: sizes `h / 2` (TVM writes truncating division) must prove
    equal to a stride-2 pool's `h // 2`, or the Add after loses its shape."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "i2"], ["h"]), helper.make_node("Gather", ["s", "i3"], ["w"]),
             helper.make_node("Div", ["h", "k"], ["h2"]), helper.make_node("Div", ["w", "k"], ["w2"]),
             helper.make_node("Unsqueeze", ["h2", "ax"], ["h2u"]), helper.make_node("Unsqueeze", ["w2", "ax"], ["w2u"]),
             helper.make_node("Concat", ["one_c", "h2u", "w2u"], ["sizes"], axis=0),
             helper.make_node("Resize", ["emb", "", "", "sizes"], ["r"], mode="cubic"),
             helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Add", ["p", "r"], ["out"])]
    emb = _images((1, 2, 3, 3), seed=3)[0]
    model = _model(nodes, [_tensor("x", ["n", 2, "h", "w"])], [_tensor("out", None)],
                   [_const("i2", 2), _const("i3", 3), _const("k", 2), _const("ax", [0]), _const("one_c", [1, 2]),
                    onnx.numpy_helper.from_array(emb, "emb")])
    feeds = [{"x": x} for x in _images((1, 2, 6, 8), (2, 2, 10, 4))]
    _run_both(model, feeds, [lambda v: v["n"], 2, lambda v: v["h"] // 2, lambda v: v["w"] // 2])


@pytest.mark.parametrize("mode,coord", [("nearest", "asymmetric"), ("linear", "half_pixel")])
def test_resize_by_scale_two_concat_keeps_shape(mode, coord):
    """A U-Net's decoder: Resize by 2 (`h * 2` exactly, not Cast(2.0 * float(h))) concatenated
    with a skip of size `h + h` keeps the Concat's shape."""
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["up"], mode=mode, coordinate_transformation_mode=coord,
                              nearest_mode="floor"),
             helper.make_node("Concat", ["x", "x"], ["xh"], axis=2), helper.make_node("Concat", ["xh", "xh"], ["skip"], axis=3),
             helper.make_node("Concat", ["up", "skip"], ["out"], axis=1)]
    model = _model(nodes, [_tensor("x", ["n", 2, "h", "w"])], [_tensor("out", None)],
                   [_const("scales", [1, 1, 2, 2], np.float32)], opset=17)
    feeds = [{"x": x} for x in _images((1, 2, 3, 4), (2, 2, 5, 2))]
    _run_both(model, feeds, [lambda v: v["n"], 4, lambda v: v["h"] * 2, lambda v: v["w"] * 2])


def test_resize_by_fractional_scale_floors_as_onnx():
    """A non-integral scale: floor(float32(h) * 1.5), as onnxruntime sizes it (the shapes at odd
    sizes). Values are compared where h * scale is whole: TVM's resize maps coordinates by the
    size ratio, onnxruntime by the given scale, which differ when the product is not whole."""
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["out"], mode="nearest")]
    model = _model(nodes, [_tensor("x", ["n", 1, "h", "w"])], [_tensor("out", None)],
                   [_const("scales", [1, 1, 1.5, 0.5], np.float32)])
    _run_both(model, [{"x": x} for x in _images((1, 1, 4, 6), (2, 1, 6, 10))])
    mod, _ = tvm_tensorrt.from_onnx(model)
    vm = relax.VirtualMachine(tvm.compile(mod, target="llvm"), tvm.cpu())
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for x in _images((1, 1, 5, 7), (1, 1, 7, 9)):
        assert vm["main"](tvm.runtime.tensor(x)).numpy().shape == sess.run(None, {"x": x})[0].shape


@pytest.mark.parametrize("opset,mode,spatial", [
    (9, "nearest", ("h", "w")), (7, "nearest", ("h", "w")), (9, "linear", (3, 4)),
    pytest.param(9, "linear", ("h", "w"), marks=pytest.mark.xfail(strict=True, reason=(
        "TVM 0.27: linear/cubic resize2d with asymmetric or align_corners coordinates to a symbolic "
        "size fails in tirx.LowerIntrin (IntImm of float32); half_pixel and nearest compile")))])
def test_upsample(opset, mode, spatial):
    """Upsample (opsets 7-9): scales an attribute (7) or an input (9); exact `h * 2`, `w * 3`."""
    scales = [1.0, 1.0, 2.0, 3.0]
    if opset == 9:
        node, inits = helper.make_node("Upsample", ["x", "scales"], ["out"], mode=mode), [_const("scales", scales, np.float32)]
    else:
        node, inits = helper.make_node("Upsample", ["x"], ["out"], mode=mode, scales=scales), []
    model = _model([node], [_tensor("x", ["n", 2, *spatial])], [_tensor("out", None)], inits, opset=opset)
    model.ir_version = 7
    shapes = [(1, 2, 3, 4), (2, 2, 5, 2)] if spatial[0] == "h" else [(1, 2, 3, 4), (2, 2, 3, 4)]
    dims = [lambda v: v["h"] * 2, lambda v: v["w"] * 3] if spatial[0] == "h" else [6, 12]
    _run_both(model, [{"x": x} for x in _images(*shapes)], [lambda v: v["n"], 2, *dims])


def _embedding_bag(reduce="ReduceSum", carried=False):
    """torch's EmbeddingBag(mode='sum') with offsets as its exporter writes it (opset 17)."""
    body_nodes = [helper.make_node("Gather", ["bounds", "i"], ["s"], axis=0),
                  helper.make_node("Gather", ["ends", "i"], ["e"], axis=0),
                  helper.make_node("Unsqueeze", ["s", "ax0"], ["su"]), helper.make_node("Unsqueeze", ["e", "ax0"], ["eu"]),
                  helper.make_node("Slice", ["indices", "su", "eu", "ax0"], ["idx"]),
                  helper.make_node("Gather", ["table", "idx"], ["rows"], axis=0),
                  helper.make_node(reduce, ["rows", "ax0"], ["bag"], keepdims=0) if reduce == "ReduceSum" else
                  helper.make_node(reduce, ["rows"], ["bag"], keepdims=0, axes=[0]),  # opset 17: an attribute
                  helper.make_node("Identity", ["cond"], ["cond_out"])]
    body_in = [_tensor("i", [], TensorProto.INT64), _tensor("cond", [], TensorProto.BOOL)]
    body_out = [_tensor("cond_out", [], TensorProto.BOOL), _tensor("bag", None)]
    loop_in = ["trip", "true"]
    if carried:  # a running total carried between iterations: not the EmbeddingBag form
        body_in.append(_tensor("acc", None))
        body_nodes.append(helper.make_node("Add", ["acc", "bag"], ["acc_out"]))
        body_out.insert(1, _tensor("acc_out", None))
        loop_in.append("zeros")
    body = helper.make_graph(body_nodes, "body", body_in, body_out)
    nodes = [helper.make_node("Shape", ["indices"], ["n"]),
             helper.make_node("Concat", ["offsets", "n"], ["bounds"], axis=0),
             helper.make_node("Slice", ["bounds", "one", "big"], ["ends"]),
             helper.make_node("Shape", ["ends"], ["m"]), helper.make_node("Gather", ["m", "zero"], ["trip"], axis=0),
             helper.make_node("Loop", loop_in, ["acc_final", "bags"] if carried else ["bags"], body=body),
             helper.make_node("Relu", ["acc_final" if carried else "bags"], ["out"])]
    table = np.random.default_rng(1).standard_normal((20, 4)).astype(np.float32)
    inits = [_const("ax0", [0]), _const("one", [1]), _const("big", [2**62]), _const("zero", 0),
             onnx.numpy_helper.from_array(np.array(True), "true"), onnx.numpy_helper.from_array(table, "table"),
             onnx.numpy_helper.from_array(np.zeros(4, np.float32), "zeros")]
    return _model(nodes, [_tensor("indices", ["num"], TensorProto.INT64), _tensor("offsets", ["batch"], TensorProto.INT64)],
                  [_tensor("out", None)], inits, opset=17)


@pytest.mark.parametrize("reduce", ["ReduceSum", "ReduceMean"])
def test_embedding_bag_loop(reduce):
    """The Loop over bags becomes gather + segment matmul: [batch, 4], no loop."""
    rng = np.random.default_rng(2)
    feeds = [{"indices": rng.integers(0, 20, 7), "offsets": np.array([0, 2, 3, 6])},
             {"indices": rng.integers(0, 20, 12), "offsets": np.array([0, 5])}]
    _run_both(_embedding_bag(reduce), feeds, [lambda v: v["batch"], 4])


def test_other_loop_is_a_typed_error_naming_the_node():
    with pytest.raises(tvm_tensorrt.TensorRTError, match="Loop.*carries values between iterations"):
        tvm_tensorrt.from_onnx(_embedding_bag(carried=True))


@pytest.mark.parametrize("name", ["dinov2", "embeddingbag"])
def test_exports_match_onnxruntime(name):
    """The exports this module made importable (segformer and detr too, but their CPU compile
    takes ~25 s each: checked by bench scripts), at the manifest's two sizes."""
    sys.path.insert(0, str(ROOT / "bench"))
    from exports_triage import make_inputs

    entry = json.loads((EXPORTS / "manifest.json").read_text())[name]
    model = onnx.load(str(EXPORTS / f"{name}.onnx"))
    _run_both(model, [make_inputs(entry, 0), make_inputs(entry, 1)])
