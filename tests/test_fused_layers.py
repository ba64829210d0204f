"""Fused patterns (converters/patterns.py): the pieces exporters write become TensorRT's own
normalization layer, the rest of the network unchanged, the numbers the same (verify in FP32 and
FP16), and each pattern can be turned off (no_fuse). The evaluator's kernels for the fused layers
are checked on the networks NVIDIA's parser builds from ONNX's own ops."""

from __future__ import annotations

import collections

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import tvm_tensorrt
import tvm_tensorrt.partition  # noqa: F401  (the partitioner before the serialiser: import order)
from tvm_tensorrt.converters.patterns import PATTERN_KEYS, find_matches
from tvm_tensorrt.errors import ConfigError
from tvm_tensorrt.lowering.serialize import subgraph_of
from tvm_tensorrt.models import DEFAULT_MODEL
from tvm_tensorrt.runtime.plan_builder import build_network

ALL = sorted(PATTERN_KEYS)
F = TensorProto.FLOAT


def _model(nodes, x_shape, weights, opset=13, outputs=("y",)):
    graph = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", F, list(x_shape))],
                              [helper.make_empty_tensor_value_info(o) for o in outputs],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in weights.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _centred(x, axes, prefix=""):
    """ReduceMean -> Sub -> Pow -> ReduceMean -> Add -> Sqrt -> Div, as torch exports LayerNorm."""
    p = prefix
    return [helper.make_node("ReduceMean", [x], [p + "mu"], axes=axes),
            helper.make_node("Sub", [x, p + "mu"], [p + "d"]),
            helper.make_node("Pow", [p + "d", "two"], [p + "sq"]),
            helper.make_node("ReduceMean", [p + "sq"], [p + "var"], axes=axes),
            helper.make_node("Add", [p + "var", "eps"], [p + "ve"]),
            helper.make_node("Sqrt", [p + "ve"], [p + "std"]),
            helper.make_node("Div", [p + "d", p + "std"], [p + "n"])]


def _rng_weights(rng, **shapes):
    w = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    w.update(two=np.float32(2.0), eps=np.float32(1e-5), one=np.float32(1.0))
    return w


def layer_norm_model():
    w = _rng_weights(np.random.default_rng(0), gamma=(16,), beta=(16,), w=(16, 16))
    nodes = _centred("x", [-1]) + [helper.make_node("Mul", ["n", "gamma"], ["g"]),
                                   helper.make_node("Add", ["g", "beta"], ["b"]),
                                   helper.make_node("MatMul", ["b", "w"], ["y"])]
    return _model(nodes, (2, 5, 16), w)


def rms_norm_model():
    """LLaMA's: x * (1 / sqrt(mean(x ** 2) + eps)) * weight."""
    w = _rng_weights(np.random.default_rng(1), weight=(16,), w=(16, 16))
    nodes = [helper.make_node("Pow", ["x", "two"], ["sq"]),
             helper.make_node("ReduceMean", ["sq"], ["ms"], axes=[-1]),
             helper.make_node("Add", ["ms", "eps"], ["mse"]),
             helper.make_node("Sqrt", ["mse"], ["rms"]),
             helper.make_node("Div", ["one", "rms"], ["inv"]),
             helper.make_node("Mul", ["x", "inv"], ["n"]),
             helper.make_node("Mul", ["n", "weight"], ["g"]),
             helper.make_node("MatMul", ["g", "w"], ["y"])]
    return _model(nodes, (2, 5, 16), w)


def group_norm_model():
    """diffusers' GroupNorm as exported: reshape to (N, G, -1), the statistics, reshape back, affine."""
    w = _rng_weights(np.random.default_rng(2), gamma=(8, 1, 1), beta=(8, 1, 1), k=(8, 8, 1, 1))
    w.update(grouped=np.array([0, 2, -1], np.int64), back=np.array([0, 8, 4, 4], np.int64))
    nodes = [helper.make_node("Reshape", ["x", "grouped"], ["xg"])] + _centred("xg", [2]) + \
        [helper.make_node("Reshape", ["n", "back"], ["nb"]),
         helper.make_node("Mul", ["nb", "gamma"], ["g"]),
         helper.make_node("Add", ["g", "beta"], ["b"]),
         helper.make_node("Conv", ["b", "k"], ["y"])]
    return _model(nodes, (2, 8, 4, 4), w)


def instance_norm_model():
    w = _rng_weights(np.random.default_rng(3), gamma=(1, 8, 1, 1), beta=(1, 8, 1, 1), k=(8, 8, 1, 1))
    nodes = _centred("x", [2, 3]) + [helper.make_node("Mul", ["n", "gamma"], ["g"]),
                                     helper.make_node("Add", ["g", "beta"], ["b"]),
                                     helper.make_node("Conv", ["b", "k"], ["y"])]
    return _model(nodes, (2, 8, 4, 4), w)


def escaping_mean_model():
    """The mean is an output of its own too: the pattern must not swallow it."""
    w = _rng_weights(np.random.default_rng(4), gamma=(16,), beta=(16,))
    nodes = _centred("x", [-1]) + [helper.make_node("Mul", ["n", "gamma"], ["g"]),
                                   helper.make_node("Add", ["g", "beta"], ["y"]),
                                   helper.make_node("Relu", ["mu"], ["m"])]
    return _model(nodes, (2, 5, 16), w, outputs=("y", "m"))


def network_layers(mod, params, no_fuse=(), precision="fp32") -> list:
    """Per subgraph, the (type, name) of every layer of the network the runtime builds."""
    pmod, config = tvm_tensorrt.partition_for_tensorrt(mod, params, no_fuse=no_fuse)
    found = []
    for gvar, func in sorted(pmod.functions.items(), key=lambda kv: kv[0].name_hint):
        if func.attrs is not None and func.attrs.get("Codegen") == "tensorrt":
            _, built, _ = build_network(subgraph_of(func, gvar.name_hint, config), precision=precision)
            network = built.network
            found.append([(network.get_layer(i).type.name, network.get_layer(i).name)
                          for i in range(network.num_layers)])
    return found


def layer_types(layers) -> collections.Counter:
    return collections.Counter(kind for subgraph in layers for kind, _ in subgraph)


NORM_MODELS = {"layer_norm": layer_norm_model, "rms_norm": rms_norm_model, "group_norm": group_norm_model,
               "instance_norm": instance_norm_model}


@pytest.mark.parametrize("key", sorted(NORM_MODELS))
def test_decomposed_norm_is_fused_and_verifies(key):
    mod, params = tvm_tensorrt.from_onnx(NORM_MODELS[key]())
    pieces = layer_types(network_layers(mod, params, no_fuse=ALL))
    fused = layer_types(network_layers(mod, params))
    assert pieces["NORMALIZATION"] == 0 and pieces["REDUCE"] >= 1
    assert sum(fused.values()) < sum(pieces.values()), (fused, pieces)
    if key == "rms_norm":  # the layer always centres: float32 statistics instead, one reduction
        assert fused["NORMALIZATION"] == 0 and fused["REDUCE"] == 1 and fused["CAST"] == 0
        half = layer_types(network_layers(mod, params, precision="fp16"))
        assert half["CAST"] >= 4  # statistics widened to float32 and back, besides the edges
    else:  # one normalization layer, no reduction, no element-wise arithmetic left
        assert fused["NORMALIZATION"] == 1 and fused["REDUCE"] == 0 and fused["ELEMENTWISE"] == 0, fused
    for precision in ("fp32", "fp16"):
        report = tvm_tensorrt.verify(mod, params, precision=precision)
        assert report.passed, report.to_table()


def test_each_key_turns_its_pattern_off_alone():
    mod, params = tvm_tensorrt.from_onnx(group_norm_model())
    assert layer_types(network_layers(mod, params, no_fuse=["group_norm"]))["NORMALIZATION"] == 0
    assert layer_types(network_layers(mod, params, no_fuse=["layer_norm", "rms_norm"]))["NORMALIZATION"] == 1


def test_a_pattern_whose_piece_is_read_elsewhere_is_left_as_pieces():
    mod, params = tvm_tensorrt.from_onnx(escaping_mean_model())
    pmod, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
    (func,) = [f for f in pmod.functions.values() if f.attrs is not None and f.attrs.get("Codegen") == "tensorrt"]
    matches, refused = find_matches(subgraph_of(func, "tensorrt_0", config))
    assert not matches and any("also read outside the pattern" in reason for _, _, reason in refused), refused
    assert layer_types(network_layers(mod, params)) == layer_types(network_layers(mod, params, no_fuse=ALL))
    assert tvm_tensorrt.verify(mod, params).passed


def _cnn_models():
    import os
    light = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", "light_squeezenet.onnx")
    return [DEFAULT_MODEL, light]


@pytest.mark.parametrize("path", _cnn_models(), ids=["default_cnn", "squeezenet"])
def test_models_without_patterns_build_the_same_networks(path):
    mod, params = tvm_tensorrt.from_onnx(path)
    assert network_layers(mod, params) == network_layers(mod, params, no_fuse=ALL)


def test_no_fuse_names_known_patterns():
    mod, params = tvm_tensorrt.from_onnx(layer_norm_model())
    with pytest.raises(ConfigError, match="unknown patterns.*attn"):
        tvm_tensorrt.partition_for_tensorrt(mod, params, no_fuse=["attn"])
    with pytest.raises(ConfigError, match="not the string"):
        tvm_tensorrt.partition_for_tensorrt(mod, params, no_fuse="attention")


def test_relax_group_norm_is_one_normalization_layer():
    """ONNX GroupNormalization (opset 21, per-channel scale): TVM writes nn.group_norm with ones
    and zeros (center=False, scale=False) and the affine after it; all of it is one layer."""
    rng = np.random.default_rng(5)
    w = {"s": rng.standard_normal(8).astype(np.float32), "b": rng.standard_normal(8).astype(np.float32)}
    model = _model([helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=2, epsilon=1e-5)],
                   (2, 8, 4, 4), w, opset=21)
    mod, params = tvm_tensorrt.from_onnx(model)
    types = layer_types(network_layers(mod, params))
    assert types["NORMALIZATION"] == 1 and types["ELEMENTWISE"] == 0, types
    assert layer_types(network_layers(mod, params, no_fuse=ALL))["ELEMENTWISE"] == 2
    for precision in ("fp32", "fp16"):
        assert tvm_tensorrt.verify(mod, params, precision=precision).passed


# ---- the evaluator's kernels for these layers, on the networks NVIDIA's parser builds ---------------
def _norm_case(op, opset, x_shape, weights, **attrs):
    rng = np.random.default_rng(7)
    inits = {k: (rng.standard_normal(s) * 0.5 + (1.0 if k == "s" else 0.0)).astype(np.float32)
             for k, s in weights.items()}
    model = _model([helper.make_node(op, ["x"] + list(weights), ["y"], **attrs)], x_shape, inits, opset=opset)
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", F, list(x_shape)))
    return model, {"x": (rng.standard_normal(x_shape) * 3 + 1).astype(np.float32)}


PARSER_NORM_CASES = {
    "layer_norm_17_last_axis": ("LayerNormalization", 17, (2, 5, 16), {"s": (16,), "b": (16,)}, {"axis": -1}),
    "layer_norm_17_two_axes": ("LayerNormalization", 17, (2, 3, 4, 5), {"s": (4, 5), "b": (4, 5)}, {"axis": 2}),
    "group_norm_18_per_group": ("GroupNormalization", 18, (2, 6, 3, 4), {"s": (3,), "b": (3,)}, {"num_groups": 3}),
    "group_norm_21_per_channel": ("GroupNormalization", 21, (2, 6, 3, 4), {"s": (6,), "b": (6,)}, {"num_groups": 3}),
    "instance_norm": ("InstanceNormalization", 17, (2, 6, 3, 4), {"s": (6,), "b": (6,)}, {"epsilon": 1e-3}),
    "rms_norm_23": ("RMSNormalization", 23, (2, 5, 16), {"s": (16,)}, {"axis": -1}),
}


@pytest.mark.parametrize("name", sorted(PARSER_NORM_CASES))
def test_evaluator_normalization_matches_onnxruntime_on_parser_networks(name):
    from test_evaluator import Parsed, _onnxruntime, assert_matches
    op, opset, shape, weights, attrs = PARSER_NORM_CASES[name]
    model, feeds = _norm_case(op, opset, shape, weights, **attrs)
    parsed = Parsed(model)
    if op != "RMSNormalization":
        assert parsed.layer_types["NORMALIZATION"] == 1
    assert_matches(parsed.evaluate(feeds)["y"], _onnxruntime(model, feeds)["y"], name)


# IAttention's and IRotaryEmbedding's kernels are checked with the other layers' in test_evaluator.py
# (SUPPORTED_NODE_CASES: ONNX's Attention and RotaryEmbedding backend cases as NVIDIA's parser builds them).


# ---- attention -------------------------------------------------------------------------------------
def _model_path(name):
    import os
    return os.path.join(os.path.dirname(__file__), "models", name)


def _attention_layers(mod, params, **options):
    """The IAttention of every ATTENTION_INPUT layer of the networks the runtime builds."""
    pmod, config = tvm_tensorrt.partition_for_tensorrt(mod, params, **options)
    found, keep = [], []
    for gvar, func in pmod.functions.items():
        if func.attrs is not None and func.attrs.get("Codegen") == "tensorrt":
            builder, built, logger = build_network(subgraph_of(func, gvar.name_hint, config))
            keep.append((builder, built, logger))
            network = built.network
            for i in range(network.num_layers):
                layer = network.get_layer(i)
                if layer.type.name == "ATTENTION_INPUT":
                    layer.__class__ = _trt().IAttentionInputLayer
                    found.append((layer.attention.causal_kind.name, layer.attention.mask is not None))
    return found


def _trt():
    from tvm_tensorrt.backend import load_backend
    return load_backend().trt


@pytest.mark.parametrize("name, expected", [
    ("llama_block.onnx", [("UPPER_LEFT", False)] * 2),  # GQA (4 query, 2 KV heads), constant causal mask
    ("bert_encoder.onnx", [("NONE", True)] * 2),  # the padding mask computed from attention_mask
    ("exports/sam_vit.onnx", [("NONE", True)] * 2),  # (B * H, S, D), relative-position bias as the mask
])
def test_attention_is_one_layer_and_verifies(name, expected):
    import json
    import os
    from model_utils import manifest_inputs
    mod, params = tvm_tensorrt.from_onnx(_model_path(name))
    with open(_model_path("exports/manifest.json")) as f:
        manifest = json.load(f)
    key = os.path.basename(name)[:-5]
    inputs = manifest_inputs(manifest[key], 0) if name.startswith("exports/") else None
    fused = layer_types(network_layers(mod, params))
    pieces = layer_types(network_layers(mod, params, no_fuse=["attention"]))
    assert fused["ATTENTION_INPUT"] == fused["ATTENTION_OUTPUT"] == 2 and fused["SOFTMAX"] == 0
    assert pieces["ATTENTION_INPUT"] == 0 and pieces["SOFTMAX"] == 2
    assert fused["MATRIX_MULTIPLY"] == pieces["MATRIX_MULTIPLY"] - 4  # QK^T and PV of each block
    assert _attention_layers(mod, params) == expected
    for precision in ("fp32", "fp16"):
        report = tvm_tensorrt.verify(mod, params, inputs=inputs, precision=precision)
        assert report.passed, report.to_table()


def test_cli_no_fuse_flag(tmp_path, capsys):
    from tvm_tensorrt.cli import main
    path = str(tmp_path / "ln.onnx")
    onnx.save(layer_norm_model(), path)
    assert main(["explain", path, "--no-fuse", "attention", "--no-fuse", "layer_norm"]) == 0
    assert main(["explain", path, "--no-fuse", "attn"]) != 0
    err = capsys.readouterr().err
    assert "--no-fuse names unknown patterns ['attn']" in err and "no_fuse" not in err.replace("--no-fuse", ""), err


# ---- rotary embedding ------------------------------------------------------------------------------
def test_rotary_embedding_is_one_layer_and_verifies(monkeypatch):
    """LLaMA's rotate-half with constant caches, on Q and K of both blocks: four rotary layers;
    the same layer made interleaved (another rotation) fails verify, so verify checks them."""
    mod, params = tvm_tensorrt.from_onnx(_model_path("llama_block.onnx"))
    fused = layer_types(network_layers(mod, params))
    pieces = layer_types(network_layers(mod, params, no_fuse=["rotary_embedding"]))
    assert fused["ROTARY_EMBEDDING"] == 4 and pieces["ROTARY_EMBEDDING"] == 0
    assert pieces["CONCATENATION"] - fused["CONCATENATION"] == 4 and pieces["SLICE"] - fused["SLICE"] == 8
    for precision in ("fp32", "fp16"):
        report = tvm_tensorrt.verify(mod, params, precision=precision)
        assert report.passed, report.to_table()
    real = _trt().INetworkDefinition.add_rotary_embedding
    monkeypatch.setattr(_trt().INetworkDefinition, "add_rotary_embedding",
                        lambda net, x, c, s, interleaved, dim: real(net, x, c, s, True, dim))
    assert not tvm_tensorrt.verify(mod, params).passed


def test_a_fused_network_tensorrt_cannot_build_is_built_from_its_pieces(monkeypatch, caplog):
    """TensorRT-RTX 1.7 fails to build some fused layers (its attention on a Whisper decoder
    step's shapes: Myelin's CHECK(def_tactic_desc)); the engine is then built from the pieces."""
    from tvm_tensorrt.runtime import plan_builder

    mod, params = tvm_tensorrt.from_onnx(NORM_MODELS["layer_norm"]())
    pmod, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
    [(gvar, func)] = [(g, f) for g, f in pmod.functions.items() if f.attrs is not None and f.attrs.get("Codegen")]
    subgraph = subgraph_of(func, gvar.name_hint, config)
    real_builder = plan_builder.new_builder

    class RefusesNormalization:  # TensorRT's builder, failing like TensorRT on a network with the fused layer
        def __init__(self, trt):
            self.builder = real_builder(trt)

        def __getattr__(self, name):
            return getattr(self.builder, name)

        def build_serialized_network(self, network, config):
            kinds = {network.get_layer(i).type.name for i in range(network.num_layers)}
            return None if "NORMALIZATION" in kinds else self.builder.build_serialized_network(network, config)

    monkeypatch.setattr(plan_builder, "new_builder", RefusesNormalization)
    stats: dict = {}
    with caplog.at_level("WARNING", logger="tvm_tensorrt"):
        plan = plan_builder.build_plan(subgraph, 1 << 28, stats=stats)
    assert len(plan) > 0
    assert any("building it from their pieces" in r.getMessage() for r in caplog.records)
    assert stats["layers"] == sum(layer_types(network_layers(mod, params, no_fuse=ALL)).values())
