"""Implicit batch mode admits a symbolic batch dimension: every sample, with dim 0 of each input
made symbolic, is offloaded, serialises with -1 there, builds an engine with a batch profile, and
its network computes what TVM computes at a batch size the sample never had."""

import numpy as np
import pytest
import tvm
from tvm import relax
from tvm.ir.prim.expr import Var as SizeVar

import tvm_tensorrt
from tvm_tensorrt.backend import load_backend
from tvm_tensorrt.lowering.dispatch import offloaded_functions
from tvm_tensorrt.runtime.plan_builder import add_profile, build_network
from tvm_tensorrt.lowering.serialize import subgraph_of
from op_samples import SAMPLES, random_array, sample, single_op_module

POSITIVE_INPUTS = {"log", "sqrt", "power"}
BATCH = 3


# The reshape and broadcast_to samples fix their batch to 2; over a symbolic batch they keep dim 0.
BATCH_AGNOSTIC = {"reshape": lambda x: relax.op.reshape(x, (x.ty.shape.values[0], -1)),
                  "broadcast_to": lambda x: relax.op.broadcast_to(x, (x.ty.shape.values[0],) + (3, 4)),
                  # the gather samples read constant indices of batch 2; here the indices are computed (in range)
                  "gather_elements": lambda x: relax.op.gather_elements(x, relax.op.argmax(x, axis=2, keepdims=True),
                                                                        axis=2),
                  # the updates (3, 5) do not follow the batch: computed from x's first three rows instead
                  "scatter_nd": lambda x, u: relax.op.scatter_nd(
                      x, relax.const(np.array([[1, 0], [0, 2], [2, 3]], "int64")),
                      relax.op.sum(relax.op.take(x, relax.const(np.array([0, 1, 2], "int64")), axis=0), axis=[1])),
                  "gather_nd": lambda x: relax.op.gather_nd(
                      x, relax.op.permute_dims(relax.op.argmax(x, axis=1, keepdims=True), [0, 2, 1]), batch_dims=1)}


def dynamic_sample(op_name):
    make, shapes, field, dtype = sample(op_name)
    make = BATCH_AGNOSTIC.get(op_name, make)
    n = SizeVar("n", "int64")
    return single_op_module(make, *[(n,) + tuple(s[1:]) for s in shapes], dtype=dtype, field=field), shapes


@pytest.mark.parametrize("op_name", sorted(SAMPLES))
def test_symbolic_batch_is_offloaded_built_and_exact(op_name):
    mod, shapes = dynamic_sample(op_name)
    report = tvm_tensorrt.explain(mod)
    assert all(d.offloaded for d in report.decisions), report.to_table()
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod)
    [func] = offloaded_functions(partitioned).values()
    subgraph = subgraph_of(func, "tensorrt_0", config)
    assert all(desc["shape"][0] == -1 for desc in subgraph.inputs + subgraph.outputs)

    backend = load_backend()
    builder, built, _ = build_network(subgraph, backend)
    assert built.network.get_output(0).shape[0] == -1
    builder_config = builder.create_builder_config()
    add_profile(builder, builder_config, built.network, subgraph, (("n", 1, 2, 4),))
    assert builder.build_serialized_network(built.network, builder_config) is not None

    from tvm_tensorrt.verification import evaluate_network

    rng = np.random.default_rng(4)
    inputs = [random_array(rng, (BATCH,) + tuple(s[1:]), str(p.ty.dtype)) for s, p in zip(shapes, mod["main"].params)]
    if op_name in POSITIVE_INPUTS:
        inputs = [np.abs(a) + np.float32(0.1) for a in inputs]
    vm = relax.VirtualMachine(tvm.compile(mod, target="llvm"), tvm.cpu())
    expected = vm["main"](*[tvm.runtime.tensor(a) for a in inputs]).numpy()
    got = evaluate_network(built.network, backend.trt, {d["name"]: a for d, a in zip(subgraph.inputs, inputs)})
    np.testing.assert_allclose(got[subgraph.outputs[0]["name"]], expected, rtol=1e-5, atol=1e-6)
