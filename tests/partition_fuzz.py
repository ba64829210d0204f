"""Random dataflow graphs for fuzzing the partitioner (tests/test_partition_fuzz.py runs a few
hundred in CI, bench/partition_fuzz.py ten thousand).

A graph reads one or two inputs (several ops may share one), constants, and earlier values; its
ops are element-wise (all shapes stay (2, 4)) plus a split into a tuple whose fields are
concatenated back swapped, so tuples and TupleGetItem appear inside regions. Every value nobody
reads is an output, so outputs leave from the middle of regions. The rule outcomes are random
too: a random set of op kinds is kept in TVM (`ops_to_exclude`).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import tvm
from hypothesis import strategies as st
from tvm import relax

import tvm_tensorrt
from op_samples import main_ops, offloaded_ops, random_inputs, run_tvm

SHAPE = (2, 4)
UNARY = {"nn.relu": relax.op.nn.relu, "sigmoid": relax.op.sigmoid, "tanh": relax.op.tanh,
         "negative": relax.op.negative}
BINARY = {"add": relax.op.add, "multiply": relax.op.multiply, "subtract": relax.op.subtract,
          "maximum": relax.op.maximum}
KINDS = sorted(UNARY) + sorted(BINARY) + ["split"]


@st.composite
def graphs(draw, max_nodes: int = 20):
    """(spec, excluded op kinds). spec: [(kind, [operands])]; an operand is ("value", i) for an
    earlier value (0 and maybe 1 are the inputs) or ("const", seed)."""
    inputs = draw(st.integers(1, 2))
    spec = [("input", [])] * inputs
    for _ in range(draw(st.integers(1, max_nodes))):
        kind = draw(st.sampled_from(KINDS))
        arity = 2 if kind in BINARY else 1
        operands = [("value", draw(st.integers(0, len(spec) - 1))) for _ in range(arity)]
        if kind in BINARY and draw(st.integers(0, 3)) == 0:  # one constant operand (two would fold away)
            operands[draw(st.integers(0, 1))] = ("const", draw(st.integers(0, 1000)))
        spec.append((kind, operands))
    excluded = draw(st.sets(st.sampled_from(KINDS)))
    return spec, sorted(excluded)


def build_module(spec) -> tvm.IRModule:
    bb = relax.BlockBuilder()
    params = [relax.Var(f"x{i}", relax.TensorType(SHAPE, "float32")) for i, (k, _) in enumerate(spec) if k == "input"]
    with bb.function("main", params):
        with bb.dataflow():
            values, used = list(params), set()
            for kind, operands in spec[len(params):]:
                args = []
                for what, index in operands:
                    if what == "const":
                        args.append(relax.const(np.random.default_rng(index).standard_normal(SHAPE).astype("float32")))
                    else:
                        args.append(values[index])
                        used.add(index)
                if kind == "split":
                    parts = bb.emit(relax.op.split(args[0], 2, axis=1))
                    first, second = bb.emit(relax.TupleGetItem(parts, 0)), bb.emit(relax.TupleGetItem(parts, 1))
                    values.append(bb.emit(relax.op.concat([second, first], axis=1)))
                else:
                    values.append(bb.emit((UNARY.get(kind) or BINARY[kind])(*args)))
            sinks = [v for i, v in enumerate(values) if i >= len(params) and i not in used] or [values[-1]]
            out = bb.emit_output(sinks[0] if len(sinks) == 1 else relax.Tuple(sinks))
        bb.emit_func_output(out)
    return bb.get()


def all_ops(mod) -> Counter:
    found = Counter(main_ops(mod))
    for ops in offloaded_ops(mod).values():
        found.update(ops)
    return found


EXCLUDE_NAMES = {"split": ["split", "concat"]}  # the split kind is split + concat


def check_graph(spec, excluded, compare_numbers: bool) -> tvm.IRModule:
    """Partition; assert well-formed (so no cycle through TVM code), every call in exactly one
    place, and (compare_numbers) the same values through TVM as the unpartitioned module."""
    mod = build_module(spec)
    exclude = [name for kind in excluded for name in EXCLUDE_NAMES.get(kind, [kind])]
    partitioned, _ = tvm_tensorrt.partition_for_tensorrt(mod, ops_to_exclude=exclude)
    assert relax.analysis.check_well_formed(partitioned)
    assert all_ops(partitioned) == all_ops(mod)
    for ops in offloaded_ops(partitioned).values():
        assert not any(op.removeprefix("relax.") in exclude for op in ops)
    if compare_numbers:
        inputs = random_inputs(mod)
        expected = run_tvm(mod, inputs)
        got = run_tvm(tvm_tensorrt.build(partitioned), inputs)
        assert len(got) == len(expected)
        for e, g in zip(expected, got):
            np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-7)
    return partitioned
