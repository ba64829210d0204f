"""Gathers, einsum, cumsum and dropout take symbolic dims beyond the batch (their rules opt in with
dynamic=True): in explicit-batch mode each is offloaded, builds an engine over a profile, and its
network computes what TVM computes at two sizes it was not built for."""

import numpy as np
import pytest
import tvm
from tvm import relax
from tvm.ir.prim.expr import Var as SizeVar

import tvm_tensorrt
from tvm_tensorrt.backend import load_backend
from tvm_tensorrt.lowering.dispatch import offloaded_functions
from tvm_tensorrt.runtime.plan_builder import build_network, build_plan
from tvm_tensorrt.lowering.serialize import subgraph_of
from tvm_tensorrt.verification import evaluate_network
from op_samples import const, ints, single_op_module

B, S = SizeVar("b", "int64"), SizeVar("s", "int64")
RANGES = (("b", 1, 2, 3), ("s", 3, 4, 6))

# id -> (make, input shapes, input dtypes, tuple field, exclusive bound of int inputs)
CASES = {
    "take of constant indices": (lambda x: relax.op.take(x, ints([3, 0, 1]), axis=2), [(B, S, 4)], "float32", None,
                                 None),
    "take of computed indices": (lambda x, i: relax.op.take(x, i, axis=0), [(6, 3), (B, S)], ("float32", "int64"),
                                 None, 6),
    "gather_elements": (lambda x, i: relax.op.gather_elements(x, i, axis=2), [(B, S, 4), (B, S, 2)],
                        ("float32", "int64"), None, 4),
    "gather_nd": (lambda x, i: relax.op.gather_nd(x, i, batch_dims=1), [(B, S, 4), (B, 3, 1)], ("float32", "int64"),
                  None, 3),
    "einsum of two computed operands": (lambda x, y: relax.op.einsum((x, y), "bhid,bhjd->bhij"),
                                        [(B, 2, S, 4), (B, 2, S, 4)], "float32", None, None),
    "einsum with a constant": (lambda x: relax.op.einsum((x, const(4, 3)), "bsd,de->bse"), [(B, S, 4)], "float32",
                               None, None),
    "cumsum exclusive": (lambda x: relax.op.cumsum(x, axis=1, exclusive=True), [(B, S, 3)], "float32", None, None),
    "cumsum of everything": (lambda x: relax.op.cumsum(x), [(B, S)], "float32", None, None),
    "dropout mask": (lambda x: relax.op.nn.dropout(x, 0.2), [(B, S, 3)], "float32", 1, None),
}


def concrete(shape, sizes):
    return [d if isinstance(d, int) else sizes[str(d)] for d in shape]


@pytest.mark.parametrize("case", sorted(CASES))
def test_symbolic_dims_are_offloaded_built_and_exact(case):
    make, shapes, dtypes, field, bound = CASES[case]
    mod = single_op_module(make, *shapes, dtype=dtypes, field=field)
    report = tvm_tensorrt.explain(mod, use_implicit_batch=False)
    assert all(d.offloaded for d in report.decisions), report.to_table()
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, use_implicit_batch=False)
    [func] = offloaded_functions(partitioned).values()
    subgraph = subgraph_of(func, "tensorrt_0", config)
    assert isinstance(build_plan(subgraph, 1 << 28, ranges=RANGES), bytes)

    backend = load_backend()
    _, built, _ = build_network(subgraph, backend)
    vm = relax.VirtualMachine(tvm.compile(mod, target="llvm"), tvm.cpu())
    rng = np.random.default_rng(7)
    for sizes in ({"b": 1, "s": 3}, {"b": 3, "s": 6}):
        inputs = [rng.integers(0, bound, concrete(s, sizes)).astype("int64") if p.ty.dtype == "int64" else
                  rng.standard_normal(concrete(s, sizes)).astype("float32")
                  for s, p in zip(shapes, mod["main"].params)]
        expected = vm["main"](*[tvm.runtime.tensor(a) for a in inputs]).numpy()
        got = evaluate_network(built.network, backend.trt, {d["name"]: a for d, a in zip(subgraph.inputs, inputs)})
        np.testing.assert_allclose(got[subgraph.outputs[0]["name"]], expected, rtol=1e-5, atol=1e-5)
