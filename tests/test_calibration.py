"""INT8 calibration on the CPU: scales from TVM runs, Q/DQ inserted, one INT8 engine, outputs
close to FP32, and a calibration cache reused without running TVM again."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tvm_ffi

import tvm_tensorrt
from tvm_tensorrt import calibration
from tvm_tensorrt.backend import load_backend
from tvm_tensorrt.lowering.dispatch import offloaded_functions
from tvm_tensorrt.lowering.serialize import subgraph_of
from tvm_tensorrt.models import DEFAULT_MODEL
from tvm_tensorrt.partition.api import partition_with_decisions
from tvm_tensorrt.runtime.plan_builder import build_network, build_plan

SHAPE = (1, 3, 32, 32)


def batches(count, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(SHAPE).astype("float32") for _ in range(count)]


@pytest.fixture(scope="module")
def model():
    return tvm_tensorrt.from_onnx(DEFAULT_MODEL)


def test_entropy_calibration_makes_one_int8_engine_close_to_fp32_and_caches(model, tmp_path):
    mod, params = model
    cache = str(tmp_path / "calibration.json")
    before = calibration.runs
    quantized = tvm_tensorrt.calibrate(mod, params, batches(64, seed=0), method="entropy", cache=cache)
    assert calibration.runs - before == 128  # two passes over 64 batches: ranges, then histograms
    partitioned, config, decisions = partition_with_decisions(quantized)
    assert all(d.offloaded for d in decisions) and {d.subgraph for d in decisions} == {"tensorrt_0"}
    ops = [d.op for d in decisions]
    assert ops.count("relax.quantize") == ops.count("relax.nn.conv2d") + ops.count("relax.matmul") == 5

    [func] = offloaded_functions(partitioned).values()
    subgraph = subgraph_of(func, "tensorrt_0", config)
    network = build_network(subgraph, load_backend())[1].network
    kinds = [str(network.get_layer(i).type).split(".")[-1] for i in range(network.num_layers)]
    assert kinds.count("QUANTIZE") == 5 and kinds.count("DEQUANTIZE") == 10
    assert len(build_plan(subgraph, config["max_workspace_size"])) > 0
    assert tvm_tensorrt.verify(quantized).passed

    accuracy = calibration.int8_accuracy(mod, quantized, batches(16, seed=1))  # held back from calibration
    assert accuracy["min_cosine"] >= 0.99 and accuracy["batches"] == 16
    # a random-weight CNN's softmax is nearly flat, so its top-1 class is not a meaningful target here
    assert 0.0 <= accuracy["top1_agreement"] <= 1.0 and accuracy["max_abs_error"] < 0.1

    again = tvm_tensorrt.calibrate(mod, params, batches(64, seed=0), method="entropy", cache=cache)
    assert calibration.runs - before == 128  # the cache answered: TVM did not run
    assert tvm_ffi.structural_equal(again, quantized)
    other = tvm_tensorrt.calibrate(mod, params, batches(8, seed=2), method="entropy", cache=cache)
    assert calibration.runs - before == 128 + 16 and not tvm_ffi.structural_equal(other, quantized)  # other data


def test_minmax_calibration_from_a_folder_keeps_what_it_is_told(model, tmp_path):
    mod, params = model
    for i, x in enumerate(batches(8, seed=3)):
        np.save(tmp_path / f"batch_{i:02d}.npy", x)
    quantized = tvm_tensorrt.calibrate(mod, params, str(tmp_path), method="minmax", keep=["matmul"])
    ops = [d.op for d in partition_with_decisions(quantized)[2]]
    assert ops.count("relax.quantize") == 4  # the four convolutions; the matmul stays float
    assert calibration.int8_accuracy(mod, quantized, batches(8, seed=4))["min_cosine"] >= 0.99


def test_bad_calibration_arguments_are_config_errors(model, tmp_path):
    mod, params = model
    with pytest.raises(tvm_tensorrt.ConfigError, match="method='kl'"):
        tvm_tensorrt.calibrate(mod, params, batches(2, seed=0), method="kl")
    with pytest.raises(tvm_tensorrt.ConfigError, match="has no .npy files"):
        tvm_tensorrt.calibrate(mod, params, str(tmp_path))
    with pytest.raises(tvm_tensorrt.ConfigError, match="needs data"):
        tvm_tensorrt.calibrate(mod, params)


def test_cli_compiles_int8_from_a_calibration_folder(tmp_path):
    data = tmp_path / "calib"
    data.mkdir()
    for i, x in enumerate(batches(8, seed=5)):
        np.save(data / f"{i}.npy", x)
    cli = [sys.executable, "-m", "tvm_tensorrt.cli"]
    proc = subprocess.run([*cli, "compile", "--int8", "--calib-data", str(data), "--calib-cache",
                           str(tmp_path / "scales.json"), "-o", str(tmp_path / "int8.so")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "quantize x5" in proc.stdout and os.path.exists(tmp_path / "scales.json")
    usage = subprocess.run([*cli, "compile", "--int8"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert usage.returncode == 2 and "--int8 needs --calib-data" in usage.stderr


@pytest.mark.parametrize("name", ["deeplabv3", "convnext"])
def test_model_set_cnns_calibrate_into_one_int8_engine_close_to_fp32(name):
    path = os.path.join(os.path.dirname(__file__), "models", f"{name}.onnx")
    mod, params = tvm_tensorrt.from_onnx(path)
    shape = [int(d) for d in mod["main"].params[0].ty.shape.values]
    rng = np.random.default_rng(0)
    quantized = tvm_tensorrt.calibrate(mod, params, [rng.standard_normal(shape).astype("float32") for _ in range(64)])
    partitioned, config, decisions = partition_with_decisions(quantized)
    assert all(d.offloaded for d in decisions) and {d.subgraph for d in decisions} == {"tensorrt_0"}
    assert sum(d.op == "relax.quantize" for d in decisions) >= 10
    [func] = offloaded_functions(partitioned).values()
    assert len(build_plan(subgraph_of(func, "tensorrt_0", config), config["max_workspace_size"])) > 0
    held_back = [rng.standard_normal(shape).astype("float32") for _ in range(16)]
    assert calibration.int8_accuracy(mod, quantized, held_back)["min_cosine"] >= 0.99
