"""Pre-quantized (QDQ) models: quantize/dequantize pairs partition inside the TensorRT subgraph,
the networks carry INT8 quantize/dequantize layers (quantized weights stay int8 constants), the
engines build, verify passes at INT8 tolerance, and the library matches onnxruntime."""

import os

import numpy as np
import onnx
import pytest

import tvm_tensorrt
from tvm_tensorrt.backend import load_backend
from tvm_tensorrt.lowering.dispatch import offloaded_functions
from tvm_tensorrt.lowering.serialize import subgraph_of
from tvm_tensorrt.models import DEFAULT_MODEL
from tvm_tensorrt.partition.api import partition_with_decisions
from tvm_tensorrt.runtime.plan_builder import build_network, build_plan
from model_utils import run_in_fresh_process

MODELS = os.path.join(os.path.dirname(__file__), "models")


def model_feeds(path, seed):
    model = onnx.load(path, load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    rng = np.random.default_rng(seed)
    feeds = {}
    for info in (i for i in model.graph.input if i.name not in inits):
        shape = [d.dim_value for d in info.type.tensor_type.shape.dim]
        float_input = info.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        feeds[info.name] = rng.standard_normal(shape).astype("float32") if float_input else \
            rng.integers(0, 2, shape).astype("int64")
    return feeds


def quantized(source, target, symmetric=True, **options):
    """The model quantized by onnxruntime's quantize_static (QDQ format, int8, per channel)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([model_feeds(source, seed) for seed in range(8)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(source, str(target), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    extra_options={"ActivationSymmetric": symmetric}, **options)
    return str(target)


@pytest.fixture(scope="module")
def qdq_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qdq")
    return {"cnn": quantized(DEFAULT_MODEL, folder / "cnn.onnx"),
            "bert": quantized(os.path.join(MODELS, "bert_encoder.onnx"), folder / "bert.onnx",
                              op_types_to_quantize=["MatMul"])}


@pytest.mark.parametrize("name", ["cnn", "bert"])
def test_a_qdq_model_runs_int8_in_one_engine(name, qdq_models, tmp_path):
    path = qdq_models[name]
    mod, params = tvm_tensorrt.from_onnx(path)
    partitioned, config, decisions = partition_with_decisions(mod, params)
    assert all(d.offloaded for d in decisions), [d for d in decisions if not d.offloaded]
    [func] = offloaded_functions(partitioned).values()
    ops = [d.op for d in decisions]
    assert ops.count("relax.quantize") >= 4 and ops.count("relax.dequantize") >= ops.count("relax.quantize")

    subgraph = subgraph_of(func, "tensorrt_0", config)
    network = build_network(subgraph, load_backend())[1].network
    layers = [network.get_layer(i) for i in range(network.num_layers)]
    kinds = [str(layer.type).split(".")[-1] for layer in layers]
    assert kinds.count("QUANTIZE") >= 4 and kinds.count("DEQUANTIZE") >= 4
    int8_constants = [layer for layer in layers if str(layer.type).endswith("CONSTANT")
                      and layer.get_output(0).dtype == load_backend().trt.int8]
    assert int8_constants  # quantized weights stay int8 in the engine
    assert len(build_plan(subgraph, config["max_workspace_size"])) > 0

    report = tvm_tensorrt.verify(mod, params)
    assert report.passed and report.precision == "int8", report.to_table()

    library = str(tmp_path / "model.so")
    tvm_tensorrt.build(partitioned, config=config).export_library(library)
    feeds = model_feeds(path, seed=100)
    import onnxruntime as ort

    expected = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    if len(feeds) == 1:
        got, log = run_in_fresh_process(library, next(iter(feeds.values())), str(tmp_path))
        np.testing.assert_allclose(got, expected, atol=0.05)
        assert "Finished building TensorRT engine for subgraph tensorrt_0" in log
    else:
        got = tvm_tensorrt.load(library).run(*feeds.values())[0]
        np.testing.assert_allclose(got, expected, atol=0.05)


def test_an_asymmetric_quantization_is_fake_quantized_in_one_engine(tmp_path):
    """Zero points other than 0 (TensorRT's INT8 is symmetric): the pairs compute in float in the
    engine (tests/test_asymmetric_qdq.py checks the numbers against onnxruntime)."""
    path = quantized(DEFAULT_MODEL, tmp_path / "asymmetric.onnx", symmetric=False)
    report = tvm_tensorrt.explain(*tvm_tensorrt.from_onnx(path))
    assert all(d.offloaded for d in report.decisions), [(d.op, d.reason) for d in report.decisions if not d.offloaded]
    assert {d.subgraph for d in report.decisions} == {"tensorrt_0"}


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_a_qdq_model_builds_with_half_precision_around_its_int8_layers(precision, qdq_models):
    """The float side of each quantize/dequantize (and its scale) takes the engine's precision."""
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(*tvm_tensorrt.from_onnx(qdq_models["cnn"]))
    [func] = offloaded_functions(partitioned).values()
    assert len(build_plan(subgraph_of(func, "tensorrt_0", config), config["max_workspace_size"],
                          precision=precision)) > 0
