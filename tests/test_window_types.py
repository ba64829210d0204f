"""partition/window_types.py against TVM's own inference: the type it sets instead of TVM's must be
the type TVM gives, for every rank, stride, pad, dilation, group count and ceil mode swept."""

import itertools
import random

import numpy as np
import pytest
import tvm
import tvm_ffi
from tvm import relax
from tvm.ir.prim.expr import Var as PrimVar

from tvm_tensorrt.partition.window_types import window_type, window_typed

R = relax.op


def inferred(call):
    return relax.BlockBuilder().normalize(call).ty


def _var(shape, dtype="float32"):
    return relax.Var("x", relax.TensorType(shape, dtype))


def _left_to_tvm(call) -> bool:
    """An empty or negative output dim: TVM's inference gives it (the model is wrong), so that
    TVM's own checks see it; window_type gives no type."""
    if min(int(d) for d in inferred(call).shape.values) > 0:
        return False
    assert window_type(call) is None
    return True


def _sweep(rank, count, seed):
    rng = random.Random(seed)
    for _ in range(count):
        kernel = [rng.randint(1, 4) for _ in range(rank)]
        sizes = [rng.randint(k, 13) for k in kernel]
        yield dict(sizes=sizes, kernel=kernel, strides=[rng.randint(1, 3) for _ in range(rank)],
                   dilation=[rng.randint(1, 2) for _ in range(rank)],
                   padding=[rng.randint(0, kernel[i % rank] - 1) for i in range(2 * rank)], ceil=rng.random() < 0.6)


def _typed_as_tvm_infers(cases_and_calls) -> int:
    """How many calls window_type typed; each must have TVM's type, or be left to TVM."""
    typed = 0
    for case, call in cases_and_calls:
        if _left_to_tvm(call):
            continue
        expected = inferred(call)
        assert tvm_ffi.structural_equal(window_type(call), expected), (case, window_type(call), expected)
        typed += 1
    return typed


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_types_are_tvms(rank, kind):
    op = getattr(R.nn, f"{kind}_pool{rank}d")
    calls = ((case, op(_var([2, 3, *case["sizes"]]), case["kernel"], case["strides"], case["padding"],
                       case["dilation"], case["ceil"])) for case in _sweep(rank, 120, seed=rank))
    assert _typed_as_tvm_infers(calls) > 100


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_conv_types_are_tvms(rank):
    op = getattr(R.nn, f"conv{rank}d")

    def conv(i, case):
        groups = (1, 2, 4)[i % 3]
        weight = relax.const(np.zeros((4 * groups, 2, *case["kernel"]), "float32"))
        return op(_var([1, 2 * groups, *case["sizes"]]), weight, case["strides"], case["padding"], case["dilation"],
                  groups)

    assert _typed_as_tvm_infers((case, conv(i, case)) for i, case in enumerate(_sweep(rank, 80, seed=10 + rank))) > 60


@pytest.mark.parametrize("dtype,out_dtype", [("float16", None), ("float16", "float32"), ("float32", "float32")])
def test_conv_dtypes_are_tvms(dtype, out_dtype):
    call = R.nn.conv2d(_var([1, 4, 9, 9], dtype), relax.const(np.zeros((8, 4, 3, 3), dtype)), padding=[1, 1],
                       out_dtype=out_dtype)
    assert tvm_ffi.structural_equal(window_type(call), inferred(call))


def test_left_to_tvm():
    """Symbolic dims, other layouts and inconsistent channels: no type, so TVM infers or refuses."""
    batch = PrimVar("batch", "int64")
    weight = relax.const(np.zeros((8, 4, 3, 3), "float32"))
    cases = [
        R.nn.conv2d(relax.Var("x", relax.TensorType([batch, 4, 9, 9], "float32")), weight),
        R.nn.conv2d(_var([1, 9, 9, 4]), relax.const(np.zeros((3, 3, 4, 8), "float32")), data_layout="NHWC",
                    kernel_layout="HWIO"),
        R.nn.conv2d(_var([1, 4, 9, 9]), weight, out_layout="NHWC"),
        R.nn.conv2d(_var([1, 5, 9, 9]), weight),  # 5 channels into a 4-channel weight
        R.nn.conv2d(_var([1, 4, 9, 9], "float16"), weight),  # mixed dtypes
        R.nn.max_pool2d(_var([1, 9, 9, 4]), [3, 3], layout="NHWC"),
        R.add(_var([1, 4]), _var([1, 4])),
    ]
    for call in cases:
        assert window_type(call) is None, call
    with pytest.raises(Exception, match="channel"):
        inferred(cases[3])


def test_typed_call_skips_inference_and_stays_well_formed():
    x = _var([1, 4, 9, 9])
    call = window_typed(R.nn.conv2d(x, relax.const(np.ones((8, 4, 3, 3), "float32")), strides=[2, 2], padding=[1, 1]))
    assert type(call.ty) is relax.TensorType and [int(d) for d in call.ty.shape.values] == [1, 8, 5, 5]
    bb = relax.BlockBuilder()
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(bb.emit(call))
        bb.emit_func_output(out)
    assert relax.analysis.check_well_formed(bb.get())
    assert window_typed(call) is call  # a typed call is left as it is


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_convs_typed_from_onnx_attributes_equal_tvm_s_importer(rank):
    """onnx_ops._typed_conv builds the call TVM's Conv importer builds, typed from the ONNX
    attributes: the same call, attributes and type, with attributes given or left to default."""
    from tvm.relax.frontend.onnx import onnx_frontend

    from tvm_tensorrt.onnx_ops import _typed_conv

    typed = 0
    for i, case in enumerate(_sweep(rank, 60, seed=20 + rank)):
        groups = (1, 2, 3)[i % 3]
        weight = relax.const(np.zeros((2 * groups, 2, *case["kernel"]), "float32"))
        attr = {"strides": tuple(case["strides"]), "pads": tuple(case["padding"]), "dilations": tuple(case["dilation"]),
                "group": groups, "kernel_shape": tuple(case["kernel"])}
        for name in ("strides", "pads", "dilations", "group"):  # ONNX defaults, now and then
            if i % 4 == len(name) % 4:
                attr.pop(name)
        data = _var([1, 2 * (attr.get("group", 1)), *case["sizes"]])
        bb = relax.BlockBuilder()
        ours = _typed_conv(bb, data, weight, dict(attr))
        theirs = bb.normalize(onnx_frontend.Conv._impl_v11(bb, onnx_frontend.onnx_input([data, weight, None]),
                                                           dict(attr), {}))
        if min(int(d) for d in theirs.ty.shape.values) <= 0:
            assert ours is None  # an empty output: TVM's to judge
            continue
        assert tvm_ffi.structural_equal(ours, theirs), (case, attr)
        assert tvm_ffi.structural_equal(ours.ty, theirs.ty)
        typed += 1
    assert typed > 40


def test_convs_the_onnx_attributes_cannot_type_are_left_to_tvm():
    from tvm_tensorrt.onnx_ops import _typed_conv

    weight = relax.const(np.zeros((4, 2, 3, 3), "float32"))
    bb = relax.BlockBuilder()
    assert _typed_conv(bb, _var([1, 2, 8, 8]), weight, {"auto_pad": b"SAME_UPPER"}) is None
    assert _typed_conv(bb, _var([PrimVar("n", "int64"), 2, 8, 8]), weight, {}) is None  # symbolic batch
    assert _typed_conv(bb, _var([1, 3, 8, 8]), weight, {}) is None  # channels that do not match
    assert _typed_conv(bb, _var([1, 2, 8, 8]), weight, {"pads": (1, 1)}) is None  # pads for two of four sides
    assert _typed_conv(bb, _var([1, 2, 8, 8], "float16"), weight, {}) is None  # dtypes that differ
