"""The user-facing plugin API (DESIGN.md section 2): a rule plus a converter make a new op
offloadable; registering an existing key needs override=True."""

import numpy as np
import pytest
from tvm import relax

import tvm_tensorrt
from tvm_tensorrt.converters import TensorRTOpConverter, register_converter
from tvm_tensorrt.partition import get_rule, register_rule, unregister_rule
from tvm_tensorrt.partition.api import partition_with_decisions
from tvm_tensorrt.lowering.dispatch import offloaded_functions
from tvm_tensorrt.runtime.plan_builder import build_plan
from tvm_tensorrt.lowering.serialize import subgraph_of
from op_samples import main_ops, offloaded_ops, random_inputs, run_tvm, single_op_module


@pytest.fixture
def trunc_plugin(registries):
    @register_rule("trunc")
    def trunc_rule(call, config):
        return None

    @register_converter("trunc")
    class TruncConverter(TensorRTOpConverter):
        input_types = ("tensor",)

        def convert(self, params):  # trunc(x) = sign(x) * floor(|x|)
            net, ops, x = params.network, params.trt.UnaryOperation, params.inputs[0].tensor
            magnitude = net.add_unary(net.add_unary(x, ops.ABS).get_output(0), ops.FLOOR).get_output(0)
            sign = net.add_unary(x, ops.SIGN).get_output(0)
            return [net.add_elementwise(sign, magnitude, params.trt.ElementWiseOperation.PROD).get_output(0)]

    yield


def trunc_module():
    return single_op_module(lambda x: relax.op.trunc(x), (2, 8))


def test_unregistered_op_stays_in_tvm_with_reason():
    report = tvm_tensorrt.explain(trunc_module())
    assert [d.reason for d in report.decisions] == ["no TensorRT rule is registered for relax.trunc"]


def test_rule_and_converter_make_a_new_op_offloadable(trunc_plugin):
    mod = trunc_module()
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod)
    assert offloaded_ops(partitioned) == {"tensorrt_0": ["relax.trunc"]}
    [func] = offloaded_functions(partitioned).values()
    assert len(build_plan(subgraph_of(func, "tensorrt_0", config), 1 << 28)) > 0
    inputs = random_inputs(mod)
    np.testing.assert_allclose(run_tvm(tvm_tensorrt.build(partitioned, config=config), inputs)[0],
                               run_tvm(mod, inputs)[0], rtol=1e-6)
    report = tvm_tensorrt.verify(mod)  # the library above ran TVM's copy: this checks the plugin's network
    assert report.passed and report.subgraphs[0].max_abs_error == 0.0, report.to_table()


def test_rule_reason_is_reported(trunc_plugin):
    @register_rule("trunc", override=True)
    def picky(call, config):
        return "trunc is kept in TVM for this test"

    report = tvm_tensorrt.explain(trunc_module())
    assert report.decisions[0].reason == "trunc is kept in TVM for this test"


def test_duplicate_registration_needs_override():
    with pytest.raises(tvm_tensorrt.RegistryError, match="override=True"):
        register_rule("nn.relu")(lambda call, config: None)
    with pytest.raises(tvm_tensorrt.RegistryError, match="override=True"):
        register_converter("nn.relu")(type("Relu2", (TensorRTOpConverter,), {}))


def test_override_replaces_builtin_and_can_be_restored():
    from tvm_tensorrt.partition.registry import RULES

    builtin_rule = get_rule("nn.relu")
    with RULES.restored():
        register_rule("nn.relu", override=True)(lambda call, config: "overridden")
        assert tvm_tensorrt.explain(single_op_module(relax.op.nn.relu, (2, 3))).decisions[0].reason == "overridden"
    assert get_rule("nn.relu") is builtin_rule
    assert tvm_tensorrt.explain(single_op_module(relax.op.nn.relu, (2, 3))).decisions[0].offloaded


def test_version_gate_is_data_on_the_rule(registries):
    @register_rule("trunc", min_version=(10, 1, 0))
    def trunc_rule(call, config):
        return None

    report = tvm_tensorrt.explain(trunc_module(), version=(10, 0, 9))
    assert report.decisions[0].reason == "needs TensorRT >= 10.1.0, but the target is TensorRT 10.0.9"
    assert get_rule("trunc").min_version == (10, 1, 0)
    unregister_rule("trunc")
    assert get_rule("trunc") is None


def test_bad_plugin_registrations_are_typed_errors():
    with pytest.raises(tvm_tensorrt.RegistryError, match="without 'relax.'"):
        register_rule("relax.nn.relu")
    with pytest.raises(tvm_tensorrt.RegistryError, match="'tensor' or 'weight'"):
        register_converter("trunc")(type("Bad", (TensorRTOpConverter,), {"input_types": ("tensr",)}))
    with pytest.raises(tvm_tensorrt.RegistryError, match="TensorRTOpConverter subclass"):
        register_converter("trunc")(object)


def test_a_crashing_rule_keeps_its_call_in_tvm_with_the_exception_as_reason(registries, caplog):
    register_rule("trunc")(lambda call, config: 1 / 0)
    [decision] = [d for d in tvm_tensorrt.explain(trunc_module()).decisions if d.op == "relax.trunc"]
    assert not decision.offloaded
    assert decision.reason.startswith("the rule for 'trunc' raised ZeroDivisionError: division by zero")
    assert "the rule for 'trunc' raised ZeroDivisionError" in caplog.text
    partitioned, _ = tvm_tensorrt.partition_for_tensorrt(trunc_module())
    assert "relax.trunc" in main_ops(partitioned)


def test_converter_building_an_invalid_network_is_a_conversion_error_with_tensorrt_words(registries):
    @register_rule("trunc")
    def trunc_rule(call, config):
        return None

    @register_converter("trunc")
    class MismatchedAdd(TensorRTOpConverter):
        def convert(self, params):
            other = params.constant(np.ones((4, 5), "float32"))
            return [params.network.add_elementwise(params.inputs[0].tensor, other,
                                                   params.trt.ElementWiseOperation.SUM).get_output(0)]

    # the conversion check would keep trunc in TVM (tests/test_compile_time_conversion.py): skip
    # it, as where no backend is installed, to see the error the engine build gives
    partitioned, config, _ = partition_with_decisions(trunc_module(), convert=False)
    [func] = offloaded_functions(partitioned).values()
    with pytest.raises(tvm_tensorrt.ConversionError) as failure:
        build_plan(subgraph_of(func, "tensorrt_0", config), 1 << 26)
    message = str(failure.value)
    assert message.startswith("subgraph tensorrt_0 op trunc: converter MismatchedAdd failed")
    assert "broadcast dimensions must be conformable" in message
