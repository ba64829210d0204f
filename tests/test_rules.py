"""Every built-in rule fires on its op; rejections carry a reason naming what to change."""

import numpy as np
import pytest
from tvm import relax

import tvm_tensorrt
from tvm_tensorrt.partition import registered_rule_names
from op_samples import SAMPLES, const, main_ops, offloaded_ops, sample_module, single_op_module


def test_every_rule_has_a_sample():
    assert sorted(SAMPLES) == registered_rule_names()


@pytest.mark.parametrize("op_name", sorted(SAMPLES))
def test_rule_offloads_its_op(op_name):
    mod, config = tvm_tensorrt.partition_for_tensorrt(sample_module(op_name))
    offloaded = offloaded_ops(mod)
    assert list(offloaded) == ["tensorrt_0"] and f"relax.{op_name}" in offloaded["tensorrt_0"]
    assert f"relax.{op_name}" not in main_ops(mod)
    report = tvm_tensorrt.explain(sample_module(op_name))
    [decision] = [d for d in report.decisions if d.op == f"relax.{op_name}"]
    assert decision.offloaded and decision.subgraph == "tensorrt_0" and decision.reason is None


def decision_for(mod, op):
    report = tvm_tensorrt.explain(mod)
    [decision] = [d for d in report.decisions if d.op == op]
    return decision


REJECTIONS = [
    ("NHWC conv2d", lambda x: relax.op.nn.conv2d(x, const(3, 3, 2, 3), data_layout="NHWC", kernel_layout="HWIO"),
     [(1, 5, 5, 2)], "relax.nn.conv2d", "data_layout is NHWC"),
    ("computed conv2d weight", lambda x, w: relax.op.nn.conv2d(x, w), [(1, 2, 5, 5), (3, 2, 3, 3)],
     "relax.nn.conv2d", "conv2d weight must be a constant"),
    ("training batch_norm", lambda x: relax.op.nn.batch_norm(x, const(3), const(3), const(3), const(3, positive=True),
                                                             axis=1, training=True),
     [(1, 3, 4, 4)], "relax.nn.batch_norm", "training mode"),
    ("dilated pool", lambda x: relax.op.nn.max_pool2d(x, (2, 2), dilation=(2, 2)), [(1, 2, 8, 8)],
     "relax.nn.max_pool2d", "dilation"),
    ("uneven adaptive pool", lambda x: relax.op.nn.adaptive_avg_pool2d(x, (3, 3)), [(1, 2, 8, 8)],
     "relax.nn.adaptive_avg_pool2d", "multiple of the output size"),
    ("op without a rule", lambda x: relax.op.cumsum(x, axis=1), [(2, 3)], "relax.cumsum",
     "no TensorRT rule is registered for relax.cumsum"),
]


@pytest.mark.parametrize("case", REJECTIONS, ids=[c[0] for c in REJECTIONS])
def test_rejection_reason(case):
    _, make, shapes, op, expected = case
    mod = single_op_module(make, *shapes, field=0 if op == "relax.nn.batch_norm" else None)
    decision = decision_for(mod, op)
    assert not decision.offloaded and decision.subgraph is None
    assert expected in decision.reason
    partitioned, _ = tvm_tensorrt.partition_for_tensorrt(mod)
    assert op in main_ops(partitioned)


def test_integer_dtype_is_rejected_with_reason():
    mod = single_op_module(lambda x: relax.op.add(x, x), (2, 3), dtype="int32")
    decision = decision_for(mod, "relax.add")
    assert "dtype int32" in decision.reason


def test_dynamic_shape_is_rejected_with_reason():
    from tvm.ir.prim.expr import Var as SizeVar

    n = SizeVar("n", "int64")
    mod = single_op_module(lambda x: relax.op.nn.relu(x), (n, 3))
    assert "dynamic shape" in decision_for(mod, "relax.nn.relu").reason


def test_ops_to_exclude_keeps_op_in_tvm():
    mod = sample_module("nn.relu")
    report = tvm_tensorrt.explain(mod, ops_to_exclude=["nn.relu"])
    assert [d.reason for d in report.decisions] == ["relax.nn.relu is in ops_to_exclude"]


def test_params_are_bound_before_partitioning():
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 2, 5, 5), "float32"))
    w = relax.Var("w", relax.TensorType((3, 2, 3, 3), "float32"))
    with bb.function("main", [x, w]):
        with bb.dataflow():
            out = bb.emit_output(relax.op.nn.conv2d(x, w))
        bb.emit_func_output(out)
    weights = np.ones((3, 2, 3, 3), "float32")
    mod, _ = tvm_tensorrt.partition_for_tensorrt(bb.get(), params={"w": weights})
    assert offloaded_ops(mod) == {"tensorrt_0": ["relax.nn.conv2d"]}


def test_config_contract():
    _, config = tvm_tensorrt.partition_for_tensorrt(sample_module("nn.relu"), version=(8, 6, 1),
                                                    max_workspace_size=1 << 20)
    import json

    assert json.loads(json.dumps(config)) == config
    assert config["tensorrt_version"] == [8, 6, 1]
    assert config["use_implicit_batch"] is True and config["remove_no_mac_subgraphs"] is False
    assert config["max_workspace_size"] == 1 << 20


def test_bad_options_raise_typed_errors():
    with pytest.raises(tvm_tensorrt.ConfigError, match="version"):
        tvm_tensorrt.partition_for_tensorrt(sample_module("nn.relu"), version=(8, 6))
    with pytest.raises(tvm_tensorrt.ConfigError, match="max_workspace_size"):
        tvm_tensorrt.partition_for_tensorrt(sample_module("nn.relu"), max_workspace_size=-1)
