"""Sizes as data on symbolic shapes: shape arithmetic folds to the model's own size variables,
and shape_to_tensor / arange go to TensorRT, computed from the engine's input shapes."""

import numpy as np
import pytest
import tvm
from tvm import relax
from tvm.ir.prim.expr import Var as SizeVar

import tvm_tensorrt
from tvm_tensorrt.partition.api import prepare_module
from tvm_tensorrt.backend import load_backend
from tvm_tensorrt.lowering.dispatch import offloaded_functions
from tvm_tensorrt.runtime.plan_builder import build_network, build_plan
from tvm_tensorrt.lowering.serialize import subgraph_of
from tvm_tensorrt.verification import evaluate_network
from op_samples import SIZE_SAMPLES, main_ops, offloaded_ops, single_op_module

EXPLICIT = {"use_implicit_batch": False}


def size_module(op_name):
    make, shapes, dtype = SIZE_SAMPLES[op_name]
    return single_op_module(make, *shapes, dtype=dtype)


@pytest.mark.parametrize("op_name", sorted(SIZE_SAMPLES))
def test_size_op_is_offloaded_built_over_a_profile_and_exact(op_name):
    mod = size_module(op_name)
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, dim_ranges={"n": (1, 3, 8)}, **EXPLICIT)
    assert list(offloaded_ops(partitioned)) == ["tensorrt_0"] and not main_ops(partitioned)
    assert f"relax.{op_name}" in offloaded_ops(partitioned)["tensorrt_0"]
    [func] = offloaded_functions(partitioned).values()
    subgraph = subgraph_of(func, "tensorrt_0", config)
    assert build_plan(subgraph, 1 << 26, ranges=(("n", 1, 3, 8),))
    backend = load_backend()
    _, built, _ = build_network(subgraph, backend)
    vm = relax.VirtualMachine(tvm.compile(mod, target="llvm"), tvm.cpu())
    for n in (1, 5):
        shapes = [[n if not isinstance(d, int) else d for d in s] for s in SIZE_SAMPLES[op_name][1]]
        inputs = [np.arange(int(np.prod(s)), dtype=SIZE_SAMPLES[op_name][2]).reshape(s) for s in shapes]
        expected = vm["main"](*[tvm.runtime.tensor(a) for a in inputs]).numpy()
        got = evaluate_network(built.network, backend.trt, {d["name"]: a for d, a in zip(subgraph.inputs, inputs)})
        np.testing.assert_array_equal(got[subgraph.outputs[0]["name"]], expected)


def arange_by_a_roundabout_length(x):
    """What exporters write for arange(0, seq): the length computed as data, then cast to a
    fresh size variable."""
    bb = relax.BlockBuilder.current()
    n = x.ty.shape.values[1]
    length = bb.emit(relax.op.shape_to_tensor(relax.ShapeExpr([n])))
    length = bb.emit(relax.op.negative(relax.op.floor_divide(relax.op.subtract(relax.const(0, "int64"), length),
                                                             relax.const(1, "int64"))))
    length = bb.emit(relax.op.maximum(length, relax.const(0, "int64")))
    shape = bb.emit(relax.op.tensor_to_shape(length))
    fresh = SizeVar("range_len", "int64")
    shape = bb.match_cast(shape, relax.ShapeType([fresh]))
    return relax.op.arange(0, fresh, 1, dtype="int64")


def test_shape_arithmetic_on_symbolic_sizes_folds_to_the_model_s_size_variable():
    seq = SizeVar("seq", "int64")
    mod = single_op_module(lambda x: relax.op.add(x, arange_by_a_roundabout_length(x)), (1, seq), dtype="int64")
    prepared = prepare_module(mod, None)
    assert main_ops(prepared) == ["relax.arange", "relax.add"]
    text = prepared["main"].script()
    assert "range_len" not in text and "R.arange(0, seq, 1" in text
    x = np.arange(6, dtype="int64").reshape(1, 6) * 10
    vm = relax.VirtualMachine(tvm.compile(prepared, target="llvm"), tvm.cpu())
    np.testing.assert_array_equal(vm["main"](tvm.runtime.tensor(x)).numpy(), x + np.arange(6))
    assert all(d.offloaded for d in tvm_tensorrt.explain(mod, **EXPLICIT).decisions)
