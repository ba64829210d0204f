"""verify never passes on nothing: a subgraph whose every output value rounding decides (and so
is excused from the comparison) is inconclusive, which fails the report, and the report says what
inputs would exercise it, in the words of the interface that ran it."""

import json

import numpy as np
import onnx
from onnx import TensorProto, helper
from tvm import relax

import tvm_tensorrt
from tvm_tensorrt import cli
from tvm_tensorrt.verification import ArithmeticVariant
from op_samples import single_op_module

# Another correctly rounded implementation: every layer's result moved by up to one ulp.
ULP_NOISE = ArithmeticVariant(seed=0, ulp_noise=True)
BIG = 1e10  # x + 1e10 rounds to 1e10 in float32 (one ulp there is 1024): every logit is equal


def equal_logits_softmax(x):
    return relax.op.nn.softmax(relax.op.add(x, relax.const(BIG, "float32")), axis=-1)


def test_subgraph_whose_every_output_rounding_decides_is_inconclusive_not_passed():
    mod = single_op_module(equal_logits_softmax, (2, 8))
    assert tvm_tensorrt.verify(mod).passed  # same rounding on both sides: uniform rows, equal
    report = tvm_tensorrt.verify(mod, arithmetic=ULP_NOISE)
    [check] = report.subgraphs
    assert check.ill_conditioned_values == check.output_values == 16
    assert check.inconclusive and not check.passed and not report.passed, report.to_table()
    assert report.inconclusive == ["tensorrt_0"]
    table = report.to_table()
    assert table.startswith("INCONCLUSIVE: 1 TensorRT subgraph(s)") and "MISMATCH" not in table
    assert "tensorrt_0 is not checked" in table and "`inputs=`" in table and "`seed=`" in table
    data = json.loads(report.to_json())
    assert not data["passed"] and data["inconclusive"] == ["tensorrt_0"] and data["subgraphs"][0]["inconclusive"]
    assert "inputs=" in data["inputs_hint"]


def test_a_subgraph_with_some_output_left_to_compare_still_passes():
    """Only outputs rounding decides are excused; a well-conditioned output beside them is
    compared, so the subgraph was checked."""
    def both(x):
        positive = relax.op.nn.relu(x)
        return relax.Tuple([equal_logits_softmax(positive), positive])

    mod = single_op_module(both, (2, 8))
    report = tvm_tensorrt.verify(mod, arithmetic=ULP_NOISE)
    [check] = report.subgraphs
    assert check.ill_conditioned_values == 16 and check.output_values == 32
    assert check.passed and not check.inconclusive and report.passed, report.to_table()
    assert report.inconclusive == [] and "inconclusive" not in report.to_table()


def test_the_cli_names_its_input_flag(tmp_path, monkeypatch, capsys):
    """At the shell the way out is --input FILE.npy (real data), not a Python argument."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "big"], ["logits"]), helper.make_node("Softmax", ["logits"], ["y"], axis=-1)],
        "equal_logits", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])],
        [helper.make_tensor("big", TensorProto.FLOAT, [], [BIG])])
    model = tmp_path / "equal_logits.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(model))
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).standard_normal((2, 8)).astype("float32"))
    real = tvm_tensorrt.verify
    monkeypatch.setattr(tvm_tensorrt, "verify", lambda *a, **k: real(*a, arithmetic=ULP_NOISE, **k))
    assert cli.main(["verify", str(model), "--input", str(x)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("INCONCLUSIVE") and "--input FILE.npy" in out and "inputs=" not in out
