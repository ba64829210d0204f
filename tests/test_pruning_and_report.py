"""remove_no_mac_subgraphs, min_subgraph_size, ops_to_exclude (function and CLI), and explain()'s
totals of offloaded ops and multiply-accumulates."""

import json

import numpy as np
import pytest
from tvm import relax

import tvm_tensorrt
from tvm_tensorrt import cli
from tvm_tensorrt.models import DEFAULT_MODEL
from op_samples import const, main_ops, offloaded_ops, random_inputs, run_tvm, single_op_module

CONV_MACS = 4 * 8 * 8 * 3 * 3 * 3  # output elements x (C_in x kernel) per element
MEAN_MACS = 4 * 8 * 8  # one accumulation per input element
MATMUL_MACS = 5 * 4  # output elements x K


def mixed_module():
    """Five supported regions cut apart by cumprod (no rule): conv+relu (MACs), sigmoid+tanh (none),
    mean+reshape (a reduction, MAC work as in the original), matmul+add (MACs), relu (none)."""
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 3, 8, 8), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            v = bb.emit(relax.op.nn.conv2d(x, const(4, 3, 3, 3), padding=1))
            v = bb.emit(relax.op.nn.relu(v))
            v = bb.emit(relax.op.cumprod(v, axis=3))
            v = bb.emit(relax.op.sigmoid(v))
            v = bb.emit(relax.op.tanh(v))
            v = bb.emit(relax.op.cumprod(v, axis=3))
            v = bb.emit(relax.op.mean(v, axis=[2, 3], keepdims=True))
            v = bb.emit(relax.op.reshape(v, (1, 4)))
            v = bb.emit(relax.op.cumprod(v, axis=1))
            v = bb.emit(relax.op.matmul(v, const(4, 5)))
            v = bb.emit(relax.op.add(v, const(5)))
            v = bb.emit(relax.op.cumprod(v, axis=1))
            out = bb.emit_output(relax.op.nn.relu(v))
        bb.emit_func_output(out)
    return bb.get()


def assert_same_numbers(mod, partitioned, config):
    inputs = random_inputs(mod, seed=3)
    np.testing.assert_allclose(run_tvm(tvm_tensorrt.build(partitioned, config=config), inputs)[0],
                               run_tvm(mod, inputs)[0], rtol=1e-5, atol=1e-6)


def test_without_pruning_every_region_is_offloaded():
    partitioned, _ = tvm_tensorrt.partition_for_tensorrt(mixed_module())
    assert list(offloaded_ops(partitioned).values()) == [
        ["relax.nn.conv2d", "relax.nn.relu"], ["relax.sigmoid", "relax.tanh"], ["relax.mean", "relax.reshape"],
        ["relax.matmul", "relax.add"], ["relax.nn.relu"]]


def test_remove_no_mac_subgraphs_returns_exactly_the_no_mac_subgraphs():
    mod = mixed_module()
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, remove_no_mac_subgraphs=True)
    assert config["remove_no_mac_subgraphs"] is True
    assert offloaded_ops(partitioned) == {"tensorrt_0": ["relax.nn.conv2d", "relax.nn.relu"],
                                          "tensorrt_1": ["relax.mean", "relax.reshape"],
                                          "tensorrt_2": ["relax.matmul", "relax.add"]}
    assert main_ops(partitioned) == ["relax.cumprod", "relax.sigmoid", "relax.tanh", "relax.cumprod", "relax.cumprod",
                                     "relax.cumprod", "relax.nn.relu"]
    report = tvm_tensorrt.explain(mod, remove_no_mac_subgraphs=True)
    pruned = [d for d in report.decisions if d.reason and "multiply-accumulate" in d.reason]
    assert [d.op for d in pruned] == ["relax.sigmoid", "relax.tanh", "relax.nn.relu"]
    assert all(d.reason == "its subgraph does no multiply-accumulate work (remove_no_mac_subgraphs)" for d in pruned)
    assert_same_numbers(mod, partitioned, config)


def test_min_subgraph_size_and_ops_to_exclude():
    mod = mixed_module()
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, min_subgraph_size=2)
    assert len(offloaded_ops(partitioned)) == 4 and main_ops(partitioned)[-1] == "relax.nn.relu"
    report = tvm_tensorrt.explain(mod, min_subgraph_size=2)
    assert report.decisions[-1].reason == "its subgraph has fewer than 2 ops (min_subgraph_size)"
    assert_same_numbers(mod, partitioned, config)

    report = tvm_tensorrt.explain(mod, ops_to_exclude=["nn.conv2d", "relax.matmul"])
    kept = {d.op: d.reason for d in report.decisions if not d.offloaded}
    assert kept["relax.nn.conv2d"] == "relax.nn.conv2d is in ops_to_exclude"
    assert kept["relax.matmul"] == "relax.matmul is in ops_to_exclude"
    assert report.config["ops_to_exclude"] == ["matmul", "nn.conv2d"]


def test_explain_totals_ops_and_macs():
    report = tvm_tensorrt.explain(mixed_module(), remove_no_mac_subgraphs=True)
    macs = {d.op: d.macs for d in report.decisions if d.macs}
    assert macs == {"relax.nn.conv2d": CONV_MACS, "relax.mean": MEAN_MACS, "relax.matmul": MATMUL_MACS}
    assert report.totals == {"ops_offloaded": 6, "ops_total": 13,
                             "macs_offloaded": CONV_MACS + MEAN_MACS + MATMUL_MACS,
                             "macs_total": CONV_MACS + MEAN_MACS + MATMUL_MACS}
    assert report.subgraph_totals() == [{"subgraph": "tensorrt_0", "ops": 2, "macs": CONV_MACS},
                                        {"subgraph": "tensorrt_1", "ops": 2, "macs": MEAN_MACS},
                                        {"subgraph": "tensorrt_2", "ops": 2, "macs": MATMUL_MACS}]
    table = report.to_table()
    assert "6 of 13 operator calls offloaded to TensorRT in 3 subgraphs" in table
    assert "7188 of 7188 multiply-accumulates offloaded (100.0%)" in table
    assert "tensorrt_0: nn.conv2d x1, nn.relu x1 (2 ops, 6912 MACs)" in table
    data = json.loads(report.to_json())
    assert data["totals"] == report.totals and data["subgraph_totals"] == report.subgraph_totals()
    assert [d["macs"] for d in data["decisions"]][0] == CONV_MACS


def test_mac_counts_of_the_mac_ops():
    def macs(make, *shapes, **options):
        [d] = tvm_tensorrt.explain(single_op_module(make, *shapes), **options).decisions
        return d.macs

    assert macs(lambda x: relax.op.nn.conv1d(x, const(6, 2, 3), groups=2), (1, 4, 10)) == 6 * 8 * 2 * 3
    assert macs(lambda x: relax.op.nn.conv3d(x, const(4, 2, 3, 3, 3)), (1, 2, 5, 5, 5)) == 4 * 27 * 2 * 27
    assert macs(lambda x: relax.op.nn.conv2d_transpose(x, const(4, 3, 3, 3), strides=2), (1, 4, 5, 5)) == \
        4 * 25 * 3 * 9  # each input element scatters into C_out x kernel outputs
    assert macs(lambda x, y: relax.op.matmul(x, y), (2, 3, 4), (2, 4, 5)) == 2 * 3 * 5 * 4
    assert macs(lambda x: relax.op.sum(x, axis=[1]), (2, 3, 4)) == 24
    assert macs(lambda x: relax.op.nn.relu(x), (2, 3)) == 0


def test_explicit_macs_are_reported_for_ops_kept_in_tvm_too():
    report = tvm_tensorrt.explain(mixed_module(), ops_to_exclude=["nn.conv2d"])
    assert report.totals["macs_total"] - report.totals["macs_offloaded"] == CONV_MACS
    assert "7188 multiply-accumulates" in report.mac_summary() and "(3.8%)" in report.mac_summary()


def test_cli_passes_every_partition_flag(capsys):
    argv = ["explain", DEFAULT_MODEL, "--json", "--remove-no-mac-subgraphs", "--min-subgraph-size", "2",
            "--exclude", "nn.softmax", "--tensorrt-version", "5.1.4", "--explicit-batch"]
    assert cli.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    config = report["config"]
    assert config["tensorrt_version"] == [5, 1, 4] and config["use_implicit_batch"] is False
    assert config["remove_no_mac_subgraphs"] is True and config["min_subgraph_size"] == 2
    assert config["ops_to_exclude"] == ["nn.softmax"]
    softmax = [d for d in report["decisions"] if d["op"] == "relax.nn.softmax"]
    assert softmax and softmax[0]["reason"] == "relax.nn.softmax is in ops_to_exclude"
    assert report["totals"]["macs_offloaded"] > 0
    with pytest.raises(SystemExit):
        cli.main(["explain", DEFAULT_MODEL, "--tensorrt-version", "8.6"])
    assert "MAJOR.MINOR.PATCH" in capsys.readouterr().err


def test_cli_compile_records_the_flags(tmp_path):
    out = str(tmp_path / "m.so")
    assert cli.main(["compile", DEFAULT_MODEL, "-o", out, "--remove-no-mac-subgraphs", "--exclude", "nn.softmax",
                     "--tensorrt-version", "7.0.0"]) == 0
    meta = json.loads((tmp_path / "m.so.json").read_text())
    assert meta["config"]["tensorrt_version"] == [7, 0, 0] and meta["config"]["ops_to_exclude"] == ["nn.softmax"]
    assert meta["config"]["remove_no_mac_subgraphs"] is True


def cast_between_tvm_ops():
    """A lone astype + reshape between two cumprods (no rule), and a reshape beside arithmetic."""
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 8), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            v = bb.emit(relax.op.cumprod(x, axis=1))
            v = bb.emit(relax.op.astype(v, "float16"))
            v = bb.emit(relax.op.reshape(v, (2, 4)))
            v = bb.emit(relax.op.cumprod(v, axis=1))
            v = bb.emit(relax.op.reshape(v, (1, 8)))
            out = bb.emit_output(relax.op.nn.relu(v))
        bb.emit_func_output(out)
    return bb.get()


def test_a_subgraph_that_only_moves_data_stays_in_tvm_when_asked_and_by_default_at_the_cli(capsys, tmp_path):
    mod = cast_between_tvm_ops()
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod)  # the public contract: no pruning by default
    assert config["remove_no_compute_subgraphs"] is False
    assert offloaded_ops(partitioned) == {"tensorrt_0": ["relax.astype", "relax.reshape"],
                                          "tensorrt_1": ["relax.reshape", "relax.nn.relu"]}

    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, remove_no_compute_subgraphs=True)
    assert config["remove_no_compute_subgraphs"] is True
    assert offloaded_ops(partitioned) == {"tensorrt_0": ["relax.reshape", "relax.nn.relu"]}  # beside arithmetic
    assert main_ops(partitioned) == ["relax.cumprod", "relax.astype", "relax.reshape", "relax.cumprod"]
    kept = {d.op: d.reason for d in tvm_tensorrt.explain(mod, remove_no_compute_subgraphs=True).decisions
            if d.op in ("relax.astype", "relax.reshape") and not d.offloaded}
    reason = ("its subgraph only moves or converts data (astype, reshape), no arithmetic for TensorRT to speed up "
              "(remove_no_compute_subgraphs=False offloads it)")
    assert kept == {"relax.astype": reason, "relax.reshape": reason}
    assert_same_numbers(mod, partitioned, config)

    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(  # the whole model a cast: at the CLI it stays in TVM, the flag offloads it
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT16)], "cast",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [2, 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "cast.onnx")
    assert cli.main(["explain", str(tmp_path / "cast.onnx")]) == 0
    table = capsys.readouterr().out
    assert "0 of 1 operator calls offloaded" in table
    assert ("relax.astype x1: its subgraph only moves or converts data (astype), no arithmetic for TensorRT to "
            "speed up (--keep-no-compute-subgraphs offloads it)") in table
    assert cli.main(["explain", str(tmp_path / "cast.onnx"), "--keep-no-compute-subgraphs"]) == 0
    assert "1 of 1 operator calls offloaded" in capsys.readouterr().out
