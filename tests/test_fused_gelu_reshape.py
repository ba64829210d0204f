"""The gelu pattern (converters/fused_gelu.py) and reshapes to symbolic dims without shape
arithmetic (converters/reshape_dims.py): fewer layers, the same numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tvm
from onnx import helper
from tvm import relax
from tvm.ir.prim.expr import Var as SizeVar

import tvm_tensorrt
from tvm_tensorrt.backend import load_backend
from tvm_tensorrt.converters.patterns import find_matches
from tvm_tensorrt.converters.reshape_dims import plan_reshape
from tvm_tensorrt.lowering.dispatch import offloaded_functions
from tvm_tensorrt.lowering.serialize import subgraph_of
from tvm_tensorrt.runtime.plan_builder import build_network
from tvm_tensorrt.verification import evaluate_network
from test_fused_layers import ALL, _model, _model_path, layer_types, network_layers

C = np.float32


def _gelu_model(form, constants=None):
    """x @ w -> GELU written out as exporters write it -> @ w2."""
    rng = np.random.default_rng(11)
    k = {"half": 0.5, "one": 1.0, "root2": math.sqrt(2.0), "scale": math.sqrt(2.0 / math.pi), "cubic": 0.044715,
         "three": 3.0}
    k.update(constants or {})
    weights = {name: C(value) for name, value in k.items()}
    weights.update(w=rng.standard_normal((16, 32)).astype(C), w2=rng.standard_normal((32, 8)).astype(C) * 0.2)
    mm = [helper.make_node("MatMul", ["x", "w"], ["h"])]
    if form == "erf":  # ViT / BERT: (h * (1 + erf(h / sqrt 2))) * 0.5
        body = [helper.make_node("Div", ["h", "root2"], ["a"]), helper.make_node("Erf", ["a"], ["e"]),
                helper.make_node("Add", ["e", "one"], ["p"]), helper.make_node("Mul", ["h", "p"], ["q"]),
                helper.make_node("Mul", ["q", "half"], ["g"])]
    elif form == "tanh":  # GPT-2's NewGELU: (0.5 * h) * (1 + tanh(s * (h + 0.044715 * h ** 3)))
        body = [helper.make_node("Mul", ["half", "h"], ["hh"]), helper.make_node("Pow", ["h", "three"], ["c"]),
                helper.make_node("Mul", ["c", "cubic"], ["kc"]), helper.make_node("Add", ["h", "kc"], ["i"]),
                helper.make_node("Mul", ["i", "scale"], ["si"]), helper.make_node("Tanh", ["si"], ["t"]),
                helper.make_node("Add", ["one", "t"], ["p"]), helper.make_node("Mul", ["hh", "p"], ["g"])]
    else:  # BLOOM / Megatron: h * 0.5 * (1 + tanh(s * h * (1 + 0.044715 * h * h)))
        body = [helper.make_node("Mul", ["h", "half"], ["hh"]), helper.make_node("Mul", ["h", "h"], ["sq"]),
                helper.make_node("Mul", ["cubic", "sq"], ["ksq"]), helper.make_node("Add", ["one", "ksq"], ["i"]),
                helper.make_node("Mul", ["scale", "h"], ["sh"]), helper.make_node("Mul", ["sh", "i"], ["si"]),
                helper.make_node("Tanh", ["si"], ["t"]), helper.make_node("Add", ["t", "one"], ["p"]),
                helper.make_node("Mul", ["hh", "p"], ["g"])]
    return _model(mm + body + [helper.make_node("MatMul", ["g", "w2"], ["y"])], (2, 5, 16), weights)


def _activations(mod, params, **options) -> list:
    """The activation type of every activation layer of the networks the runtime builds."""
    trt = load_backend().trt
    pmod, config = tvm_tensorrt.partition_for_tensorrt(mod, params, **options)
    found, keep = [], []
    for gvar, func in offloaded_functions(pmod).items():
        built = build_network(subgraph_of(func, gvar.name_hint, config))
        keep.append(built)  # the builder owns the network
        network = built[1].network
        for i in range(network.num_layers):
            layer = network.get_layer(i)
            if layer.type.name == "ACTIVATION":
                layer.__class__ = trt.IActivationLayer
                found.append(layer.type.name)
    return found


@pytest.mark.parametrize("form, activation", [("erf", "GELU_ERF"), ("tanh", "GELU_TANH"), ("tanh_factored", "GELU_TANH")])
def test_decomposed_gelu_is_one_activation_and_verifies(form, activation):
    mod, params = tvm_tensorrt.from_onnx(_gelu_model(form))
    assert _activations(mod, params) == [activation]
    fused, pieces = layer_types(network_layers(mod, params)), layer_types(network_layers(mod, params, no_fuse=["gelu"]))
    assert fused["ELEMENTWISE"] == 0 and fused["UNARY"] == 0 and fused["ACTIVATION"] == 1, fused
    assert pieces["ELEMENTWISE"] >= 4 and sum(pieces.values()) - sum(fused.values()) >= 6, pieces
    assert _activations(mod, params, no_fuse=("gelu",)) == ([] if form == "erf" else ["TANH"])
    matches, refused = _refusals(mod, params)  # an inner product of the GELU is no refused GELU
    assert [m.key for m in matches] == ["gelu"] and not refused, refused
    for precision in ("fp32", "fp16"):
        report = tvm_tensorrt.verify(mod, params, precision=precision)
        assert report.passed, report.to_table()


def _refusals(mod, params):
    pmod, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
    [(gvar, func)] = offloaded_functions(pmod).items()
    return find_matches(subgraph_of(func, "tensorrt_0", config))


def test_gelu_look_alikes_stay_as_pieces_with_the_reason():
    """Another cubic coefficient, or a piece also read elsewhere: the pieces stay, each layer."""
    mod, params = tvm_tensorrt.from_onnx(_gelu_model("tanh", {"cubic": 0.05}))
    matches, refused = _refusals(mod, params)
    assert not [m for m in matches if m.key == "gelu"]
    assert any("other constants: the cubic coefficient 0.05" in reason for _, _, reason in refused), refused
    assert layer_types(network_layers(mod, params)) == layer_types(network_layers(mod, params, no_fuse=ALL))
    assert tvm_tensorrt.verify(mod, params).passed

    model = _gelu_model("erf")
    model.graph.output.append(helper.make_empty_tensor_value_info("e"))  # erf's value is an output too
    mod, params = tvm_tensorrt.from_onnx(model)
    matches, refused = _refusals(mod, params)
    assert not matches and any("also read outside the pattern" in reason for _, _, reason in refused), refused
    assert layer_types(network_layers(mod, params)) == layer_types(network_layers(mod, params, no_fuse=ALL))


@pytest.mark.parametrize("approximate, activation", [("none", "GELU_ERF"), ("tanh", "GELU_TANH")])
def test_evaluator_gelu_matches_onnxruntime_on_the_parser_network(approximate, activation):
    """ONNX Gelu-20 as NVIDIA's parser builds it: the one activation layer the pattern makes."""
    from test_evaluator import Parsed, _onnxruntime, assert_matches
    model = _model([helper.make_node("Gelu", ["x"], ["y"], approximate=approximate)], (4, 64), {}, opset=20)
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", 1, [4, 64]))
    parsed = Parsed(model)
    layer = parsed.network.get_layer(0)
    layer.__class__ = parsed.trt.IActivationLayer
    assert parsed.network.num_layers == 1 and layer.type.name == activation
    x = (np.random.default_rng(3).standard_normal((4, 64)) * 4).astype(C)
    assert_matches(parsed.evaluate({"x": x})["y"], _onnxruntime(model, {"x": x})["y"], approximate)


@pytest.mark.parametrize("name", ["gpt2_decoder", "vit"])
def test_transformer_has_at_most_half_the_parser_layers(name):
    from test_evaluator import Parsed
    import onnx
    path = _model_path(f"{name}.onnx")
    ours = sum(layer_types(network_layers(*tvm_tensorrt.from_onnx(path))).values())
    assert 2 * ours <= Parsed(onnx.load(path)).network.num_layers, ours


# ---- reshapes to symbolic dims -------------------------------------------------------------------
def test_reshape_plan_copies_and_infers_symbolic_dims():
    hw = ["mul", "h", "w"]
    assert plan_reshape(["b", hw, 2, 4], ["b", hw, 8]) == ([0, 0, 2, 4], True)
    assert plan_reshape(["b", hw, 8], ["b", "h", "w", 8]) == ([0, -1, 8], True)
    assert plan_reshape(["b", "h", "w", 8], ["b", hw, 8]) == ([0, -1, "w", 8], True)
    assert plan_reshape(["b", "s"], ["s", "b"]) == ([-1, "s"], False)  # no dim where it was: none copied
    assert plan_reshape(["b", 0, "h"], ["b", 0, "h"]) == ([-1, 0, "h"], False)  # a 0 is an empty dim there


B, H, W = (SizeVar(n, "int64") for n in "bhw")


def _symbolic_reshapes(x):
    """(b, 8, h, w) -> (b, h * w, 8) -> (b, h * w, 2, 4) -> (b, h * w, 8)[..., :4] and (b, h, w, 8)."""
    tokens = relax.op.reshape(relax.op.permute_dims(x, [0, 2, 3, 1]), (B, H * W, 8))
    heads = relax.op.reshape(relax.op.nn.relu(tokens), (B, H * W, 2, 4))
    merged = relax.op.reshape(relax.op.nn.relu(heads), (B, H * W, 8))
    half = relax.op.strided_slice(merged, axes=[2], begin=[0], end=[4])
    grid = relax.op.reshape(merged, (B, H, W, 8))
    return relax.Tuple([relax.op.sigmoid(half), relax.op.sigmoid(grid)])


def test_symbolic_reshapes_need_no_shape_arithmetic_and_compute_what_tvm_does():
    from op_samples import single_op_module
    from test_symbolic_spatial import whole_and_built
    mod = single_op_module(_symbolic_reshapes, (B, 8, H, W))
    subgraph, backend, built = whole_and_built(mod, (("b", 1, 2, 3), ("h", 1, 4, 6), ("w", 1, 4, 6)))
    network = built.network
    per_node: dict = {}
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        node = layer.name.split("/")[1].split("#")[0]
        per_node.setdefault(node, []).append(layer.type.name)
    reshapes = {node: types for node, types in per_node.items() if node.endswith(":reshape")}
    # three copy their symbolic dims (one shuffle each), the last computes w: shape, gather of
    # the w input dim (shared), constants [0] and [-1, 8] (h inferred), one concatenation
    assert sorted(len(types) for types in reshapes.values()) == [1, 1, 1, 7], reshapes
    slices = [types for node, types in per_node.items() if node.endswith(":strided_slice")]
    assert slices == [["SLICE", "SHAPE", "CONSTANT", "ELEMENTWISE"]], slices  # the size: shape - (0, 0, 4)

    vm = relax.VirtualMachine(tvm.compile(mod, target="llvm"), tvm.cpu())
    for b, h, w in ((2, 4, 5), (3, 6, 1)):
        x = np.random.default_rng(h).standard_normal((b, 8, h, w)).astype(C)
        expected = vm["main"](tvm.runtime.tensor(x))
        got = evaluate_network(network, backend.trt, {subgraph.inputs[0]["name"]: x})
        for desc, value in zip(subgraph.outputs, expected):
            np.testing.assert_allclose(got[desc["name"]], value.numpy(), rtol=1e-6, atol=1e-6)


# ---- a linear layer the exporter flattened to 2-D --------------------------------------------------
def _flattened_gemm_model(back=(2, 5, 8)):
    """GPT-2's Conv1D as exported: reshape (2, 5, 16) -> (10, 16), Gemm with bias, reshape back."""
    rng = np.random.default_rng(12)
    weights = {"w": rng.standard_normal((8, 16)).astype(C), "b": rng.standard_normal(8).astype(C),
               "flat": np.array([-1, 16], np.int64), "back": np.array(back, np.int64)}
    nodes = [helper.make_node("Reshape", ["x", "flat"], ["f"]),
             helper.make_node("Gemm", ["f", "w", "b"], ["g"], transB=1),
             helper.make_node("Reshape", ["g", "back"], ["r"]),
             helper.make_node("Relu", ["r"], ["y"])]
    return _model(nodes, (2, 5, 16), weights)


def test_flattened_linear_is_one_batched_matmul_and_verifies():
    mod, params = tvm_tensorrt.from_onnx(_flattened_gemm_model())
    fused = layer_types(network_layers(mod, params))
    pieces = layer_types(network_layers(mod, params, no_fuse=["flattened_linear"]))
    assert fused["SHUFFLE"] == 0 and fused["MATRIX_MULTIPLY"] == 1 and fused["ELEMENTWISE"] == 1, fused
    assert pieces["SHUFFLE"] == 2 and sum(pieces.values()) == sum(fused.values()) + 2, pieces
    for precision in ("fp32", "fp16"):
        report = tvm_tensorrt.verify(mod, params, precision=precision)
        assert report.passed, report.to_table()
    # split back to other leading dims than the input's: not the same rows, the pieces stay
    mod, params = tvm_tensorrt.from_onnx(_flattened_gemm_model(back=(5, 2, 8)))
    assert layer_types(network_layers(mod, params))["SHUFFLE"] == 2
    assert tvm_tensorrt.verify(mod, params).passed
