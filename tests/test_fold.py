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

CALLS = {
    "reshape": lambda: relax.op.reshape(F, (4, 6)),
    "permute_dims": lambda: relax.op.permute_dims(F, [2, 0, 1]),
    "permute_dims reversed": lambda: relax.op.permute_dims(F),
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


@pytest.mark.parametrize("name", sorted(CALLS))
def test_numpy_fold_equals_tvm_s(name):
    call = normalised(CALLS[name])
    ours = fold._numpy_fold(call)
    assert ours is not None, f"{name} was not folded with numpy"
    bb = relax.BlockBuilder()
    with bb.function("main", []):
        with bb.dataflow():
            out = bb.emit_output(call)
        bb.emit_func_output(out)
    theirs = relax.transform.FoldConstant()(bb.get())["main"].body.body
    assert str(ours.ty.dtype) == str(theirs.ty.dtype)
    np.testing.assert_array_equal(ours.value.numpy(), theirs.value.numpy())


def test_float_to_int_casts_stay_with_tvm():
    """Out-of-range and NaN casts differ between numpy and TVM, so TVM folds them."""
    call = normalised(lambda: relax.op.astype(F, "int32"))
    assert fold._numpy_fold(call) is None
    assert isinstance(fold._evaluate(call), tvm.ir.expr.GenericConst)


def test_zero_d_results_stay_zero_d():
    """A folded scalar (a take index, say) must keep shape (): numpy's ascontiguousarray would
    make it (1,), and the op reading it would change shape."""
    call = normalised(lambda: relax.op.reshape(relax.const(np.array([3], "int64"), "int64"), ()))
    folded = fold._numpy_fold(call)
    assert folded.value.numpy().shape == () and int(folded.value.numpy()) == 3
