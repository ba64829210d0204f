"""Dynamic batch at the engine level: profiles, and how many engines MULTI_ENGINE keeps."""

import numpy as np
import pytest
from tvm import relax
from tvm.ir.prim.expr import Var as SizeVar

from tvm_tensorrt.runtime.backend import load_backend
from tvm_tensorrt.runtime.engine import add_batch_profile, build_network
from tvm_tensorrt.runtime.engines import EngineSet
from tvm_tensorrt.runtime.serialize import subgraph_of


def dynamic_batch_subgraph():
    """conv -> relu -> reshape over a symbolic batch, serialised as the partitioner would."""
    n = SizeVar("n", "int64")
    weight = relax.const(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype("float32"))
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((n, 3, 8, 8), "float32"))
    with bb.function("tensorrt_0", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.relu(relax.op.nn.conv2d(x, weight, padding=(1, 1))))
            y = bb.emit_output(relax.op.reshape(y, (n, 256)))
        bb.emit_func_output(y)
    func = bb.get()["tensorrt_0"]
    return subgraph_of(func, "tensorrt_0", {"max_workspace_size": 1 << 28})


def test_dynamic_batch_serialises_as_minus_one_and_builds_a_profile():
    subgraph = dynamic_batch_subgraph()
    assert subgraph.inputs[0]["shape"] == [-1, 3, 8, 8] and subgraph.outputs[0]["shape"] == [-1, 256]
    builder, built, _ = build_network(subgraph)
    config = builder.create_builder_config()
    add_batch_profile(builder, config, built.network, (1, 3, 5))
    assert config.num_optimization_profiles == 1
    assert tuple(built.network.get_output(0).shape) == (-1, 256)
    assert builder.build_serialized_network(built.network, config) is not None


@pytest.mark.parametrize("multi_engine, builds, kept", [("0", 3, 1), ("1", 3, 3)])
def test_batches_1_2_4_2(multi_engine, builds, kept, monkeypatch):
    monkeypatch.setenv("TVM_TENSORRT_MULTI_ENGINE", multi_engine)
    engines = EngineSet(dynamic_batch_subgraph())
    backend = load_backend()
    specs = []
    for batch in (1, 2, 4):
        spec, _, _ = engines.plan_for(batch, backend)
        specs.append(spec)
        assert spec.covers(batch)
    before = engines.builds
    spec, _, _ = engines.plan_for(2, backend)
    assert engines.builds == before == builds  # the second batch-2 call builds nothing
    assert len(engines.plans) == kept
    if multi_engine == "0":
        assert [s.batch_range for s in specs] == [(1, 1, 1), (1, 2, 2), (1, 4, 4)]
        assert spec.batch_range == (1, 4, 4)  # the largest engine serves the smaller batch
    else:
        assert spec.batch_range == (2, 2, 2)
