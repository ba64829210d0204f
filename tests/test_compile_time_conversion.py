"""Support decided by converting (issue 23 item 4): with a TensorRT backend installed,
partition_for_tensorrt populates each region's network with the real converters; a call whose
converter raises goes back to TVM with the converter's words as its reason, the regions are
formed again around it, and the model still builds, runs and matches."""

import logging

import numpy as np
import pytest
from tvm import relax

import tvm_tensorrt
from tvm_tensorrt.converters import TensorRTOpConverter, register_converter
from tvm_tensorrt.partition import register_rule
from tvm_tensorrt.partition.api import partition_with_decisions
from op_samples import main_ops, offloaded_ops, random_inputs, run_tvm, single_op_module


class PluginFailure(Exception):
    """A plugin's own exception type, not one of Python's or ours."""


def boom(params):
    raise ValueError("boom")


def plugin_failure(params):
    raise PluginFailure("the plugin cannot take this shape")


def tensorrt_refuses(params):  # TensorRT rejects the layer's shapes: a RuntimeError from its bindings
    other = params.constant(np.ones((4, 5), "float32"))
    return [params.network.add_elementwise(params.inputs[0].tensor, other,
                                           params.trt.ElementWiseOperation.SUM).get_output(0)]


def layer_refused(params):  # TensorRT's add_* answers None when it refuses a layer
    layer = params.network.add_unary(params.inputs[0].tensor, params.trt.UnaryOperation.FLOOR) and None
    return [layer.get_output(0)]


def wrong_shape(params):  # a layer TensorRT accepts, of a shape Relax does not expect
    net = params.network
    return [net.add_reduce(params.inputs[0].tensor, params.trt.ReduceOperation.SUM, 1 << 1, True).get_output(0)]


def register_failing_trunc(convert, name):
    @register_rule("trunc")
    def accept_trunc(call, config):
        return None

    register_converter("trunc")(type(name, (TensorRTOpConverter,), {"convert": lambda self, params: convert(params)}))


def relu_trunc_relu():
    return single_op_module(lambda x: relax.op.nn.relu(relax.op.trunc(relax.op.nn.relu(x))), (2, 8))


CASES = [(boom, "BoomConverter", ["ValueError: boom"]),
         (plugin_failure, "PluginConverter", ["PluginFailure: the plugin cannot take this shape"]),
         (tensorrt_refuses, "MismatchedAdd", ["RuntimeError", "broadcast dimensions must be conformable"]),
         (layer_refused, "NoLayer", ["AttributeError: 'NoneType' object has no attribute 'get_output'"]),
         (wrong_shape, "WrongShape", ["output 0 has shape (2, 1), Relax expects (2, 8)"])]


@pytest.mark.parametrize("convert,name,words", CASES, ids=[c[1] for c in CASES])
def test_a_call_whose_converter_raises_goes_back_to_tvm_with_its_words(registries, convert, name, words):
    register_failing_trunc(convert, name)
    mod = relu_trunc_relu()
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod)
    # the regions were formed again around trunc: each relu is offloaded, trunc runs in TVM
    assert offloaded_ops(partitioned) == {"tensorrt_0": ["relax.nn.relu"], "tensorrt_1": ["relax.nn.relu"]}
    assert main_ops(partitioned) == ["relax.trunc"]
    [kept] = [d for d in tvm_tensorrt.explain(mod).decisions if not d.offloaded]
    assert kept.op == "relax.trunc"
    assert kept.reason.startswith(f"TensorRT could not convert it: converter {name}"), kept.reason
    for word in words:
        assert word in kept.reason
    inputs = random_inputs(mod)
    np.testing.assert_array_equal(run_tvm(tvm_tensorrt.build(partitioned, config=config), inputs)[0],
                                  run_tvm(mod, inputs)[0])


def test_tensorrt_s_refusal_during_the_check_is_one_warning_not_its_error_lines(registries, caplog):
    register_failing_trunc(tensorrt_refuses, "MismatchedAdd")
    with caplog.at_level(logging.DEBUG, logger="tvm_tensorrt"):
        tvm_tensorrt.partition_for_tensorrt(relu_trunc_relu())
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    assert any(r.levelno == logging.DEBUG and "broadcast dimensions" in r.getMessage() for r in caplog.records)
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "stays in TVM" in r.getMessage()]
    assert "relax.trunc stays in TVM" in warning and "broadcast dimensions must be conformable" in warning


def test_overriding_a_builtin_converter_with_one_that_raises(registries):
    """The built-in rule accepts sigmoid; the override's failure keeps it in TVM, its
    neighbours stay offloaded."""
    register_converter("sigmoid", override=True)(
        type("BoomConverter", (TensorRTOpConverter,), {"convert": lambda self, params: boom(params)}))
    mod = single_op_module(lambda x: relax.op.nn.relu(relax.op.sigmoid(relax.op.nn.relu(x))), (2, 8))
    report = tvm_tensorrt.explain(mod)
    assert [(d.op, d.offloaded) for d in report.decisions] == \
        [("relax.nn.relu", True), ("relax.sigmoid", False), ("relax.nn.relu", True)]
    assert "converter BoomConverter failed: ValueError: boom" in report.decisions[1].reason
    assert "relax.sigmoid x1: TensorRT could not convert it: converter BoomConverter" in report.to_table()


def test_a_call_that_converts_is_offloaded_with_its_region(registries):
    """The check costs nothing in offloading: a plugin that converts stays in one subgraph."""
    @register_rule("trunc")
    def accept_trunc(call, config):
        return None

    @register_converter("trunc")
    class Floorish(TensorRTOpConverter):
        def convert(self, params):  # right for x >= 0, which relu's output is
            return [params.network.add_unary(params.inputs[0].tensor, params.trt.UnaryOperation.FLOOR).get_output(0)]

    partitioned, _ = tvm_tensorrt.partition_for_tensorrt(relu_trunc_relu())
    assert offloaded_ops(partitioned) == {"tensorrt_0": ["relax.nn.relu", "relax.trunc", "relax.nn.relu"]}


def test_without_the_check_the_rules_decide_and_the_runtime_fails_as_before(registries):
    """No backend (or the check skipped): the converter's failure is found when the runtime
    builds the engine, the error it always was."""
    register_failing_trunc(boom, "BoomConverter")
    mod = relu_trunc_relu()
    partitioned, config, decisions = partition_with_decisions(mod, convert=False)
    assert offloaded_ops(partitioned) == {"tensorrt_0": ["relax.nn.relu", "relax.trunc", "relax.nn.relu"]}
    assert all(d.offloaded for d in decisions)
    executable = tvm_tensorrt.build(partitioned, config=config)
    with pytest.raises(tvm_tensorrt.ConversionError, match="op trunc: converter BoomConverter failed: ValueError: boom"):
        run_tvm(executable, random_inputs(mod))


def test_no_backend_means_no_check(registries, monkeypatch):
    from tvm_tensorrt.partition import api

    register_failing_trunc(boom, "BoomConverter")
    monkeypatch.setattr(api, "find_backend", lambda: None)
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(relu_trunc_relu())
    assert offloaded_ops(partitioned) == {"tensorrt_0": ["relax.nn.relu", "relax.trunc", "relax.nn.relu"]}
    assert config["backend"] is None
