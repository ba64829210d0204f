"""Folding calls on constants with numpy gives exactly what TVM's FoldConstant gives."""

import numpy as np
import pytest
import tvm
from tvm import relax

from tvm_tensorrt.partition import fold

RNG = np.random.default_rng(0)
F = relax.const(RNG.standard_normal((2, 3, 4)).astype("float32"))
G = relax.const(RNG.standard_normal((2, 3, 4)).astype("float32"))
I = relax.const(RNG.integers(-5, 5, (2, 3)).astype("int64"), "int64")
B = relax.const(RNG.integers(0, 2, (2, 3, 4)).astype("bool"))
BIG = relax.const(RNG.standard_normal((1100, 1000)).astype("float32"))  # > 2**20 elements: banded transpose
ODD = relax.const(RNG.standard_normal((1337, 801)).astype("float32"))  # bands and halves that do not divide it

CALLS = {
    "reshape": lambda: relax.op.reshape(F, (4, 6)),
    "permute_dims": lambda: relax.op.permute_dims(F, [2, 0, 1]),
    "permute_dims reversed": lambda: relax.op.permute_dims(F),
    "permute_dims of a large matrix": lambda: relax.op.permute_dims(BIG),
    "permute_dims of a large odd matrix": lambda: relax.op.permute_dims(ODD, [1, 0]),
    "expand_dims": lambda: relax.op.expand_dims(F, [0, 2]),
    "squeeze": lambda: relax.op.squeeze(relax.op.expand_dims(F, 1)),
    "broadcast_to": lambda: relax.op.broadcast_to(I, (4, 2, 3)),
    "concat": lambda: relax.op.concat([F, G], axis=1),
    "astype int to float": lambda: relax.op.astype(I, "float32"),
    "astype float to half": lambda: relax.op.astype(F, "float16"),
    "where": lambda: relax.op.where(B, F, G),
    "less": lambda: relax.op.less(F, G),
    "greater": lambda: relax.op.greater(F, G),
    "equal ints": lambda: relax.op.equal(I, relax.const(np.int64(1), "int64")),
    "add broadcast": lambda: relax.op.add(F, relax.const(np.float32(0.5))),
    "subtract ints": lambda: relax.op.subtract(I, relax.const(np.array([1, 2, 3], "int64"), "int64")),
    "multiply": lambda: relax.op.multiply(F, G),
    "negative": lambda: relax.op.negative(I),
    "take rows": lambda: relax.op.take(F, relax.const(np.array([[1, 0], [1, 1]], "int64"), "int64"), axis=1),
    "take a scalar index": lambda: relax.op.take(F, relax.const(np.int64(3), "int64"), axis=2),
    "gather_elements": lambda: relax.op.gather_elements(
        F, relax.const(RNG.integers(0, 3, (2, 2, 4)).astype("int64"), "int64"), axis=1),
}


def normalised(make):
    bb = relax.BlockBuilder()
    with bb.function("main", []):
        with bb.dataflow():
            value = make()
            if isinstance(value.args[0], relax.Call):  # an inner call (squeeze's input): fold it first
                value = relax.Call(value.op, [fold._evaluate(bb.normalize(value.args[0]))] + list(value.args[1:]),
                                   value.attrs, value.ty_args)
            call = bb.normalize(value)
            out = bb.emit_output(call)
        bb.emit_func_output(out)
    return call


def tvm_fold(call):
    """The constant TVM's own FoldConstant makes of `call`."""
    bb = relax.BlockBuilder()
    with bb.function("main", []):
        with bb.dataflow():
            out = bb.emit_output(call)
        bb.emit_func_output(out)
    return relax.transform.FoldConstant()(bb.get())["main"].body.body


@pytest.mark.parametrize("name", sorted(CALLS))
def test_numpy_fold_equals_tvm_s(name):
    call = normalised(CALLS[name])
    ours = fold._numpy_fold(call)
    assert ours is not None, f"{name} was not folded with numpy"
    theirs = tvm_fold(call)
    assert str(ours.ty.dtype) == str(theirs.ty.dtype)
    np.testing.assert_array_equal(ours.value.numpy(), theirs.value.numpy())


ANGLES = relax.const(np.concatenate([np.arange(4096, dtype="float32") * np.float32(0.01),
                                      RNG.uniform(-100, 100, 4096).astype("float32")]))


@pytest.mark.parametrize("name", ["sin", "cos", "exp", "log"])
def test_math_functions_fold_correctly_rounded_within_an_ulp_of_tvm(name):
    """Computed in float64 and rounded once: at most half an ulp from the exact value (float64
    stands in for it), and at most one ulp from TVM's own fold, whose LLVM intrinsics may be an
    ulp off."""
    angles = ANGLES.value.numpy()
    values = relax.const({"log": np.abs(angles) + np.float32(1e-3), "exp": angles / np.float32(2)}.get(name, angles))
    call = normalised(lambda: getattr(relax.op, name)(values))
    ours = fold._numpy_fold(call).value.numpy()
    exact = getattr(np, name)(values.value.numpy().astype(np.float64))
    ulp = np.spacing(np.abs(ours)).astype(np.float64)
    assert ours.dtype == np.float32 and np.all(np.abs(ours - exact) <= 0.5 * ulp)
    theirs = tvm_fold(call).value.numpy()
    assert np.all(np.abs(ours.astype(np.float64) - theirs) <= ulp)


def test_float_to_int_casts_stay_with_tvm():
    """Out-of-range and NaN casts differ between numpy and TVM, so TVM folds them."""
    call = normalised(lambda: relax.op.astype(F, "int32"))
    assert fold._numpy_fold(call) is None
    assert isinstance(fold._evaluate(call), tvm.ir.expr.GenericConst)


@pytest.mark.parametrize("index", [-1, 3])
def test_a_take_out_of_range_is_left_to_tvm(index):
    """TVM's modes (fast, clip, wrap) disagree there, and numpy would raise: TVM decides."""
    call = normalised(lambda: relax.op.take(F, relax.const(np.array([0, index], "int64"), "int64"), axis=1))
    assert fold._numpy_fold(call) is None


def test_zero_d_results_stay_zero_d():
    """A folded scalar (a take index, say) must keep shape (): numpy's ascontiguousarray would
    make it (1,), and the op reading it would change shape."""
    call = normalised(lambda: relax.op.reshape(relax.const(np.array([3], "int64"), "int64"), ()))
    folded = fold._numpy_fold(call)
    assert folded.value.numpy().shape == () and int(folded.value.numpy()) == 3


def conv_bn_module(bias: bool, conv_also_returned: bool = False, training: bool = False):
    rng = np.random.default_rng(1)
    const = lambda *shape, low=-1.0: relax.const(rng.uniform(low, 1.0, shape).astype("float32"))
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 4, 8, 8), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = conv = bb.emit(relax.op.nn.conv2d(x, const(6, 4, 3, 3), padding=1))
            if bias:
                y = bb.emit(relax.op.add(conv, const(1, 6, 1, 1)))
            bn = bb.emit(relax.op.nn.batch_norm(y, const(6), const(6), const(6), const(6, low=0.5), axis=1,
                                                epsilon=1e-3, training=training))
            out = relax.Tuple([bb.emit(relax.TupleGetItem(bn, 0)), conv]) if conv_also_returned \
                else relax.TupleGetItem(bn, 0)
            result = bb.emit_output(out)
        bb.emit_func_output(result)
    return bb.get()


def run_on_cpu(mod, x):
    out = relax.VirtualMachine(tvm.compile(mod, target="llvm"), tvm.cpu())["main"](tvm.runtime.tensor(x))
    return [out.numpy()] if hasattr(out, "numpy") else [o.numpy() for o in out]


def op_names(mod) -> list:
    return [b.value.op.name for block in mod["main"].body.blocks for b in block.bindings
            if isinstance(b.value, relax.Call) and isinstance(b.value.op, tvm.ir.Op)]


@pytest.mark.parametrize("bias", [True, False], ids=["conv with bias", "conv without bias"])
def test_batch_norm_folds_into_the_convolution_before_it(bias):
    """onnxslim no longer sees the weights (frontend.py binds them after import), so the fold
    does what its Conv + BatchNormalization fusion did: one conv and one bias add remain."""
    mod = conv_bn_module(bias)
    folded = fold.fold_module(mod)
    assert op_names(folded) == ["relax.nn.conv2d", "relax.add"]
    assert relax.analysis.check_well_formed(folded)
    x = np.random.default_rng(2).standard_normal((1, 4, 8, 8)).astype("float32")
    np.testing.assert_allclose(run_on_cpu(folded, x)[0], run_on_cpu(mod, x)[0], rtol=1e-5, atol=1e-5)


def test_batch_norm_folds_the_same_on_two_threads(monkeypatch):
    """Large models scale their weights on two threads (fold_batch_norm.PARALLEL_MIN_ELEMENTS):
    the folded module is the same, constant for constant, as when scaled on one."""
    import tvm_ffi
    from tvm_tensorrt.partition import fold_batch_norm

    mod = conv_bn_module(bias=True)
    monkeypatch.setattr(fold_batch_norm, "PARALLEL_MIN_ELEMENTS", 0)
    threaded = fold.fold_module(mod)
    monkeypatch.setattr(fold_batch_norm, "PARALLEL_MIN_ELEMENTS", 1 << 62)
    assert tvm_ffi.structural_equal(threaded, fold.fold_module(mod))
    assert op_names(threaded) == ["relax.nn.conv2d", "relax.add"]


@pytest.mark.parametrize("case", ["conv output also returned", "training batch norm"])
def test_batch_norm_stays_when_folding_would_change_another_reader(case):
    mod = conv_bn_module(bias=False, conv_also_returned=case == "conv output also returned",
                         training=case == "training batch norm")
    assert "relax.nn.batch_norm" in op_names(fold.fold_module(mod))


X = relax.Var("x", relax.TensorType((2, 3, 4), "float32"))
SQUARE = relax.Var("x", relax.TensorType((2, 4, 4), "float32"))
MATRIX = relax.Var("x", relax.TensorType((4, 4), "float32"))
VECTOR = relax.Var("x", relax.TensorType((4,), "float32"))
IDENTITIES = {  # (input, call, whether it is the input unchanged)
    "astype to its own dtype": (X, lambda x: relax.op.astype(x, "float32"), True),
    "astype to another dtype": (X, lambda x: relax.op.astype(x, "float16"), False),
    "reshape to its own shape": (X, lambda x: relax.op.reshape(x, (2, 3, 4)), True),
    "broadcast_to its own shape": (X, lambda x: relax.op.broadcast_to(x, (2, 3, 4)), True),
    "broadcast_to a larger shape": (X, lambda x: relax.op.broadcast_to(x, (5, 2, 3, 4)), False),
    "permute_dims in order": (X, lambda x: relax.op.permute_dims(x, [0, 1, 2]), True),
    "transpose of square matrices": (SQUARE, lambda x: relax.op.permute_dims(x, [0, 2, 1]), False),
    "a square matrix's axes reversed (axes=None)": (MATRIX, lambda x: relax.op.permute_dims(x), False),
    "a vector's axes reversed (axes=None)": (VECTOR, lambda x: relax.op.permute_dims(x), True),
    "add zeros": (X, lambda x: relax.op.add(x, relax.const(np.zeros(4, "float32"))), True),
    "zeros add": (X, lambda x: relax.op.add(relax.const(np.zeros((3, 1), "float32")), x), True),
    "add zeros that broadcast x": (X, lambda x: relax.op.add(x, relax.const(np.zeros((5, 1, 1, 1), "float32"))),
                                   False),
    "add a non-zero": (X, lambda x: relax.op.add(x, relax.const(np.float32([0, 0, 0, 1e-30]))), False),
    "multiply by ones": (X, lambda x: relax.op.multiply(relax.const(np.ones(4, "float32")), x), True),
    "subtract zeros": (X, lambda x: relax.op.subtract(x, relax.const(np.float32(0))), True),
    "zeros minus x": (X, lambda x: relax.op.subtract(relax.const(np.zeros(4, "float32")), x), False),
    "divide by ones": (X, lambda x: relax.op.divide(x, relax.const(np.ones(4, "float32"))), True),
    "ones divided by x": (X, lambda x: relax.op.divide(relax.const(np.ones(4, "float32")), x), False),
}


def _function_of(param, make_calls):
    """main(param) returning exp(calls(exp(param))): the calls sit between two real ops."""
    bb = relax.BlockBuilder()
    with bb.function("main", [param]):
        with bb.dataflow():
            value = bb.emit(relax.op.exp(param))
            for make in make_calls:
                value = bb.emit(make(value))
            out = bb.emit_output(relax.op.exp(value))
        bb.emit_func_output(out)
    return bb.get()


@pytest.mark.parametrize("name", sorted(IDENTITIES))
def test_calls_that_return_their_input_unchanged_are_removed(name):
    param, make, identity = IDENTITIES[name]
    mod = _function_of(param, [make])
    folded = fold.fold_module(mod)
    assert relax.analysis.check_well_formed(folded)
    assert len(op_names(folded)) == (2 if identity else 3), folded.script()
    x = np.random.default_rng(3).standard_normal([int(d) for d in param.ty.shape.values]).astype("float32")
    np.testing.assert_array_equal(run_on_cpu(folded, x)[0], run_on_cpu(mod, x)[0])


def test_an_onnx_transpose_without_perm_of_a_square_tensor_computes_the_transpose():
    """ONNX's Transpose reverses the axes when it has no perm; TVM imports it as axes=None. On a
    square tensor that keeps the shape, and it was once removed as an identity."""
    from onnx import TensorProto, helper

    import tvm_tensorrt
    from model_utils import onnxruntime_output

    graph = helper.make_graph([helper.make_node("Transpose", ["x"], ["t"]), helper.make_node("Relu", ["t"], ["y"])],
                              "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(*tvm_tensorrt.from_onnx(model))
    vm = relax.VirtualMachine(tvm_tensorrt.build(partitioned, target="llvm", config=config), tvm.cpu())
    x = np.arange(16, dtype="float32").reshape(4, 4) - 8
    np.testing.assert_array_equal(vm["main"](tvm.runtime.tensor(x)).numpy(), onnxruntime_output(model, "x", x))


def test_a_reshape_of_a_reshape_is_one_reshape():
    mod = _function_of(X, [lambda x: relax.op.reshape(x, (6, 4)), lambda x: relax.op.reshape(x, (4, 6))])
    folded = fold.fold_module(mod)
    assert op_names(folded) == ["relax.exp", "relax.reshape", "relax.exp"]
    x = np.random.default_rng(4).standard_normal((2, 3, 4)).astype("float32")
    np.testing.assert_array_equal(run_on_cpu(folded, x)[0], run_on_cpu(mod, x)[0])


def test_an_identity_whose_result_leaves_the_block_is_kept_apart_from_block_locals():
    """A block's output var may not become a var local to the block: that identity stays."""
    bb = relax.BlockBuilder()
    with bb.function("main", [X]):
        with bb.dataflow():
            inner = bb.emit(relax.op.exp(X))
            out = bb.emit_output(relax.op.astype(inner, "float32"))
        bb.emit_func_output(out)
    folded = fold.fold_module(bb.get())
    assert relax.analysis.check_well_formed(folded)
    assert op_names(folded) == ["relax.exp", "relax.astype"]


def test_a_folded_weight_becomes_a_constant_without_a_copy():
    from tvm_tensorrt.partition.checks import constant_array, owned_array_constant
    from tvm_tensorrt.shared_tensors import aligned_empty

    array = aligned_empty((64, 3, 3, 3), "float32")
    array[...] = 1.5
    constant = owned_array_constant(array)
    assert np.shares_memory(constant_array(constant), array)
    unaligned = np.ones(1000, "float32")[1:]  # 4 bytes past an allocation: TVM needs 64
    np.testing.assert_array_equal(constant_array(owned_array_constant(unaligned)), unaligned)


def test_a_large_folded_transpose_is_shared_not_copied_again(monkeypatch):
    """_transpose writes into aligned memory, which the folded constant shares (VGG-19's fc6 is
    400 MB: a second copy cost 0.4 s)."""
    from tvm_tensorrt.partition.checks import constant_array
    from tvm_tensorrt.shared_tensors import aligned_empty

    made = []
    monkeypatch.setattr(fold, "aligned_empty", lambda *a: made.append(aligned_empty(*a)) or made[-1])
    folded = constant_array(fold._numpy_fold(normalised(lambda: relax.op.permute_dims(ODD))))
    assert len(made) == 1 and np.shares_memory(folded, made[0])
    np.testing.assert_array_equal(folded, constant_array(ODD).T)


def test_weight_standardisation_folds_to_a_constant_kernel():
    """NFNet / BiT: a training-mode batch norm of the weight (all constants) feeds the conv.
    Folded, the conv reads a constant kernel and goes to TensorRT; the numbers are TVM's."""
    import tvm_tensorrt
    from op_samples import main_ops, run_tvm

    rng = np.random.default_rng(3)
    weight = relax.const(rng.standard_normal((1, 4, 27)).astype("float32"))
    gamma, beta = relax.const(np.ones(4, "float32")), relax.const(np.zeros(4, "float32"))
    stats = relax.const(np.zeros(4, "float32")), relax.const(np.ones(4, "float32"))
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 3, 6, 6), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            bn = bb.emit(relax.op.nn.batch_norm(weight, gamma, beta, *stats, axis=1, epsilon=1e-5, training=True))
            kernel = bb.emit(relax.op.reshape(relax.TupleGetItem(bn, 0), (4, 3, 3, 3)))
            out = bb.emit_output(relax.op.nn.conv2d(x, kernel, padding=1))
        bb.emit_func_output(out)
    mod = bb.get()
    partitioned, _ = tvm_tensorrt.partition_for_tensorrt(mod)
    assert main_ops(partitioned) == []  # nothing left in TVM: the batch norm folded, the conv offloaded
    value = rng.standard_normal((1, 3, 6, 6)).astype("float32")
    np.testing.assert_allclose(run_tvm(partitioned, [value])[0], run_tvm(mod, [value])[0], rtol=1e-5, atol=1e-5)
