"""Implicit batch mode keeps in TVM everything that reads, moves or changes the batch dimension
(axis 0); explicit batch mode offloads it. For each limit: the op stays in TVM (with a reason
naming the batch dimension) in implicit mode, and in explicit mode it is offloaded and the built
module computes what plain TVM computes.

The original limits bind exactly for targets below TensorRT 10 (OLD_TARGET here). TensorRT 10 has
no implicit batch: there they bind only where the batch dimension is symbolic."""

import numpy as np
import pytest
from tvm import relax

import tvm_tensorrt
from tvm.ir.prim.expr import Var as SizeVar

from op_samples import const, main_ops, offloaded_ops, random_inputs, run_tvm, single_op_module

OLD_TARGET = (8, 6, 1)  # a TensorRT with implicit-batch networks

# (id, make, input shapes, op kept in implicit mode, text in its reason, tuple field or None)
LIMITS = [
    ("softmax over axis 0", lambda x: relax.op.nn.softmax(x, axis=0), [(3, 4)], "nn.softmax", "axis 0", None),
    ("sum over axis 0", lambda x: relax.op.sum(x, axis=[0]), [(3, 4)], "sum", "axis 0", None),
    ("prod over every axis", lambda x: relax.op.prod(x, keepdims=True), [(2, 3)], "prod", "axis 0", None),
    ("max over axes 0 and 1", lambda x: relax.op.max(x, axis=[0, 1], keepdims=True), [(3, 4, 2)], "max", "axis 0",
     None),
    ("min over a negative axis naming 0", lambda x: relax.op.min(x, axis=[-2]), [(3, 4)], "min", "axis 0", None),
    ("mean to a scalar", lambda x: relax.op.mean(x), [(3, 4)], "mean", "axis 0", None),
    ("concat over axis 0", lambda x, y: relax.op.concat([x, y], axis=0), [(2, 3), (1, 3)], "concat", "axis 0", None),
    ("concat of a constant", lambda x: relax.op.concat([x, const(2, 2)], axis=1), [(2, 3)], "concat",
     "fix the batch size", None),
    ("split over axis 0", lambda x: relax.op.split(x, 2, axis=0), [(4, 3)], "split", "axis 0", 1),
    ("expand_dims at axis 0", lambda x: relax.op.expand_dims(x, 0), [(2, 3)], "expand_dims", "axis 0", None),
    ("squeeze axis 0", lambda x: relax.op.squeeze(x, [0]), [(1, 3)], "squeeze", "axis 0", None),
    ("squeeze without axis, batch 1", lambda x: relax.op.squeeze(x), [(1, 3, 1)], "squeeze", "axis 0", None),
    ("transpose moving axis 0", lambda x: relax.op.permute_dims(x, [1, 0, 2]), [(2, 3, 4)], "permute_dims",
     "moves axis 0", None),
    ("layout_transform moving axis 0", lambda x: relax.op.layout_transform(x, lambda a, b: (b, a)), [(2, 3)],
     "layout_transform", "moves axis 0", None),
    ("reshape changing the batch", lambda x: relax.op.reshape(x, (3, 4)), [(2, 6)], "reshape",
     "input 0 has dim 0 = 2 but the output has 3", None),
    ("reshape to a scalar", lambda x: relax.op.reshape(x, ()), [(1,)], "reshape", "output is a scalar", None),
    ("flatten of a batch", lambda x: relax.op.flatten(x), [(2, 3)], "flatten", "dim 0 = 2 but the output has 6",
     None),
    ("strided_slice of axis 0", lambda x: relax.op.strided_slice(x, [0], [1], [3]), [(4, 5)], "strided_slice",
     "cuts axis 0", None),
    ("pad of axis 0", lambda x: relax.op.nn.pad(x, [1, 0, 0, 2], "constant", -1.0), [(2, 3)], "nn.pad",
     "pad axis 0", None),
    ("scalar input", lambda x: relax.op.nn.relu(x), [()], "nn.relu", "input 0 is a scalar", None),
    ("inputs with different batch sizes", lambda x, y: relax.op.add(x, y), [(1, 3), (4, 3)], "add",
     "input 0 has dim 0 = 1 but the output has 4", None),
    ("broadcasting a lower-rank input", lambda x, y: relax.op.add(x, y), [(3, 3), (3,)], "add",
     "rank 1 < 2", None),
    ("constant spanning the batch", lambda x: relax.op.multiply(x, const(2, 3)), [(2, 3)], "multiply",
     "spans the batch dimension", None),
    ("matmul with a computed matrix rhs", lambda x, y: relax.op.matmul(x, y), [(2, 3), (3, 4)], "matmul",
     "input 1's dim 0 is contracted", None),
    ("matmul broadcasting the rhs over the batch", lambda x, y: relax.op.matmul(x, y), [(2, 1, 3, 4), (3, 4, 2)],
     "matmul", "becomes output axis 1", None),
    ("matmul of a vector lhs", lambda x: relax.op.matmul(x, const(3, 4)), [(3,)], "matmul",
     "input 0's dim 0 is contracted", None),
    ("matmul with a constant batch", lambda x: relax.op.matmul(x, const(2, 4, 5)), [(2, 3, 4)], "matmul",
     "spans the batch dimension", None),
    ("batch_norm over axis 0", lambda x: relax.op.nn.batch_norm(
        x, const(3, positive=True), const(3), const(3), const(3, positive=True), axis=0, training=False), [(3, 4)],
     "nn.batch_norm", "axis 0", 0),
    ("layer_norm over axis 0", lambda x: relax.op.nn.layer_norm(x, const(3, 4), const(3, 4), axes=[0, 1]), [(3, 4)],
     "nn.layer_norm", "axis 0", None),
]


def assert_same_numbers(mod, partitioned, config):
    inputs = random_inputs(mod, seed=2)
    expected = run_tvm(mod, inputs)
    got = run_tvm(tvm_tensorrt.build(partitioned, target="llvm", config=config), inputs)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", LIMITS, ids=[c[0] for c in LIMITS])
def test_batch_limit(case):
    _, make, shapes, op, reason, field = case
    mod = single_op_module(make, *shapes, field=field)

    report = tvm_tensorrt.explain(mod, version=OLD_TARGET)
    [decision] = [d for d in report.decisions if d.op == f"relax.{op}"]
    assert not decision.offloaded and reason in decision.reason
    assert "batch" in decision.reason and "use_implicit_batch=False offloads it" in decision.reason
    assert "batch mode: implicit (TensorRT 8.6.1)" in report.to_table()
    partitioned, _ = tvm_tensorrt.partition_for_tensorrt(mod, version=OLD_TARGET)
    assert f"relax.{op}" in main_ops(partitioned)

    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, use_implicit_batch=False)
    assert offloaded_ops(partitioned) and f"relax.{op}" in offloaded_ops(partitioned)["tensorrt_0"]
    assert f"relax.{op}" not in main_ops(partitioned)
    assert_same_numbers(mod, partitioned, config)


@pytest.mark.parametrize("case", LIMITS, ids=[c[0] for c in LIMITS])
def test_static_batch_is_offloaded_in_implicit_mode_on_tensorrt_10(case):
    """Nothing can vary on a static axis 0, and TensorRT 10 networks are explicit-batch anyway."""
    _, make, shapes, op, _, field = case
    mod = single_op_module(make, *shapes, field=field)
    report = tvm_tensorrt.explain(mod, use_implicit_batch=True)
    assert tuple(report.config["tensorrt_version"]) >= (10, 0, 0) and report.config["use_implicit_batch"]
    [decision] = [d for d in report.decisions if d.op == f"relax.{op}"]
    assert decision.offloaded, report.to_table()
    assert "its limits bind only ops on a symbolic batch" in report.to_table()
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, use_implicit_batch=True)
    assert f"relax.{op}" not in main_ops(partitioned)
    assert_same_numbers(mod, partitioned, config)


N = SizeVar("n", "int64")
SYMBOLIC_LIMITS = [
    ("softmax over a symbolic axis 0", lambda x: relax.op.nn.softmax(x, axis=0), (N, 4), "nn.softmax", "axis 0"),
    ("sum over a symbolic axis 0", lambda x: relax.op.sum(x, axis=[0]), (N, 4), "sum", "axis 0"),
    ("concat over a symbolic axis 0", lambda x: relax.op.concat([x, x], axis=0), (N, 3), "concat", "axis 0"),
]


@pytest.mark.parametrize("case", SYMBOLIC_LIMITS, ids=[c[0] for c in SYMBOLIC_LIMITS])
def test_symbolic_batch_keeps_the_limits_on_tensorrt_10(case):
    _, make, shape, op, reason = case
    mod = single_op_module(make, shape)
    [decision] = [d for d in tvm_tensorrt.explain(mod, use_implicit_batch=True).decisions if d.op == f"relax.{op}"]
    assert not decision.offloaded and reason in decision.reason and "use_implicit_batch=False" in decision.reason
    [default] = [d for d in tvm_tensorrt.explain(mod).decisions if d.op == f"relax.{op}"]
    assert default.offloaded, default.reason  # TensorRT 10's default is explicit batch: no batch limits


def test_symbolic_batch_ops_that_keep_axis_0_are_offloaded_on_tensorrt_10():
    mod = single_op_module(lambda x: relax.op.nn.softmax(relax.op.nn.relu(x), axis=1), (N, 4))
    assert all(d.offloaded for d in tvm_tensorrt.explain(mod).decisions)


def two_batch_module():
    """relu(x: batch 1) and relu(y: batch 4) feed add (batch 4 by broadcasting)."""
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 3), "float32"))
    y = relax.Var("y", relax.TensorType((4, 3), "float32"))
    with bb.function("main", [x, y]):
        with bb.dataflow():
            a = bb.emit(relax.op.nn.relu(x))
            b = bb.emit(relax.op.nn.relu(y))
            c = bb.emit(relax.op.add(a, b))
            out = bb.emit_output(relax.op.tanh(c))
        bb.emit_func_output(out)
    return bb.get()


def subgraph_input_batches(mod) -> list:
    found = []
    for gv, func in mod.functions.items():
        if isinstance(func, relax.Function) and func.attrs and func.attrs.get("Codegen") == "tensorrt":
            found.append({int(p.ty.shape.values[0]) for p in func.params})
    return found


def test_subgraph_inputs_agree_on_batch_size_in_implicit_mode():
    mod = two_batch_module()
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, version=OLD_TARGET)
    assert all(len(batches) == 1 for batches in subgraph_input_batches(partitioned))
    assert main_ops(partitioned) == ["relax.add"]
    assert sorted(map(tuple, offloaded_ops(partitioned).values())) == [("relax.nn.relu",), ("relax.nn.relu",),
                                                                        ("relax.tanh",)]
    assert_same_numbers(mod, partitioned, config)

    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, use_implicit_batch=False)
    assert offloaded_ops(partitioned) == {"tensorrt_0": ["relax.nn.relu", "relax.nn.relu", "relax.add",
                                                        "relax.tanh"]}
    assert subgraph_input_batches(partitioned) == [{1, 4}]
    assert_same_numbers(mod, partitioned, config)


def batch_norm_statistics_module():
    """An op reading batch_norm's running mean (shape (C,), not batched) after the normalisation."""
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((2, 3, 4, 4), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            bn = bb.emit(relax.op.nn.batch_norm(x, const(3, positive=True), const(3), const(3),
                                                const(3, positive=True), axis=1, training=False))
            y = bb.emit(relax.TupleGetItem(bn, 0))
            mean = bb.emit(relax.TupleGetItem(bn, 1))
            m = bb.emit(relax.op.sigmoid(mean))
            out = bb.emit_output(relax.Tuple([y, m]))
        bb.emit_func_output(out)
    return bb.get()


def test_a_region_never_mixes_batch_sizes():
    """Region formation: sigmoid's batch (its dim 0 is the 3 channels) differs from batch_norm's
    (2), so in implicit mode it starts a subgraph of its own instead of joining batch_norm's."""
    mod = batch_norm_statistics_module()
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, version=OLD_TARGET)
    assert offloaded_ops(partitioned) == {"tensorrt_0": ["relax.nn.batch_norm"], "tensorrt_1": ["relax.sigmoid"]}
    assert_same_numbers(mod, partitioned, config)
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, use_implicit_batch=False)
    assert offloaded_ops(partitioned) == {"tensorrt_0": ["relax.nn.batch_norm", "relax.sigmoid"]}
    assert_same_numbers(mod, partitioned, config)


def test_the_default_batch_mode_follows_the_target():
    """use_implicit_batch=None: explicit for TensorRT >= 10 (no implicit batch there), implicit
    below 10; an explicit True or False is obeyed on every target, and the report says which
    mode applied and why."""
    n = SizeVar("n", "int64")
    mod = single_op_module(lambda x: relax.op.nn.softmax(x, axis=0), (n, 4))
    for version, options, implicit, chosen, offloaded in [
            (None, {}, False, "default", True),
            (OLD_TARGET, {}, True, "default", False),
            (None, {"use_implicit_batch": True}, True, "argument", False),
            (OLD_TARGET, {"use_implicit_batch": False}, False, "argument", False)]:  # symbolic dims need TRT 10
        report = tvm_tensorrt.explain(mod, version=version, **options)
        assert report.config["use_implicit_batch"] is implicit and report.config["batch_mode_chosen"] == chosen
        [decision] = [d for d in report.decisions if d.op == "relax.nn.softmax"]
        assert decision.offloaded is offloaded, (version, options, decision.reason)
        note = [line for line in report.to_table().splitlines() if line.startswith("batch mode:")][0]
        assert note.startswith(f"batch mode: {'implicit' if implicit else 'explicit'}")
        assert ("the default" in note) is (chosen == "default"), note
    with pytest.raises(tvm_tensorrt.ConfigError, match="use_implicit_batch must be True, False or None"):
        tvm_tensorrt.partition_for_tensorrt(mod, use_implicit_batch="no")
