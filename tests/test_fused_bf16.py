"""BF16 engines keep the fused layers (normalization, attention, rotary embedding): the network
the runtime builds in BF16 has the same fused layers as in FP32, TensorRT builds its engine
without falling back to the pieces, and verify(precision="bf16") passes, and fails on a wrong
fused layer, so it does check them."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import tvm
from tvm import relax

import tvm_tensorrt
from tvm_tensorrt.lowering.serialize import subgraph_of
from tvm_tensorrt.runtime.plan_builder import build_plan

from test_fused_layers import NORM_MODELS, _model_path, _trt, layer_types, network_layers
from test_fused_report import attention_block

FUSED = ("NORMALIZATION", "ATTENTION_INPUT", "ATTENTION_OUTPUT", "ROTARY_EMBEDDING")


def rotary_block() -> tvm.IRModule:
    """x * cos + rotate_half(x) * sin on (1, 2, 6, 8) data, LLaMA's caches (equal halves): the
    rotary layer's output is the model's, so a wrong rotation shows at full size."""
    positions = np.arange(6, dtype=np.float32)[:, None] / 10000 ** (np.arange(4, dtype=np.float32) / 4)
    angles = np.concatenate([positions, positions], axis=-1)[None, None]  # (1, 1, 6, 8)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 2, 6, 8), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            upper = bb.emit(relax.op.strided_slice(x, axes=[3], begin=[4], end=[8], strides=[1]))
            lower = bb.emit(relax.op.strided_slice(x, axes=[3], begin=[0], end=[4], strides=[1]))
            rotated = bb.emit(relax.op.concat([relax.op.negative(upper), lower], axis=-1))
            direct = bb.emit(relax.op.multiply(x, relax.const(np.cos(angles).astype("float32"))))
            turned = bb.emit(relax.op.multiply(rotated, relax.const(np.sin(angles).astype("float32"))))
            out = bb.emit_output(relax.op.add(direct, turned))
        bb.emit_func_output(out)
    return tvm.IRModule({"main": bb.get()["main"]})


def _model(name):
    if name == "rotary_block":
        return rotary_block(), None
    if name in NORM_MODELS:
        return tvm_tensorrt.from_onnx(NORM_MODELS[name]())
    if name == "attention_block":
        return attention_block(), None
    return tvm_tensorrt.from_onnx(_model_path(name))


# (model, the fused layers it must keep); rms_norm is no single layer (docs/converters.md): its
# statistics stay in float32, so a BF16 engine keeps its one float32 reduction
CASES = {"layer_norm": {"NORMALIZATION": 1}, "group_norm": {"NORMALIZATION": 1}, "instance_norm": {"NORMALIZATION": 1},
         "rms_norm": {"REDUCE": 1}, "attention_block": {"ATTENTION_INPUT": 1, "NORMALIZATION": 1},
         "rotary_block": {"ROTARY_EMBEDDING": 1}, "llama_block.onnx": {"ATTENTION_INPUT": 2, "ROTARY_EMBEDDING": 4}}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bf16_keeps_the_fused_layers_and_verifies(name, caplog):
    mod, params = _model(name)
    fp32 = layer_types(network_layers(mod, params))
    bf16 = layer_types(network_layers(mod, params, precision="bf16"))
    for kind, count in CASES[name].items():
        assert fp32[kind] == bf16[kind] == count, (kind, fp32, bf16)
    assert {k: bf16[k] for k in FUSED} == {k: fp32[k] for k in FUSED}
    assert _but_casts(bf16) == _but_casts(fp32)  # the same network, casts to and from BF16 added
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, params)
    with caplog.at_level(logging.WARNING, logger="tvm_tensorrt"):
        for gvar, func in partitioned.functions.items():
            if func.attrs is not None and func.attrs.get("Codegen") == "tensorrt":
                stats: dict = {}
                assert build_plan(subgraph_of(func, gvar.name_hint, config), 1 << 28, precision="bf16", stats=stats)
    assert not any("from their pieces" in r.getMessage() for r in caplog.records)  # TensorRT built the fused layers
    report = tvm_tensorrt.verify(mod, params, precision="bf16")
    assert report.precision == "bf16" and report.passed, report.to_table()
    assert not any(s.ill_conditioned for s in report.subgraphs)


def _but_casts(types) -> dict:
    return {kind: n for kind, n in types.items() if kind != "CAST"}


def test_bf16_verify_checks_the_fused_rotary_layer(monkeypatch):
    """The same rotary layer made interleaved (another rotation) fails verify in BF16 too: the
    evaluator computes the fused layer, in BF16, not something that agrees with TVM anyway."""
    mod, params = _model("rotary_block")
    assert tvm_tensorrt.verify(mod, params, precision="bf16").passed
    real = _trt().INetworkDefinition.add_rotary_embedding
    monkeypatch.setattr(_trt().INetworkDefinition, "add_rotary_embedding",
                        lambda net, x, c, s, interleaved, dim: real(net, x, c, s, True, dim))
    assert not tvm_tensorrt.verify(mod, params, precision="bf16").passed


def test_a_mask_of_float32_s_lowest_value_stays_finite_in_bf16():
    """Exporters fill hidden keys with torch.finfo(float32).min. The fused attention's constant
    mask is clipped to what the engine's dtype holds: in BF16 float32's lowest value would round
    to -inf, and a query row that hides every key would be NaN instead of the graph's average of V."""
    lowest = np.finfo(np.float32).min
    mask = np.triu(np.full((4, 4), lowest, np.float32), 1)
    mask[2] = lowest  # a row hiding every key
    bb = relax.BlockBuilder()
    q, k, v = (relax.Var(n, relax.TensorType((1, 2, 4, 8), "float32")) for n in "qkv")
    with bb.function("main", [q, k, v]):
        with bb.dataflow():
            s = bb.emit(relax.op.matmul(q, relax.op.permute_dims(k, [0, 1, 3, 2])))
            s = bb.emit(relax.op.add(relax.op.multiply(s, relax.const(np.float32(0.35))),
                                     relax.const(mask[None, None])))
            out = bb.emit_output(relax.op.matmul(relax.op.nn.softmax(s, axis=-1), v))
        bb.emit_func_output(out)
    mod = tvm.IRModule({"main": bb.get()["main"]})
    assert layer_types(network_layers(mod, None, precision="bf16"))["ATTENTION_INPUT"] == 1
    report = tvm_tensorrt.verify(mod, precision="bf16")
    assert report.passed, report.to_table()
