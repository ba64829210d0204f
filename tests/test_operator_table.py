"""The original operator table: every operator has a rule (under its Relax name), is offloaded at
its minimum TensorRT version, stays in TVM just below it with the gate named, and
docs/operators.md is what the registry generates."""

import os

import pytest

import tvm_tensorrt
from tvm_tensorrt.partition import get_rule
from tvm_tensorrt.partition.table import markdown, operator_table
from tvm_tensorrt.backend import DEFAULT_TENSORRT_VERSION, find_backend
from op_samples import sample_module

# The original (Relay) integration's table, as the issue lists it: name -> minimum TensorRT.
ORIGINAL_TABLE = {
    **{name: None for name in (
        "nn.relu", "sigmoid", "tanh", "nn.batch_norm", "nn.layer_norm", "nn.softmax", "nn.conv1d", "nn.conv2d",
        "nn.dense", "nn.bias_add", "add", "subtract", "multiply", "divide", "power", "maximum", "minimum",
        "nn.max_pool2d", "nn.avg_pool2d", "nn.global_max_pool2d", "nn.global_avg_pool2d", "exp", "log", "sqrt",
        "abs", "negative", "nn.batch_flatten", "expand_dims", "squeeze", "concatenate", "nn.conv2d_transpose",
        "transpose", "layout_transform", "reshape", "nn.pad", "sum", "prod", "max", "min", "mean",
        "nn.adaptive_max_pool2d", "nn.adaptive_avg_pool2d", "nn.batch_matmul")},
    **{name: (5, 1, 5) for name in ("clip", "nn.leaky_relu", "sin", "cos", "atan", "ceil", "floor", "split",
                                    "strided_slice")},
    **{name: (6, 0, 1) for name in ("nn.conv3d", "nn.max_pool3d", "nn.avg_pool3d", "nn.conv3d_transpose")},
    "erf": (7, 0, 0),
}
OLDEST = (5, 0, 0)  # the oldest release the original table mentions; ungated ops must pass there

PAIRS = [(row["original"], op) for row in operator_table() if row["original"] for op in row["relax"]]


def release_below(version: tuple) -> tuple:
    """One patch release below (7.0.0 has none: the last 6.x stands in for it)."""
    major, minor, patch = version
    if patch:
        return major, minor, patch - 1
    if minor:
        return major, minor - 1, 99
    return major - 1, 99, 99


def test_every_original_operator_has_a_rule_with_its_gate():
    rows = {row["original"]: row for row in operator_table() if row["original"]}
    assert sorted(rows) == sorted(ORIGINAL_TABLE)
    for name, gate in ORIGINAL_TABLE.items():
        for op in rows[name]["relax"]:
            assert get_rule(op).min_version == gate, (name, op)


@pytest.mark.parametrize("original, op_name", PAIRS, ids=[f"{o}->{r}" for o, r in PAIRS])
def test_offloaded_at_its_minimum_version(original, op_name):
    version = ORIGINAL_TABLE[original] or OLDEST
    report = tvm_tensorrt.explain(sample_module(op_name), version=version)
    [decision] = [d for d in report.decisions if d.op == f"relax.{op_name}"]
    assert decision.offloaded and decision.reason is None, decision


GATED = [(o, r) for o, r in PAIRS if ORIGINAL_TABLE[o]]


@pytest.mark.parametrize("original, op_name", GATED, ids=[f"{o}->{r}" for o, r in GATED])
def test_kept_in_tvm_one_release_below_with_the_gate_named(original, op_name):
    gate = ORIGINAL_TABLE[original]
    below = release_below(gate)
    report = tvm_tensorrt.explain(sample_module(op_name), version=below)
    [decision] = [d for d in report.decisions if d.op == f"relax.{op_name}"]
    assert not decision.offloaded
    assert decision.reason == (f"needs TensorRT >= {'.'.join(map(str, gate))}, "
                               f"but the target is TensorRT {'.'.join(map(str, below))}")


def test_version_none_targets_the_installed_backend():
    _, config = tvm_tensorrt.partition_for_tensorrt(sample_module("erf"))
    backend = find_backend()
    expected = backend.api_version if backend else DEFAULT_TENSORRT_VERSION
    assert config["tensorrt_version"] == list(expected)
    _, config = tvm_tensorrt.partition_for_tensorrt(sample_module("erf"), version=(6, 0, 1))
    assert config["tensorrt_version"] == [6, 0, 1]


def test_docs_table_is_generated_from_the_registry():
    path = os.path.join(os.path.dirname(__file__), "..", "docs", "operators.md")
    with open(path) as f:
        assert f.read() == markdown(), "regenerate: python -m tvm_tensorrt.partition.table > docs/operators.md"
