"""The forms of attention and rotary embedding that real exports write beyond the plain ones
(test_fused_layers.py): rotary caches computed in the graph (the LLM exports), partial rotary,
stacked masks (T5's position bias), Swin's shifted-window mask, `where` masks, and what is left
as pieces (soft-capping, cos and sin whose halves cannot be shown equal). Each model is small,
built with onnx.helper; one LLM export checks the whole."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import tvm_tensorrt
import tvm_tensorrt.partition  # noqa: F401  (the partitioner before the serialiser: import order)
from test_fused_layers import _attention_layers, _model_path, layer_types, network_layers
from tvm_tensorrt.converters.patterns import find_matches
from tvm_tensorrt.lowering.serialize import subgraph_of

F = TensorProto.FLOAT
H, S, D = 2, 4, 8  # heads, tokens, head size


def _graph(nodes, inputs, weights, opset=17):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(v).astype(np.float32) * 0.5 if isinstance(v, tuple) else
                                     np.asarray(v), k) for k, v in weights.items()]
    graph = helper.make_graph(nodes, "m", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                              [helper.make_empty_tensor_value_info("y")], inits)
    return tvm_tensorrt.from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                                    ir_version=8))


def _heads(x, name, batch, perm=(0, 2, 1, 3)):
    """x (batch, S, H * D) @ w_name -> (batch, H, S, D) (perm (0, 2, 3, 1): K^T directly)."""
    return [helper.make_node("MatMul", [x, "w" + name], [name + "p"]),
            helper.make_node("Reshape", [name + "p", "heads"], [name + "r"]),
            helper.make_node("Transpose", [name + "r"], [name], perm=list(perm))]


def _rope(x, cos, sin, half, out):
    """x * cos + concat(-x[..., half:], x[..., :half]) * sin, as HF's apply_rotary_pos_emb."""
    p = out + "_"
    return [helper.make_node("Slice", [x, "zero", "h" + str(half), "last"], [p + "lo"]),
            helper.make_node("Slice", [x, "h" + str(half), "big", "last"], [p + "hi"]),
            helper.make_node("Neg", [p + "hi"], [p + "nhi"]),
            helper.make_node("Concat", [p + "nhi", p + "lo"], [p + "rot"], axis=-1),
            helper.make_node("Mul", [x, cos], [p + "xc"]),
            helper.make_node("Mul", [p + "rot", sin], [p + "rs"]),
            helper.make_node("Add", [p + "xc", p + "rs"], [out])]


def assert_tensorrt_builds_fused(mod, params, precision="fp32"):
    """TensorRT builds the engine with the fused layers (build_plan falls back to the pieces
    where it cannot; the layer count tells which network it built)."""
    from tvm_tensorrt.runtime.plan_builder import build_plan
    pmod, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
    (gvar, func), = [(g, f) for g, f in pmod.functions.items() if f.attrs is not None and f.attrs.get("Codegen")]
    stats: dict = {}
    assert len(build_plan(subgraph_of(func, gvar.name_hint, config), 1 << 28, precision=precision, stats=stats)) > 0
    assert stats["layers"] == sum(layer_types(network_layers(mod, params, precision=precision)).values())


def _ints(**values):
    return {k: np.array(v, np.int64) for k, v in values.items()}


def rotary_model(rotary=D, equal_halves=True):
    """Q and K rotated with cos/sin computed from positions at run time, as the LLM exports do:
    f = positions * inv_freq, cos(concat(f, f)), unsqueezed to (1, 1, S, R); R < D: partial
    rotary (x[..., :R] rotated, x[..., R:] passed through, concatenated back)."""
    half = rotary // 2
    w = {"wq": (H * D, H * D), "wk": (H * D, H * D),
         "inv": (1.0 / 10.0 ** np.arange(half)).astype(np.float32), "skew": np.float32(1.5)}
    w.update(_ints(heads=[2, S, H, D], zero=[0], big=[1 << 62], last=[-1], one=[1], **{"h" + str(half): [half]},
                   **{"h" + str(rotary): [rotary]}))
    second = "f" if equal_halves else "g"
    nodes = _heads("x", "q", 2) + _heads("x", "k", 2) + [
        helper.make_node("Mul", ["pos", "inv"], ["f"]),
        helper.make_node("Mul", ["f", "skew"], ["g"]),
        helper.make_node("Concat", ["f", second], ["emb"], axis=-1),
        helper.make_node("Cos", ["emb"], ["cos3"]), helper.make_node("Sin", ["emb"], ["sin3"]),
        helper.make_node("Unsqueeze", ["cos3", "one"], ["cos"]), helper.make_node("Unsqueeze", ["sin3", "one"], ["sin"])]
    for t in ("q", "k"):
        if rotary == D:
            nodes += _rope(t, "cos", "sin", half, t + "o")
        else:
            nodes += [helper.make_node("Slice", [t, "zero", "h" + str(rotary), "last"], [t + "a"]),
                      helper.make_node("Slice", [t, "h" + str(rotary), "big", "last"], [t + "b"])]
            nodes += _rope(t + "a", "cos", "sin", half, t + "ar")
            nodes += [helper.make_node("Concat", [t + "ar", t + "b"], [t + "o"], axis=-1)]
    nodes += [helper.make_node("Add", ["qo", "ko"], ["y"])]
    return _graph(nodes, [("x", F, [2, S, H * D]), ("pos", F, [1, S, 1])], w)


def test_rotary_with_computed_caches_is_one_layer_each_and_verifies():
    mod, params = rotary_model()
    fused = layer_types(network_layers(mod, params))
    pieces = layer_types(network_layers(mod, params, no_fuse=["rotary_embedding"]))
    assert fused["ROTARY_EMBEDDING"] == 2 and pieces["ROTARY_EMBEDDING"] == 0
    assert fused["UNARY"] == 2  # cos(f) and sin(f), once for Q and K: the concat(f, f) and its cos/sin are gone
    assert fused["CONCATENATION"] == 0 and pieces["CONCATENATION"] == 3
    assert sum(fused.values()) < sum(pieces.values()) - 8, (fused, pieces)
    for precision in ("fp32", "fp16"):
        report = tvm_tensorrt.verify(mod, params, precision=precision)
        assert report.passed, report.to_table()
        assert_tensorrt_builds_fused(mod, params, precision)


def test_partial_rotary_is_the_layers_rotary_dim():
    mod, params = rotary_model(rotary=D // 2)
    fused = layer_types(network_layers(mod, params))
    assert fused["ROTARY_EMBEDDING"] == 2 and fused["CONCATENATION"] == 0 and fused["SLICE"] == 2, fused  # caches over B
    assert tvm_tensorrt.verify(mod, params).passed
    assert_tensorrt_builds_fused(mod, params)


def test_cos_sin_whose_halves_may_differ_stay_pieces():
    """cos(concat(f, 1.5 f)): no rotate-half rotation; the same layers as with the pattern off."""
    mod, params = rotary_model(equal_halves=False)
    pmod, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
    (gvar, func), = [(g, f) for g, f in pmod.functions.items() if f.attrs is not None and f.attrs.get("Codegen")]
    matches, refused = find_matches(subgraph_of(func, gvar.name_hint, config))
    assert not [m for m in matches if m.key == "rotary_embedding"]
    assert any("halves cannot be shown equal" in reason for _, _, reason in refused), refused
    assert network_layers(mod, params) == network_layers(mod, params, no_fuse=["rotary_embedding"])


def interleaved_model():
    """GPT-J's rotate_every_two on Q and K: stack((-x[..., 1::2], x[..., 0::2]), -1).flatten(-2),
    cos and sin constants repeated pairwise (repeat_interleave)."""
    rng = np.random.default_rng(2)
    angles = rng.uniform(0, 3, (1, 1, S, D // 2)).astype(np.float32)
    w = {"wq": (H * D, H * D), "wk": (H * D, H * D), "cos": np.repeat(np.cos(angles), 2, axis=-1),
         "sin": np.repeat(np.sin(angles), 2, axis=-1)}
    w.update(_ints(heads=[2, S, H, D], zero=[0], one=[1], big=[1 << 62], last=[-1], two=[2], shape=[2, H, S, D]))
    nodes = _heads("x", "q", 2) + _heads("x", "k", 2)
    for t in ("q", "k"):
        nodes += [helper.make_node("Slice", [t, "zero", "big", "last", "two"], [t + "even"]),
                  helper.make_node("Slice", [t, "one", "big", "last", "two"], [t + "odd"]),
                  helper.make_node("Neg", [t + "odd"], [t + "nodd"]),
                  helper.make_node("Unsqueeze", [t + "nodd", "last"], [t + "a"]),
                  helper.make_node("Unsqueeze", [t + "even", "last"], [t + "b"]),
                  helper.make_node("Concat", [t + "a", t + "b"], [t + "st"], axis=-1),
                  helper.make_node("Reshape", [t + "st", "shape"], [t + "rot"]),
                  helper.make_node("Mul", [t, "cos"], [t + "xc"]), helper.make_node("Mul", [t + "rot", "sin"], [t + "rs"]),
                  helper.make_node("Add", [t + "xc", t + "rs"], [t + "o"])]
    nodes += [helper.make_node("Add", ["qo", "ko"], ["y"])]
    return _graph(nodes, [("x", F, [2, S, H * D])], w)


def test_interleaved_rotary_with_constant_caches():
    mod, params = interleaved_model()
    fused = layer_types(network_layers(mod, params))
    pieces = layer_types(network_layers(mod, params, no_fuse=["rotary_embedding"]))
    assert fused["ROTARY_EMBEDDING"] == 2 and fused["CONCATENATION"] == 0 and pieces["CONCATENATION"] == 2, fused
    for precision in ("fp32", "fp16"):
        report = tvm_tensorrt.verify(mod, params, precision=precision)
        assert report.passed, report.to_table()
    assert_tensorrt_builds_fused(mod, params)


# ---- attention masks -----------------------------------------------------------------------------
def attention_model(kind, batch=1):
    """Self-attention over x (batch, S, H * D) with the mask `kind` between scores and softmax."""
    rng = np.random.default_rng(1)
    w = {"wq": (H * D, H * D), "wk": (H * D, H * D), "wv": (H * D, H * D), "scale": np.float32(D ** -0.5),
         "bias": (1, H, S, S)}
    w.update(_ints(heads=[batch, S, H, D]))
    nodes = _heads("x", "q", batch) + _heads("x", "k", batch, perm=(0, 2, 3, 1)) + _heads("x", "v", batch) + [
        helper.make_node("MatMul", ["q", "k"], ["qk"])]
    inputs = [("x", F, [batch, S, H * D])]
    if kind == "t5":  # no scale; a constant position bias and a computed padding mask, added in turn
        inputs.append(("pad", F, [batch, 1, 1, S]))
        nodes += [helper.make_node("Add", ["qk", "bias"], ["b"]), helper.make_node("Add", ["b", "pad"], ["s"])]
    elif kind == "windows":  # Swin's shifted windows: batch = images * windows
        w.update(_ints(split=[batch // 2, 2, H, S, S], merge=[batch, H, S, S]))
        w["win"] = np.where(rng.random((1, 2, 1, S, S)) < 0.3, -100.0, 0.0).astype(np.float32)
        nodes += [helper.make_node("Mul", ["qk", "scale"], ["qs"]), helper.make_node("Add", ["qs", "bias"], ["b"]),
                  helper.make_node("Reshape", ["b", "split"], ["b5"]), helper.make_node("Add", ["b5", "win"], ["m5"]),
                  helper.make_node("Reshape", ["m5", "merge"], ["s"])]
    elif kind in ("keep_inf", "drop_finite", "causal_bool"):  # where(mask, scores, -inf) / masked_fill(~mask, -1e9)
        keep = rng.random((1, 1, S, S)) < 0.6
        keep |= np.eye(S, dtype=bool)  # every row keeps a key
        if kind == "causal_bool":
            keep = np.tril(np.ones((1, 1, S, S), bool))
        w.update(keep=keep, hide=~keep, ninf=np.float32(-np.inf), nbig=np.float32(-1e9))
        nodes += [helper.make_node("Mul", ["qk", "scale"], ["qs"])]
        nodes += [helper.make_node("Where", ["hide", "nbig", "qs"], ["s"])] if kind == "drop_finite" else \
            [helper.make_node("Where", ["keep", "qs", "ninf"], ["s"])]
    elif kind == "soft_cap":  # Gemma 2: cap * tanh(scores / cap)
        w.update(cap=np.float32(50.0))
        nodes += [helper.make_node("Mul", ["qk", "scale"], ["qs"]), helper.make_node("Div", ["qs", "cap"], ["c"]),
                  helper.make_node("Tanh", ["c"], ["t"]), helper.make_node("Mul", ["t", "cap"], ["s"])]
    nodes += [helper.make_node("Softmax", ["s"], ["p"], axis=-1), helper.make_node("MatMul", ["p", "v"], ["y"])]
    return _graph(nodes, inputs, w)


def _attention_checks(mod, params, precisions=("fp32", "fp16")):
    fused = layer_types(network_layers(mod, params))
    pieces = layer_types(network_layers(mod, params, no_fuse=["attention"]))
    assert fused["ATTENTION_INPUT"] == 1 and fused["SOFTMAX"] == 0 and pieces["SOFTMAX"] == 1, fused
    assert sum(fused.values()) <= sum(pieces.values())
    for precision in precisions:
        report = tvm_tensorrt.verify(mod, params, precision=precision)
        assert report.passed, report.to_table()
        assert_tensorrt_builds_fused(mod, params, precision)
    return fused


def test_stacked_masks_without_scale_t5():
    """T5: bias + padding mask, no 1/sqrt(d): one constant layer and one add make the mask."""
    fused = _attention_checks(*attention_model("t5"))
    assert fused["ELEMENTWISE"] == 1, fused  # bias + padding; no scale product


def test_shifted_window_mask_swin():
    """Two images of two windows each: the (1, 2, 1, S, S) window mask repeats over the images,
    summed with the relative-position bias into one constant."""
    fused = _attention_checks(*attention_model("windows", batch=4))
    assert fused["ELEMENTWISE"] == 1, fused  # Q times the scale; both masks are one constant


@pytest.mark.parametrize("kind", ["keep_inf", "drop_finite", "causal_bool"])
def test_where_masks(kind):
    """where(mask, scores, -inf) is the layer's boolean mask (or its causal flag); a finite fill
    (masked_fill(~mask, -1e9)) an additive where(mask, 0, fill)."""
    mod, params = attention_model(kind)
    fused = _attention_checks(mod, params, precisions=("fp32",) if kind == "causal_bool" else ("fp32", "fp16"))
    assert fused["SELECT"] == (1 if kind == "drop_finite" else 0), fused
    assert _attention_layers(mod, params) == [("UPPER_LEFT", False) if kind == "causal_bool" else ("NONE", True)]


def test_soft_capped_attention_stays_pieces_and_says_why():
    mod, params = attention_model("soft_cap")
    pmod, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
    (gvar, func), = [(g, f) for g, f in pmod.functions.items() if f.attrs is not None and f.attrs.get("Codegen")]
    _, refused = find_matches(subgraph_of(func, gvar.name_hint, config))
    assert any("soft-capped" in reason for _, key, reason in refused if key == "attention"), refused
    assert layer_types(network_layers(mod, params))["ATTENTION_INPUT"] == 0


def test_llm_decode_export():
    """The decode step (dynamic batch, past K/V, GQA, caches computed from the positions): every
    attention one layer, Q and K of both blocks one rotary layer each, the caches built once."""
    import json
    from model_utils import manifest_inputs
    mod, params = tvm_tensorrt.from_onnx(_model_path("exports/llm_decode.onnx"))
    fused = layer_types(network_layers(mod, params))
    assert fused["ATTENTION_INPUT"] == 2 and fused["ROTARY_EMBEDDING"] == 4 and fused["SOFTMAX"] == 0
    pieces = layer_types(network_layers(mod, params, no_fuse=["rotary_embedding"]))
    assert pieces["UNARY"] - fused["UNARY"] == 4  # the four negations; cos and sin once either way
    with open(_model_path("exports/manifest.json")) as f:
        inputs = manifest_inputs(json.load(f)["llm_decode"], 0)
    report = tvm_tensorrt.verify(mod, params, inputs=inputs)
    assert report.passed, report.to_table()
