"""Every rule, over symbolic shapes: it answers (offload, or a reason), it never raises.

Exporters name their axes (batch, sequence, height, past length), so rules meet symbolic dims,
expressions of them (`2 * n`, `n + p`) and unknown shapes everywhere. A rule that assumed a
number where there is a symbol crashed a partition once (`'NoneType' object is not reversible`
in the rule for `add`, on a decode step with a symbolic past length). run_rule turns such a
crash into a reason; this test makes sure no built-in rule needs that net. Hypothesis picks which
dims of which inputs become symbolic and how.
"""

import logging

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from tvm import relax
from tvm.ir.prim.expr import Var as SizeVar

import tvm_tensorrt
from op_samples import SAMPLES, sample

N, P = SizeVar("n", "int64"), SizeVar("p", "int64")


def symbolic(dim: int, how: int):
    """dim as a symbolic dim: kept, a plain variable, or an expression of variables."""
    return [dim, N, P, 2 * N, N + P][how]


UNKNOWN = 5  # the input's shape is unknown, only its rank (R.Tensor(ndim=4)): reshapes to computed shapes


def module_with(op_name, choices):
    make, shapes, field, dtype = sample(op_name)
    dtypes = [dtype] * len(shapes) if isinstance(dtype, str) else list(dtype)
    params = []
    for i, (shape, dt) in enumerate(zip(shapes, dtypes)):
        picks = [choices[(i * 7 + j) % len(choices)] for j in range(len(shape))]
        if UNKNOWN in picks:
            ty = relax.TensorType(None, dt, ndim=len(shape))
        else:
            ty = relax.TensorType(tuple(symbolic(d, how) for d, how in zip(shape, picks)), dt)
        params.append(relax.Var(f"x{i}", ty))
    bb = relax.BlockBuilder()
    try:
        with bb.function("main", params):
            with bb.dataflow():
                out = bb.emit(make(*params))
                if field is not None:
                    out = bb.emit(relax.TupleGetItem(out, field))
                out = bb.emit_output(out)
            bb.emit_func_output(out)
        return bb.get()
    except Exception:  # noqa: BLE001 (TVM refuses the op on these shapes: no call for a rule to judge)
        return None


def crashes(mod, **options) -> list:
    report = tvm_tensorrt.explain(mod, **options)
    return [f"{d.op}: {d.reason}" for d in report.decisions if d.reason and " raised " in d.reason]


@pytest.mark.parametrize("op_name", sorted(SAMPLES))
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(choices=st.lists(st.integers(0, UNKNOWN), min_size=1, max_size=7))
def test_rule_never_raises_on_symbolic_shapes(op_name, choices, caplog):
    caplog.set_level(logging.WARNING, logger="tvm_tensorrt")
    caplog.clear()  # one fixture for all of hypothesis's examples
    mod = module_with(op_name, choices)
    if mod is None:
        return
    for implicit in (None, True):
        assert crashes(mod, use_implicit_batch=implicit) == [], (op_name, choices)
    assert "raised" not in caplog.text, caplog.text


def test_a_c_division_of_sizes_that_simplifies_is_a_size_the_runtime_evaluates():
    """SAM's window partition reshapes to `batch * 4 / 4` (TIR's truncating Div): it is batch."""
    import tvm

    n = SizeVar("n", "int64")
    quotient = tvm.tirx.Div(n * 4, tvm.tirx.const(4, "int64"))
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((n, 6), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.reshape(relax.op.nn.relu(x), (quotient, 2, 3)))
            out = bb.emit_output(relax.op.nn.relu(y))
        bb.emit_func_output(out)
    report = tvm_tensorrt.explain(bb.get())
    assert all(d.offloaded for d in report.decisions), report.to_table()


def test_a_size_added_to_a_tensor_is_offloaded():
    """A decode step's position ids: arange(sequence) + past_sequence, the size a bare TIR value
    (it crashed the rule for add once). The importer's form, canonicalized: one subgraph."""
    from tvm_tensorrt.canonicalize import canonicalize

    seq, past = SizeVar("sequence", "int64"), SizeVar("past", "int64")
    bb = relax.BlockBuilder()
    ids = relax.Var("ids", relax.TensorType((1, seq), "int64"))
    cache = relax.Var("cache", relax.TensorType((1, past, 4), "float32"))
    with bb.function("main", [ids, cache]):
        with bb.dataflow():
            positions = bb.emit(relax.op.add(relax.op.arange(0, seq, 1, "int64"), past))
            total = bb.emit(relax.op.sum(relax.op.astype(relax.op.add(ids, positions), "float32"), axis=[1],
                                         keepdims=True))
            out = bb.emit_output(relax.op.add(cache, relax.op.expand_dims(total, [2])))  # cache: what past is
        bb.emit_func_output(out)
    raw = bb.get()
    [add] = [d for d in tvm_tensorrt.explain(raw).decisions if d.op == "relax.add"][:1]
    assert " raised " not in (add.reason or "")
    report = tvm_tensorrt.explain(canonicalize(raw))
    assert all(d.offloaded for d in report.decisions) and len(report.subgraphs) == 1, report.to_table()


def test_a_size_through_float_and_back_is_the_size():
    """A detector head's grid: torch casts a feature-map size to float and back to int64."""
    import tvm

    n = SizeVar("n", "int64")
    roundtrip = tvm.tirx.Cast("int64", tvm.tirx.Cast("float32", n * 2))
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((n, 6), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(relax.op.nn.relu(relax.op.reshape(relax.op.nn.relu(x), (roundtrip, 3))))
        bb.emit_func_output(out)
    report = tvm_tensorrt.explain(bb.get())
    assert all(d.offloaded for d in report.decisions), report.to_table()
