"""Dynamic batch at the engine level: profiles, and how many engines MULTI_ENGINE keeps."""

import numpy as np
import pytest
from tvm import relax
from tvm.ir.prim.expr import Var as SizeVar

from tvm_tensorrt.backend import load_backend
from tvm_tensorrt.runtime.plan_builder import add_profile, build_network
from tvm_tensorrt.runtime.engine_set import EngineSet
from tvm_tensorrt.lowering.serialize import subgraph_of


def dynamic_batch_subgraph():
    """The offloaded part of dynamic_batch_model, serialised as build() does."""
    import tvm_tensorrt
    from tvm_tensorrt.lowering.dispatch import offloaded_functions

    partitioned, config = tvm_tensorrt.partition_for_tensorrt(dynamic_batch_model())
    [func] = offloaded_functions(partitioned).values()
    return subgraph_of(func, "tensorrt_0", {**config, "max_workspace_size": 1 << 28})


def test_dynamic_batch_serialises_as_minus_one_and_builds_a_profile():
    subgraph = dynamic_batch_subgraph()
    assert subgraph.inputs[0]["shape"] == [-1, 3, 8, 8] and subgraph.outputs[0]["shape"] == [-1, 256]
    assert subgraph.inputs[0]["dims"] == ["n", 3, 8, 8]
    builder, built, _ = build_network(subgraph)
    config = builder.create_builder_config()
    add_profile(builder, config, built.network, subgraph, (("n", 1, 3, 5),))
    assert config.num_optimization_profiles == 1
    assert tuple(built.network.get_output(0).shape) == (-1, 256)
    assert builder.build_serialized_network(built.network, config) is not None


@pytest.mark.parametrize("multi_engine, builds, kept", [(False, 3, 1), (True, 3, 3)])
def test_batches_1_2_4_2(multi_engine, builds, kept):
    from tvm_tensorrt.runtime.options import EngineOptions

    subgraph = dynamic_batch_subgraph()
    options = EngineOptions.resolve(subgraph.config, multi_engine=multi_engine)
    engines = EngineSet(subgraph)
    backend = load_backend()
    specs = []
    for batch in (1, 2, 4):
        spec, _, _ = engines.plan_for({"n": batch}, backend, options)
        specs.append(spec)
        assert spec.covers({"n": batch})
    before = engines.builds
    spec, _, _ = engines.plan_for({"n": 2}, backend, options)
    assert engines.builds == before == builds  # the second batch-2 call builds nothing
    assert len(engines.plans) == kept
    if not multi_engine:
        assert [s.ranges for s in specs] == [(("n", 1, 1, 1),), (("n", 1, 2, 2),), (("n", 1, 4, 4),)]
        assert spec.ranges == (("n", 1, 4, 4),)  # the largest engine serves the smaller batch
    else:
        assert spec.ranges == (("n", 2, 2, 2),)


def test_prebuilt_dynamic_engine_serves_smaller_batches(monkeypatch):
    from tvm_tensorrt.runtime.engine_set import prebuild

    subgraph = dynamic_batch_subgraph()
    plans = prebuild(subgraph, max_batch=8)
    [(plan, ranges)] = plans.values()
    assert ranges == (("n", 1, 8, 8),)
    engines = EngineSet(subgraph, plans)
    spec, key, got = engines.plan_for({"n": 4}, load_backend())
    assert spec.ranges == (("n", 1, 8, 8),) and got == plan and engines.builds == 0
    spec, _, _ = engines.plan_for({"n": 16}, load_backend())  # beyond the prebuilt range: built here
    assert spec.ranges == (("n", 1, 16, 16),) and engines.builds == 1


def test_dynamic_inputs_must_agree_on_the_batch():
    import tvm_tensorrt

    engines = EngineSet(dynamic_batch_subgraph())
    assert engines.values_of([(3, 3, 8, 8)]) == {"n": 3}
    with pytest.raises(tvm_tensorrt.ConversionError, match="input input_1 has n = 5, another input has n = 2"):
        EngineSet(two_input_subgraph()).values_of([(2, 3), (5, 3)])
    with pytest.raises(tvm_tensorrt.ConversionError, match=r"has shape \(3, 3, 8, 9\), expected"):
        engines.values_of([(3, 3, 8, 9)])


def two_input_subgraph():
    n = SizeVar("n", "int64")
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((n, 3), "float32"))
    y = relax.Var("y", relax.TensorType((n, 3), "float32"))
    with bb.function("tensorrt_0", [x, y]):
        with bb.dataflow():
            out = bb.emit_output(relax.op.add(x, y))
        bb.emit_func_output(out)
    return subgraph_of(bb.get()["tensorrt_0"], "tensorrt_0", {})


def dynamic_batch_model():
    n = SizeVar("n", "int64")
    weight = relax.const(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype("float32"))
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((n, 3, 8, 8), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.relu(relax.op.nn.conv2d(x, weight, padding=(1, 1))))
            y = bb.emit(relax.op.nn.softmax(relax.op.reshape(y, (n, 256)), axis=1))
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    return bb.get()


@pytest.fixture(scope="module")
def dynamic_library(tmp_path_factory):
    import tvm_tensorrt

    mod = dynamic_batch_model()
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod)
    assert [d.offloaded for d in tvm_tensorrt.explain(mod).decisions] == [True] * 4
    path = str(tmp_path_factory.mktemp("dyn") / "dynamic.so")
    tvm_tensorrt.build(partitioned, config=config).export_library(path)
    return path


@pytest.mark.parametrize("multi_engine, builds_per_call", [(False, [1, 1, 1, 0]), (True, [1, 1, 1, 0])])
def test_symbolic_batch_model_runs_with_any_batch(dynamic_library, multi_engine, builds_per_call, trt_log):
    import tvm_tensorrt
    from tvm_tensorrt.runtime import executor
    from op_samples import run_tvm

    executor.forget_runtimes()
    model = tvm_tensorrt.load(dynamic_library, multi_engine=multi_engine)
    reference = dynamic_batch_model()
    for batch, builds in zip((1, 2, 4, 2), builds_per_call):
        trt_log.clear()
        x = np.random.default_rng(batch).standard_normal((batch, 3, 8, 8)).astype("float32")
        [out] = model.run(x)
        assert out.shape == (batch, 256)
        np.testing.assert_allclose(out, run_tvm(reference, [x])[0], rtol=1e-5, atol=1e-7)
        assert trt_log.text.count("Building new TensorRT engine for subgraph tensorrt_0") == builds
    [runtime] = executor._RUNTIMES.values()
    assert runtime.engines.builds == 3
    assert len(runtime.engines.plans) == (3 if multi_engine else 1)
    executor.forget_runtimes()
