"""Region formation: largest regions, never a cycle through TVM code, same numbers after."""

from collections import Counter

import numpy as np
import pytest
import tvm
from tvm import relax

import tvm_tensorrt
from op_samples import main_ops, offloaded_ops, random_inputs, run_tvm

SHAPE = (2, 3)
# relu/add are offloadable; sigmoid/multiply are kept in TVM through ops_to_exclude, so these
# tests stay valid whatever rules later issues add.
KEPT = ["sigmoid", "multiply"]
OPS = {"relu": (1, relax.op.nn.relu), "sigmoid": (1, relax.op.sigmoid),
       "add": (2, relax.op.add), "multiply": (2, relax.op.multiply)}


def graph_module(spec) -> "tvm.IRModule":
    """spec: list of (op, [indices of earlier values]); value 0 is the input. Returns every
    value nobody reads, so outputs leave from the middle of regions too."""
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(SHAPE, "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            values, used = [x], set()
            for op, args in spec:
                values.append(bb.emit(OPS[op][1](*[values[a] for a in args])))
                used.update(args)
            sinks = [v for i, v in enumerate(values) if i > 0 and i not in used] or [values[-1]]
            out = bb.emit_output(sinks[0] if len(sinks) == 1 else relax.Tuple(sinks))
        bb.emit_func_output(out)
    return bb.get()


def all_ops(mod):
    found = Counter(main_ops(mod))
    for ops in offloaded_ops(mod).values():
        found.update(ops)
    return found


def check_partition(spec, compare_numbers):
    mod = graph_module(spec)
    partitioned, _ = tvm_tensorrt.partition_for_tensorrt(mod, ops_to_exclude=KEPT)
    assert relax.analysis.check_well_formed(partitioned)
    assert all_ops(partitioned) == all_ops(mod)  # every op in exactly one place
    left = Counter(main_ops(partitioned))
    assert left["relax.nn.relu"] == left["relax.add"] == 0  # nothing offloadable stays behind
    if compare_numbers:
        inputs = random_inputs(mod)
        expected = run_tvm(mod, inputs)
        got = run_tvm(tvm_tensorrt.build(partitioned), inputs)
        for e, g in zip(expected, got):
            np.testing.assert_allclose(g, e, rtol=1e-6)
    return partitioned


def test_naive_merge_would_create_cycle():
    # a = relu(x); b = sigmoid(a) [TVM]; c = add(a, b): a and c cannot share a subgraph
    partitioned = check_partition([("relu", [0]), ("sigmoid", [1]), ("add", [1, 2])], compare_numbers=True)
    assert offloaded_ops(partitioned) == {"tensorrt_0": ["relax.nn.relu"], "tensorrt_1": ["relax.add"]}


def test_diamond_through_two_tvm_paths():
    # two branches through TVM reconverge; the supported ops before and after must stay apart,
    # while the independent supported branch joins the head region
    spec = [("relu", [0]), ("sigmoid", [1]), ("relu", [1]), ("multiply", [1, 3]), ("add", [2, 4]),
            ("add", [5, 3])]
    partitioned = check_partition(spec, compare_numbers=True)
    assert len(offloaded_ops(partitioned)) == 2


def test_independent_supported_ops_merge_into_one_subgraph():
    spec = [("relu", [0]), ("relu", [0]), ("add", [1, 2]), ("relu", [3])]
    partitioned = check_partition(spec, compare_numbers=True)
    assert offloaded_ops(partitioned) == {"tensorrt_0": ["relax.nn.relu", "relax.nn.relu", "relax.add",
                                                        "relax.nn.relu"]}


def test_partitioning_leaves_the_callers_module_untouched():
    """Folding, layout conversion and outlining work on copies: the user's module is not edited."""
    import numpy as np_

    weight = relax.const(np_.ones((3,), "float32"))
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(SHAPE, "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(relax.op.nn.relu(relax.op.add(x, relax.op.reshape(weight, (1, 3)))))
        bb.emit_func_output(out)
    mod = bb.get()
    before = {gv.name_hint: func for gv, func in mod.functions.items()}
    partitioned, _ = tvm_tensorrt.partition_for_tensorrt(mod)
    after = {gv.name_hint: func for gv, func in mod.functions.items()}
    assert offloaded_ops(partitioned) and before.keys() == after.keys()
    assert all(after[name].same_as(func) for name, func in before.items())


def test_static_blocks_are_judged_as_the_full_checks_judge_them(monkeypatch):
    """build_block_graph skips the search for symbolic dims where every shape of the block is
    static (checks.judging): on static and symbolic models alike, in both batch modes, every
    op's decision must be what the full checks give."""
    import os

    from tvm_tensorrt.models import DEFAULT_MODEL
    from tvm_tensorrt.partition import checks, graph
    from tvm_tensorrt.partition.api import partition_with_decisions

    models = os.path.join(os.path.dirname(__file__), "models")
    real_judging, flags = checks.judging, []

    def recorded(values, static):
        flags.append(static)
        return real_judging(values, static)

    def decisions(mod, implicit, judging):
        monkeypatch.setattr(graph, "judging", judging)
        return [(d.binding, d.offloaded, d.subgraph, d.reason) for d in
                partition_with_decisions(mod, use_implicit_batch=implicit)[2]]

    for name, expect_static in [(DEFAULT_MODEL, True), ("bert_encoder_dynamic.onnx", False),
                                ("vit_dynamic_batch.onnx", False)]:
        mod, _ = tvm_tensorrt.from_onnx(os.path.join(models, name))
        for implicit in (True, False):
            flags.clear()
            fast = decisions(mod, implicit, recorded)
            assert flags and all(flag == expect_static for flag in flags)
            assert fast == decisions(mod, implicit, lambda values, static: real_judging(values, False))


def test_a_size_check_is_inside_the_subgraph_and_still_checked_by_tvm():
    """The importer match_casts a skip connection to sizes it cannot prove equal (a U-Net's
    `(h - 1) // 2 * 2 + 2` beside `h`): an alias inside the subgraph, not a cut; TVM's copy of
    the subgraph still checks it."""
    import tvm
    from tvm.ir.prim.expr import Var as SizeVar

    import tvm_tensorrt
    from op_samples import main_ops, run_tvm

    h, k = SizeVar("h", "int64"), SizeVar("k", "int64")
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, h), "float32"))
    y = relax.Var("y", relax.TensorType((1, k), "float32"))
    with bb.function("main", [x, y]):
        with bb.dataflow():
            skip = bb.emit(relax.op.nn.relu(y))
            same = bb.match_cast(skip, relax.TensorType((1, h), "float32"))
            out = bb.emit_output(relax.op.concat([relax.op.nn.relu(x), same], axis=0))
        bb.emit_func_output(out)
    mod = bb.get()
    report = tvm_tensorrt.explain(mod)
    assert all(d.offloaded for d in report.decisions) and len(report.subgraphs) == 1, report.to_table()
    partitioned, _ = tvm_tensorrt.partition_for_tensorrt(mod)
    assert main_ops(partitioned) == []
    a, b = np.ones((1, 3), "float32"), np.full((1, 3), 2.0, "float32")
    np.testing.assert_array_equal(run_tvm(partitioned, [a, b])[0], run_tvm(mod, [a, b])[0])
    with pytest.raises(Exception, match="match_cast|MatchCast|shape|h"):
        run_tvm(partitioned, [a, np.ones((1, 4), "float32")])
