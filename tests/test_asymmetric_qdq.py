"""onnxruntime's own INT8 export (quantize_static with its defaults: QDQ, asymmetric activations
with zero points other than 0, symmetric int8 weights) stays in one TensorRT engine: asymmetric
quantize/dequantize pairs are fake-quantized in float (partition/rules/quantize.py,
converters/quantize.py), computing onnxruntime's numbers. requantize_symmetric turns them into
symmetric INT8 for real INT8 layers, at a measured cost in accuracy."""

import collections

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tvm import relax

import tvm_tensorrt
from tvm_tensorrt.backend import load_backend
from tvm_tensorrt.lowering.dispatch import offloaded_functions
from tvm_tensorrt.lowering.serialize import subgraph_of
from tvm_tensorrt.partition.checks import constant_array
from tvm_tensorrt.partition.rules.quantize import requantize_symmetric, symmetric_scale
from tvm_tensorrt.runtime.plan_builder import build_network, build_plan
from tvm_tensorrt.runtime.evaluator import evaluate_network

IMAGE = (1, 3, 32, 32)


def small_cnn(path, seed=0):
    """Conv/Relu stem, a residual block (Add), a strided Conv, GlobalAveragePool, Flatten, Gemm."""
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def weight(name, *shape):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32),
                                             name))
        return name

    def bias(name, n):
        inits.append(numpy_helper.from_array((rng.standard_normal(n) * 0.1).astype(np.float32), name))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    r1 = node("Relu", [node("Conv", ["x", weight("w1", 8, 3, 3, 3), bias("b1", 8)], "c1", pads=[1] * 4,
                            strides=[2, 2])], "r1")
    r2 = node("Relu", [node("Conv", [r1, weight("w2", 8, 8, 3, 3), bias("b2", 8)], "c2", pads=[1] * 4)], "r2")
    c3 = node("Conv", [r2, weight("w3", 8, 8, 3, 3), bias("b3", 8)], "c3", pads=[1] * 4)
    r3 = node("Relu", [node("Add", [c3, r1], "a1")], "r3")
    r4 = node("Relu", [node("Conv", [r3, weight("w4", 16, 8, 3, 3), bias("b4", 16)], "c4", pads=[1] * 4,
                            strides=[2, 2])], "r4")
    flat = node("Flatten", [node("GlobalAveragePool", [r4], "g")], "f", axis=1)
    node("Gemm", [flat, weight("wf", 10, 16), bias("bf", 10)], "y", transB=1)
    graph = helper.make_graph(nodes, "small_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, IMAGE)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def images(n, seed):
    return [np.random.default_rng(seed + i).standard_normal(IMAGE).astype(np.float32) for i in range(n)]


def quantize(source, target, **options):
    """onnxruntime's quantize_static, its defaults unless `options` say otherwise."""
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": x} for x in images(8, seed=1)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(source, str(target), Batches(), **options)
    return str(target)


VARIANTS = {"defaults": {}, "uint8 activations, per channel": {"per_channel": True, "activation_type": "QUInt8"}}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from onnxruntime.quantization import QuantType

    folder = tmp_path_factory.mktemp("asymmetric")
    source = small_cnn(folder / "float.onnx")
    found = {}
    for name, options in VARIANTS.items():
        options = {k: getattr(QuantType, v) if k == "activation_type" else v for k, v in options.items()}
        found[name] = quantize(source, folder / f"{len(found)}.onnx", **options)
    return found


def onnxruntime_outputs(path, inputs):
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return [session.run(None, {"x": x})[0] for x in inputs]


def output_step(path) -> float:
    """The scale of the model's last QuantizeLinear: one quantization step of its output."""
    model = onnx.load(path)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    last = [n for n in model.graph.node if n.op_type == "QuantizeLinear"][-1]
    return float(inits[last.input[1]])


def the_subgraph(mod, params):
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
    [func] = offloaded_functions(partitioned).values()
    subgraph = subgraph_of(func, "tensorrt_0", config)
    return subgraph, config


def network_outputs(subgraph, inputs):
    backend = load_backend()
    network = build_network(subgraph, backend)[1].network
    return network, [evaluate_network(network, backend.trt, {subgraph.inputs[0]["name"]: x})[subgraph.outputs[0]["name"]]
                     for x in inputs]


def layer_kinds(network) -> collections.Counter:
    return collections.Counter(str(network.get_layer(i).type).split(".")[-1] for i in range(network.num_layers))


def assert_within_one_step(got, expected, step, fraction=0.05):
    """Quantized outputs agree exactly except where float rounding lands on the other side of a
    half step: at most one step apart, on at most `fraction` of the values."""
    got, expected = np.stack(got), np.stack(expected)
    diff = np.abs(got.astype(np.float64) - expected)
    assert diff.max() <= step * 1.001 + 1e-6, diff.max()
    assert (diff > 1e-5).mean() <= fraction, (diff > 1e-5).mean()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_onnxruntime_default_int8_export_is_one_engine_computing_onnxruntimes_numbers(variant, models):
    path = models[variant]
    model = onnx.load(path)
    zero_points = [numpy_helper.to_array(i) for i in model.graph.initializer if i.name.endswith("_zero_point")]
    assert any(np.any(z != 0) for z in zero_points)  # asymmetric: what TensorRT's INT8 cannot take
    mod, params = tvm_tensorrt.from_onnx(path)

    report = tvm_tensorrt.explain(mod, params)
    assert all(d.offloaded for d in report.decisions), [(d.op, d.reason) for d in report.decisions if not d.offloaded]
    assert {d.subgraph for d in report.decisions} == {"tensorrt_0"}
    ops = collections.Counter(d.op for d in report.decisions)
    assert ops["relax.quantize"] >= 8 and ops["relax.nn.conv2d"] == 4

    inputs = images(6, seed=100)
    verified = tvm_tensorrt.verify(mod, params, inputs=[inputs[0]])
    assert verified.passed and len(verified.subgraphs) == 1, verified.to_table()

    subgraph, config = the_subgraph(mod, params)
    network, got = network_outputs(subgraph, inputs)
    kinds = layer_kinds(network)
    assert kinds["QUANTIZE"] == 0 and kinds["UNARY"] >= ops["relax.quantize"]  # fake-quantized: a ROUND each
    assert_within_one_step(got, onnxruntime_outputs(path, inputs), output_step(path))
    for precision in ("fp32", "fp16"):
        assert len(build_plan(subgraph, config["max_workspace_size"], precision=precision)) > 0


def test_the_partitioned_module_runs_as_onnxruntime_does(models, tmp_path):
    """The built library (its subgraph run by TVM on this GPU-less machine) agrees too."""
    import tvm

    path = models["defaults"]
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(*tvm_tensorrt.from_onnx(path))
    vm = relax.VirtualMachine(tvm_tensorrt.build(partitioned, config=config), tvm.cpu())
    inputs = images(4, seed=200)
    got = [vm["main"](tvm.runtime.tensor(x)).numpy() for x in inputs]
    assert_within_one_step(got, onnxruntime_outputs(path, inputs), output_step(path))


def test_requantized_symmetric_runs_real_int8_layers_close_to_onnxruntime(models):
    path = models["defaults"]
    mod, params = tvm_tensorrt.from_onnx(path)
    symmetric = requantize_symmetric(mod)
    quantizes = [b.value for block in symmetric["main"].body.blocks for b in block.bindings
                 if isinstance(b.value, relax.Call) and b.value.op.name == "relax.quantize"]
    assert quantizes and all(str(q.attrs.out_dtype) == "int8" and not constant_array(q.args[2]).any()
                             for q in quantizes)

    report = tvm_tensorrt.explain(symmetric, params)
    assert all(d.offloaded for d in report.decisions) and {d.subgraph for d in report.decisions} == {"tensorrt_0"}
    verified = tvm_tensorrt.verify(symmetric, params, inputs=images(1, seed=300))
    assert verified.passed and verified.precision == "int8", verified.to_table()

    subgraph, config = the_subgraph(symmetric, params)
    inputs = images(6, seed=300)
    network, got = network_outputs(subgraph, inputs)
    assert layer_kinds(network)["QUANTIZE"] == len(quantizes)  # TensorRT's INT8 quantize layers
    assert len(build_plan(subgraph, config["max_workspace_size"])) > 0
    # Measured 0.019 on outputs of magnitude ~1 (output step 0.0074): coarser steps on
    # one-sided ranges, so a few output steps off, not one
    error = max(float(np.abs(g - e).max()) for g, e in zip(got, onnxruntime_outputs(path, inputs)))
    assert 0 < error < 5 * output_step(path), error


def test_symmetric_scale_covers_the_asymmetric_range():
    # uint8, zero point 128: [-128 s, 127 s] -> 128 s / 127; int8 zero point -128 (after a ReLU): [0, 255 s]
    assert np.isclose(symmetric_scale(0.1, 128, "uint8"), 12.8 / 127)
    assert np.isclose(symmetric_scale(0.1, -128, "int8"), 25.5 / 127)
    assert np.allclose(symmetric_scale([0.1, 0.2], [0, 10], "int8"), [12.8 / 127, 0.2 * 138 / 127])


def single(make, dtype="float32"):
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((2, 3, 4), dtype))
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(make(bb, x))
        bb.emit_func_output(out)
    return bb.get()


def uint8_quantize(x):
    return relax.op.quantize(x, relax.const(0.1, "float32"), relax.const(np.uint8(128), "uint8"), axis=1,
                             out_dtype="uint8")


def test_a_uint8_quantize_read_by_other_than_a_dequantize_stays_in_tvm_saying_why():
    """TensorRT takes uint8 tensors only at network inputs and outputs; inside the engine the
    fake-quantized value is float, which only a dequantize may read."""
    mod = single(lambda bb, x: uint8_quantize(x))  # the uint8 value is the model's output
    [decision] = tvm_tensorrt.explain(mod).decisions
    assert not decision.offloaded and "uint8 read by other than dequantizes" in decision.reason

    def pair(bb, x):
        q = bb.emit(uint8_quantize(x))
        return relax.op.dequantize(q, relax.const(0.1, "float32"), relax.const(np.uint8(128), "uint8"), axis=1)

    mod = single(pair)
    assert all(d.offloaded for d in tvm_tensorrt.explain(mod).decisions)
    x = np.linspace(-20, 20, 24, dtype=np.float32).reshape(2, 3, 4)  # beyond the range: saturates
    assert tvm_tensorrt.verify(mod, inputs=[x], rtol=0, atol=1e-6).passed


def test_an_int8_pair_with_per_channel_zero_points_matches_tvm_exactly():
    scale = relax.const(np.array([0.05, 0.1, 0.2], "float32"))
    zero = relax.const(np.array([-3, 0, 100], "int8"), "int8")

    def pair(bb, x):
        q = bb.emit(relax.op.quantize(x, scale, zero, axis=1, out_dtype="int8"))
        return relax.op.dequantize(q, scale, zero, axis=1)

    mod = single(pair)
    assert all(d.offloaded for d in tvm_tensorrt.explain(mod).decisions)
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32) * 10
    x.flat[:4] = [0.025, 0.075, -0.025, 12.5]  # exact halves of the first channel's step: round half to even
    assert tvm_tensorrt.verify(mod, inputs=[x], rtol=0, atol=1e-6).passed


def _quantize_calls(partitioned):
    return [b.value for func in partitioned.functions.values() if isinstance(func, relax.Function)
            for block in func.body.blocks for b in block.bindings
            if isinstance(b.value, relax.Call) and getattr(b.value.op, "name", None) == "relax.quantize"]


def test_int8_symmetric_is_a_partition_option_and_a_cli_flag(models, capsys):
    path = models["defaults"]
    mod, params = tvm_tensorrt.from_onnx(path)
    as_exported, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
    assert config["int8_symmetric"] is False
    assert any(constant_array(q.args[2]).any() for q in _quantize_calls(as_exported))  # asymmetric: kept as is

    symmetric, config = tvm_tensorrt.partition_for_tensorrt(mod, params, int8_symmetric=True)
    quantizes = _quantize_calls(symmetric)
    assert config["int8_symmetric"] is True and quantizes
    assert all(str(q.attrs.out_dtype) == "int8" and not constant_array(q.args[2]).any() for q in quantizes)
    assert [g.name_hint for g in offloaded_functions(symmetric)] == ["tensorrt_0"]

    from tvm_tensorrt.cli import main

    assert main(["explain", str(path), "--int8-symmetric", "--json"]) == 0
    assert '"int8_symmetric": true' in capsys.readouterr().out
