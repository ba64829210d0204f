"""ONNX import: ops TVM's importer writes as opaque TIR reach Relax as operators rules can see."""

import os

import numpy as np
import pytest
import tvm
import onnx
from onnx import TensorProto, helper, numpy_helper
from tvm import relax

import tvm_tensorrt
from tvm_tensorrt.errors import TensorRTError
from op_samples import main_ops
from model_utils import onnxruntime_output

MODELS_DIR = os.path.join(os.path.dirname(__file__), "models")


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
    # a lone pad only moves data, which stays in TVM by default: its rule is what is checked here
    assert all(d.offloaded for d in tvm_tensorrt.explain(mod, params, remove_no_compute_subgraphs=False).decisions)


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


def conv_bn_gemm_model():
    """Conv (bias) -> BatchNormalization -> Relu -> Flatten -> Gemm(transB), with weights large
    enough to be lifted and a small int64 shape initializer that must stay."""
    rng = np.random.default_rng(0)
    array = lambda name, *shape: numpy_helper.from_array(rng.uniform(-1, 1, shape).astype(np.float32), name)
    inits = [array("w", 16, 8, 3, 3), array("b", 16), array("gamma", 16), array("beta", 16), array("mean", 16),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, 16).astype(np.float32), "var"),
             array("fc", 10, 16 * 6 * 6), numpy_helper.from_array(np.array([1, -1], np.int64), "flat_shape")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"]),
             helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["n"], epsilon=1e-3),
             helper.make_node("Relu", ["n"], ["r"]),
             helper.make_node("Reshape", ["r", "flat_shape"], ["f"]),
             helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_large_weights_skip_onnxslim_and_the_importer_and_come_back_as_constants():
    from tvm_tensorrt.onnx_weights import LIFTED_PREFIX, split_weights

    model = conv_bn_gemm_model()
    before = model.SerializeToString()
    light, weights = split_weights(model)
    assert model.SerializeToString() == before  # the caller's model is not edited
    assert sorted(init.name for init in weights.values()) == ["fc", "w"]  # >= 1024 floats; not shapes, not BN
    assert {i.name for i in light.graph.initializer} == {"b", "gamma", "beta", "mean", "var", "flat_shape"}
    assert all(name.startswith(LIFTED_PREFIX) for name in weights)

    mod, params = tvm_tensorrt.from_onnx(model)
    assert params == {} and [p.name for p in mod["main"].params] == ["x"]  # the weights are constants again
    assert relax.analysis.check_well_formed(mod)  # each call kept its type, the constants have the params'
    from tvm_tensorrt.partition.checks import is_constant

    constants = [a for block in mod["main"].body.blocks for b in block.bindings if isinstance(b.value, relax.Call)
                 for a in b.value.args if is_constant(a)]
    assert {tuple(c.value.shape) for c in constants} >= {(16, 8, 3, 3), (10, 16 * 6 * 6)}
    x = np.random.default_rng(1).standard_normal((1, 8, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(run_relax(mod, x), onnxruntime_output(model, "x", x), rtol=1e-5, atol=1e-5)
    partitioned, _ = tvm_tensorrt.partition_for_tensorrt(mod, params)
    [offloaded] = [f for f in partitioned.functions.values() if f.attrs and "Codegen" in f.attrs]
    ops = [b.value.op.name for block in offloaded.body.blocks for b in block.bindings if isinstance(b.value, relax.Call)]
    assert "relax.nn.batch_norm" not in ops and ops.count("relax.nn.conv2d") == 1  # folded, as onnxslim would
    np.testing.assert_allclose(run_relax(partitioned, x), onnxruntime_output(model, "x", x), rtol=1e-4, atol=1e-4)


def test_initializers_no_node_reads_are_not_imported():
    """Exports carry unused initializers (ResNet-50's light model: 240 shapes); TVM's importer made
    a tensor of each. Left out, also where IR 3 lists them as graph inputs, which must not turn
    into parameters of main."""
    from tvm_tensorrt.onnx_weights import split_weights

    model = conv_bn_gemm_model()
    model.ir_version = 3
    unused = [numpy_helper.from_array(np.arange(4, dtype=np.int64), "unused_shape"),
              numpy_helper.from_array(np.ones((64, 64), np.float32), "unused_weight")]
    model.graph.initializer.extend(unused)
    model.graph.input.extend(helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in unused)
    light, weights = split_weights(model)
    names = {i.name for i in light.graph.initializer} | {i.name for i in light.graph.input} | set(weights)
    assert not names & {"unused_shape", "unused_weight"} and "flat_shape" in names
    mod, _ = tvm_tensorrt.from_onnx(model)
    assert [p.name for p in mod["main"].params] == ["x"]
    x = np.random.default_rng(2).standard_normal((1, 8, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(run_relax(mod, x), onnxruntime_output(model, "x", x), rtol=1e-5, atol=1e-5)


def test_models_with_subgraph_attributes_keep_their_weights_inline():
    from tvm_tensorrt.onnx_weights import split_weights

    model = conv_bn_gemm_model()
    branch = helper.make_graph([helper.make_node("Identity", ["w"], ["w_out"])], "branch", [],
                               [helper.make_tensor_value_info("w_out", TensorProto.FLOAT, None)])
    model.graph.node.append(helper.make_node("If", ["cond"], ["unused"], then_branch=branch, else_branch=branch))
    light, weights = split_weights(model)
    assert weights == {} and light.SerializeToString() == model.SerializeToString() and light is not model


def test_a_newer_opset_than_onnx_knows_is_a_clear_error():
    import onnx

    model = one_node_model(helper.make_node("Relu", ["x"], ["y"]), [2], opset=onnx.defs.onnx_opset_version() + 5)
    with pytest.raises(tvm_tensorrt.TensorRTError, match=r"uses ONNX opset \d+; the installed onnx knows opsets up to"):
        tvm_tensorrt.from_onnx(model)


def test_an_empty_model_is_not_an_onnx_model(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(tvm_tensorrt.TensorRTError, match="is not an ONNX model"):
        tvm_tensorrt.from_onnx(str(path))


def test_a_model_with_external_weights_is_read_with_them(tmp_path):
    """Binary models are parsed from the mapped file (frontend._read_model); weights kept in a
    file beside the model still come with it, as onnx.load brings them."""
    model = conv_bn_gemm_model()
    path = tmp_path / "external.onnx"
    onnx.save(conv_bn_gemm_model(), str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin",
              size_threshold=0)
    assert (tmp_path / "weights.bin").stat().st_size > 4 * 16 * 8 * 3 * 3
    from tvm_tensorrt.frontend import load_onnx

    assert load_onnx(str(path)) == onnx.load(str(path))
    mod, _ = tvm_tensorrt.from_onnx(str(path))
    x = np.random.default_rng(3).standard_normal((1, 8, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(run_relax(mod, x), onnxruntime_output(model, "x", x), rtol=1e-5, atol=1e-5)
    (tmp_path / "weights.bin").unlink()
    with pytest.raises(tvm_tensorrt.TensorRTError, match="is not a readable ONNX model"):
        tvm_tensorrt.from_onnx(str(path))


def test_a_cut_off_model_file_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.onnx"
    path.write_bytes(conv_bn_gemm_model().SerializeToString()[:700])
    with pytest.raises(tvm_tensorrt.TensorRTError, match="is the file complete"):
        tvm_tensorrt.from_onnx(str(path))


def test_a_model_whose_shapes_cannot_be_inferred_stays_in_tvm_saying_how_to_give_them():
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    mod, params = tvm_tensorrt.from_onnx(model)
    [decision] = tvm_tensorrt.explain(mod, params).decisions
    assert not decision.offloaded and "has an unknown shape" in decision.reason
    assert "shape_dict" in decision.reason and "--shape" in decision.reason
    mod, params = tvm_tensorrt.from_onnx(model, shape_dict={"x": [2, 3]})  # given: offloaded
    assert tvm_tensorrt.explain(mod, params).decisions[0].offloaded


def _relu_model(extra_nodes=(), dims=(1, 4)):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(dims))
    nodes = [helper.make_node("Relu", ["x"], ["y"]), *extra_nodes]
    return helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)],
                             ir_version=8)


@pytest.fixture
def slim_calls(monkeypatch):
    """Every model onnxslim is asked to simplify (the real onnxslim runs)."""
    import onnxslim

    calls, real = [], onnxslim.slim

    def counted(model, *args, **kwargs):
        calls.append(model)
        return real(model, *args, **kwargs)

    monkeypatch.setattr(onnxslim, "slim", counted)
    return calls


def test_onnxslim_runs_only_where_shapes_stay_symbolic(slim_calls):
    """A CNN-like model imports as it is; shape arithmetic on static shapes is folded by us
    (onnx_fold.py), and only where a shape stays symbolic (TVM's importer fails on much of that
    until onnxslim folds it) does onnxslim run; simplify= forces either way."""
    from tvm_tensorrt import from_onnx

    def reshaped_by_its_own_shape(dims):
        return _relu_model([helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Reshape", ["y", "s"], ["z"])],
                           dims)

    from_onnx(_relu_model())
    from_onnx(reshaped_by_its_own_shape([1, 4]))
    from_onnx(reshaped_by_its_own_shape(["n", 4]), shape_dict={"x": [2, 4]})  # the given shape is static
    assert slim_calls == []
    from_onnx(reshaped_by_its_own_shape(["n", 4]))
    assert len(slim_calls) == 1
    from_onnx(_relu_model(), simplify=True)
    assert len(slim_calls) == 2
    from_onnx(reshaped_by_its_own_shape(["n", 4]), simplify=False)
    assert len(slim_calls) == 2


def test_a_model_tvm_cannot_import_as_it_is_goes_through_onnxslim(slim_calls, capsys):
    """A dead node of an op TVM's importer lacks (Det): as it is, the import fails; onnxslim
    removes the dead node, and the import succeeds, with nothing printed by the failed try."""
    from tvm_tensorrt import from_onnx

    model = _relu_model([helper.make_node("Det", ["x"], ["unused"])])
    with pytest.raises(TensorRTError, match="TVM.s ONNX importer has no converter for Det"):
        from_onnx(model, simplify=False)
    capsys.readouterr()
    mod, _ = from_onnx(model)
    assert len(slim_calls) == 1 and "R.nn.relu(x)" in mod.script()
    assert "Error converting operator" not in capsys.readouterr().out


def test_dropout_is_imported_as_its_input():
    from tvm_tensorrt import explain

    model = _relu_model()
    model.graph.node[0].output[0] = "r"
    model.graph.node.append(helper.make_node("Dropout", ["r"], ["y"], ratio=0.3))
    ops = [d.op for d in explain(tvm_tensorrt.from_onnx(model, simplify=False)[0]).decisions]
    assert ops == ["relax.nn.relu"]


@pytest.mark.parametrize("simplify", [False, True])
def test_an_if_s_branches_are_not_bound_outside_it(simplify):
    """The importer binds each node's result under the node's name, but not inside an If's
    branches: bound in the outer block, both branches would run, and the names would leak."""
    import onnxruntime as ort

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])

    def branch(op, name):
        out = helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, [2, 3])
        return helper.make_graph([helper.make_node(op, ["r"], [f"{name}_out"], name=f"{name}_node")], name, [], [out])

    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("If", ["cond"], ["y"], name="choose", then_branch=branch("Neg", "then"),
                              else_branch=branch("Exp", "else"))]
    model = helper.make_model(helper.make_graph(nodes, "g", [x, cond], [y]),
                              opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    mod, _ = tvm_tensorrt.from_onnx(model, simplify=simplify)
    outer = [b.var.name for block in mod["main"].body.blocks for b in block.bindings]
    assert "relu" in outer and not {"then_node", "else_node"} & set(outer)
    vm = relax.VirtualMachine(tvm.compile(mod, target="llvm"), tvm.cpu())
    data = np.random.default_rng(0).standard_normal((2, 3)).astype("float32")
    session = ort.InferenceSession(model.SerializeToString())
    for flag in (True, False):
        expected = session.run(None, {"x": data, "cond": np.array(flag)})[0]
        got = vm["main"](tvm.runtime.tensor(data), tvm.runtime.tensor(np.array(flag))).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_a_failing_shape_fold_is_logged_and_the_model_imported_as_it_is(monkeypatch, caplog):
    """The fold is an optimisation, like onnxslim: if it raises, the import goes on without it."""
    from tvm_tensorrt import frontend

    def broken(model, shape_dict=None):
        raise ValueError("an operator the fold misread")

    monkeypatch.setattr(frontend, "fold_shape_arithmetic", broken)
    with caplog.at_level("WARNING", logger="tvm_tensorrt"):  # a Shape node: something to fold
        mod, _ = tvm_tensorrt.from_onnx(_relu_model([helper.make_node("Shape", ["x"], ["s"])]))
    assert "R.nn.relu(x)" in mod.script()
    assert "folding the model's shape arithmetic failed (ValueError: an operator the fold misread)" in caplog.text


@pytest.mark.parametrize("batch", [2, "n"], ids=["static", "symbolic batch"])
def test_variadic_sum_and_max_import_as_pairwise_ops(batch):
    """TVM imports Sum/Max as broadcast_to + stack + reduce over a new axis 0 (which reads the
    batch axis); canonicalize makes them pairwise add/maximum, with onnxruntime's values."""
    import onnxruntime as ort

    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [batch, 3, 4])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 4])
    c = helper.make_tensor_value_info("c", TensorProto.FLOAT, [batch, 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3, 4])
    nodes = [helper.make_node("Sum", ["a", "b", "c"], ["s"]), helper.make_node("Max", ["s", "b"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, "g", [a, b, c], [y]),
                              opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    mod, _ = tvm_tensorrt.from_onnx(model)
    ops = [b.value.op.name for block in mod["main"].body.blocks for b in block.bindings
           if isinstance(b.value, relax.Call)]
    assert ops == ["relax.add", "relax.add", "relax.maximum"], ops
    rng = np.random.default_rng(5)
    feeds = {"a": rng.standard_normal((2, 3, 4)).astype("float32"), "b": rng.standard_normal((1, 4)).astype("float32"),
             "c": rng.standard_normal((2, 3, 4)).astype("float32")}
    vm = relax.VirtualMachine(tvm.compile(mod, target="llvm"), tvm.cpu())
    got = vm["main"](*[tvm.runtime.tensor(feeds[k]) for k in "abc"]).numpy()
    np.testing.assert_allclose(got, ort.InferenceSession(model.SerializeToString()).run(None, feeds)[0], rtol=1e-6)


@pytest.mark.parametrize("name", ["default", "deeplabv3", "light_squeezenet", "light_shufflenet", "light_inception_v1",
                                  "light_inception_v2", "light_densenet121"])
def test_convolutions_and_pools_typed_from_attributes_import_as_tvm_infers_them(name, monkeypatch):
    """onnx_ops types convolutions and pools itself (window_types.py) instead of by TVM's inference:
    the modules must be the same, types included (Inception's pools round up, DenseNet's average)."""
    import tvm_ffi
    from model_utils import LIGHT_DIR
    from tvm_tensorrt import onnx_ops
    from tvm_tensorrt.models import DEFAULT_MODEL

    path = {"default": DEFAULT_MODEL, "deeplabv3": os.path.join(MODELS_DIR, "deeplabv3.onnx")}.get(
        name, os.path.join(LIGHT_DIR, f"{name}.onnx"))
    typed_here = []
    window_typed, typed_conv = onnx_ops.window_typed, onnx_ops._typed_conv

    def counted(expr):
        typed_expr = window_typed(expr)
        if isinstance(expr, relax.Call) and type(expr.ty) is relax.TensorType:
            typed_here.append(expr.op.name)
        return typed_expr

    def counted_conv(*args):
        conv = typed_conv(*args)
        if conv is not None:
            typed_here.append("conv (from the ONNX attributes)")
        return conv

    monkeypatch.setattr(onnx_ops, "window_typed", counted)
    monkeypatch.setattr(onnx_ops, "_typed_conv", counted_conv)
    typed, _ = tvm_tensorrt.from_onnx(path)
    monkeypatch.setattr(onnx_ops, "window_typed", lambda expr: expr)
    monkeypatch.setattr(onnx_ops, "_typed_conv", lambda *args: None)  # TVM's importer, TVM's inference
    inferred, _ = tvm_tensorrt.from_onnx(path)
    assert "conv (from the ONNX attributes)" in typed_here
    assert tvm_ffi.structural_equal(typed, inferred)


def test_a_constant_conv_bias_is_added_as_the_constant_it_folds_to():
    """TVM's Conv importer reshapes the bias to [1, C, 1, 1] with a call the partitioner folds
    again; ours adds the reshaped constant. Same values as onnxruntime's."""
    model = conv_bn_gemm_model()
    mod, _ = tvm_tensorrt.from_onnx(model)
    calls = [b.value for block in mod["main"].body.blocks for b in block.bindings if isinstance(b.value, relax.Call)]
    conv_index = next(i for i, c in enumerate(calls) if c.op.name == "relax.nn.conv2d")
    bias_add = calls[conv_index + 1]
    assert bias_add.op.name == "relax.add" and tuple(bias_add.args[1].value.shape) == (1, 16, 1, 1)
    assert all(c.op.name != "relax.reshape" for c in calls[:conv_index + 2])
    x = np.random.default_rng(4).standard_normal((1, 8, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(run_relax(mod, x), onnxruntime_output(model, "x", x), rtol=1e-5, atol=1e-5)


def test_an_op_tvm_has_no_converter_for_is_a_typed_error_naming_the_node():
    from tvm_tensorrt.errors import ModelImportError

    model = one_node_model(helper.make_node("Det", ["x"], ["y"], name="my_det"), [2, 2])
    with pytest.raises(ModelImportError) as info:
        tvm_tensorrt.from_onnx(model)
    message = str(info.value)
    assert "Det (node 'my_det')" in message and "\n" not in message


def test_a_node_tvm_s_importer_fails_on_is_named_with_its_op_and_tvm_s_reason(capsys):
    from tvm_tensorrt.errors import ModelImportError

    axes = numpy_helper.from_array(np.array([0], np.int64), "axes")
    model = one_node_model(helper.make_node("Squeeze", ["x", "axes"], ["y"], name="my_squeeze"), ["n", 3], [axes])
    with pytest.raises(ModelImportError) as info:
        tvm_tensorrt.from_onnx(model)
    message = str(info.value)
    assert message.startswith("ONNX node 'my_squeeze' (Squeeze): ") and "symbolic extent" in message
    assert "Traceback" not in message and "\n" not in message
    assert "Error converting operator" not in capsys.readouterr().out  # TVM's print stays out of ours
