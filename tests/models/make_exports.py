"""Generate "today's exports": tests/models/exports/<name>.onnx and manifest.json (issue 24).

Small models of the families users export today (LLM prefill and decode with past key/values,
MoE, YOLO-style detector, DETR, SegFormer, SAM ViT, DINOv2, BEiT, CLIP, Whisper, wav2vec2,
a diffusion UNet and VAE decoder, timm CNNs, an EmbeddingBag recommender, a scatter GNN), exported
the way users export them: `torch.onnx.export(..., dynamo=False)`, opset 17 (18 where the
@model line says so: both are common today),
with NAMED symbolic axes (batch, sequence, height, width, past_sequence, ...). Real
architectures from transformers / diffusers / timm configurations (or plain torch) at tiny
depth and width, random weights from fixed seeds: nothing is downloaded (never from_pretrained;
transformers with attn_implementation="eager").

torch is not a dependency of the project: run this from a venv of its own, outside the repo:

    python3 -m venv /work/torchenv
    /work/torchenv/bin/pip install torch==2.13.0          # the CPU build; see DESIGN.md section 5
    /work/torchenv/bin/pip install --no-deps transformers timm diffusers \\
        tokenizers safetensors huggingface_hub regex pyyaml packaging requests urllib3 certifi \\
        idna charset_normalizer tqdm filelock httpx2 httpcore2 h11 truststore pillow \\
        onnx ml_dtypes protobuf numpy onnxruntime flatbuffers coloredlogs humanfriendly
    /work/torchenv/bin/python tests/models/make_exports.py               # all models
    /work/torchenv/bin/python tests/models/make_exports.py unet moe --out /tmp/x   # some

(Do not install torchvision: PyPI's does not load beside torch 2.13+cpu; timm imports it at
import time, so this script stands in for it while timm imports, see import_timm().)
Made with torch 2.13.0+cpu, transformers 5.25.0, diffusers 0.42.1, timm 1.0.31, onnx 1.23.2,
onnxruntime 1.32.0; re-running gives byte-identical files (each model seeds torch by its name).

Each export passes onnx.checker (full_check) and matches torch in onnxruntime (rtol 1e-3,
atol 1e-4) at both test sizes. Where the exporter itself writes a wrong or unexportable graph
for the obvious call, the model uses the form users fall back to, and its notes say so:
Tensor.index_add (exported as ScatterElements without reduction: wrong when indices repeat) ->
scatter_add; transformers' default MoE experts (torch.histc, no ONNX symbolic) -> "batched_mm".

manifest.json: name -> {"family", "opset", "inputs": {input: {"dtype", "shape": [int or axis
name], "range": [lo, hi] (ints, inclusive; hi may be an expression of axis names) or "values":
"normal" | "ones" | "offsets"; floats without either: standard normal}}, "outputs": {output:
[int or axis name; output-only names such as out_height are what the model computes]}, "sizes": {axis: [small, larger] or an
expression of other axes, e.g. "past_sequence + sequence"}, "notes"}. Test size k (0 or 1) takes
element k of every list at once. "offsets" (EmbeddingBag): increasing, starting at 0, every
entry < the length of the indices input. bench/exports_triage.py makes inputs from this.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import json
import sys
import types
import warnings
import zlib
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
OUT = HERE / "exports"
OPSET = 17
MODELS: dict = {}


# --------------------------------------------------------------------------- torchvision stand-in
class _FrozenBatchNorm2d(nn.Module):
    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        for name, init in (("weight", torch.ones), ("bias", torch.zeros), ("running_mean", torch.zeros),
                           ("running_var", torch.ones)):
            self.register_buffer(name, init(num_features))
        self.eps = eps

    def forward(self, x):
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        return x * scale.reshape(1, -1, 1, 1) + (self.bias - self.running_mean * scale).reshape(1, -1, 1, 1)


class _Placeholder:
    """Any torchvision name timm touches at import time (none is used by the models made here)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Placeholder()

    def __call__(self, *args, **kwargs):
        return _Placeholder()

    def __mro_entries__(self, bases):
        return (object,)


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _FrozenBatchNorm2d if name == "FrozenBatchNorm2d" else _Placeholder()


class _TorchvisionFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name == "torchvision" or name.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def import_timm():
    """timm imports torchvision at import time. Stand in for it while timm imports, then take the
    stand-in away (transformers would otherwise take it for a real torchvision)."""
    if "timm" in sys.modules:
        return sys.modules["timm"]
    import transformers  # noqa: F401  (decides "no torchvision" before the stand-in exists)

    finder = _TorchvisionFinder()
    sys.meta_path.insert(0, finder)
    try:
        import timm
    finally:
        sys.meta_path.remove(finder)
        for key in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
            del sys.modules[key]
    return timm


# --------------------------------------------------------------------------- registry and inputs
def model(name, family, opset=OPSET):
    def register(fn):
        MODELS[name] = (fn, family, opset)
        return fn
    return register


def inp(dtype, shape, range=None, values=None):
    spec = {"dtype": dtype, "shape": list(shape)}
    if range is not None:
        spec["range"] = list(range)
    if values is not None:
        spec["values"] = values
    return spec


def resolve_sizes(sizes: dict, k: int) -> dict:
    out = {axis: v[k] for axis, v in sizes.items() if isinstance(v, list)}
    for axis, v in sizes.items():
        if isinstance(v, str):
            out[axis] = int(eval(v, {}, dict(out)))
    return out


def make_inputs(spec: dict, k: int, seed: int) -> dict:
    """Valid inputs for test size k (0 small, 1 larger), as numpy arrays (same rule as the triage)."""
    rng = np.random.default_rng(seed + k)
    dims = resolve_sizes(spec["sizes"], k)
    feeds = {}
    for name, i in spec["inputs"].items():
        shape = [d if isinstance(d, int) else dims[d] for d in i["shape"]]
        values = i.get("values")
        if values == "ones":
            arr = np.ones(shape, dtype=i["dtype"])
        elif values == "offsets":  # EmbeddingBag offsets: 0 first, increasing, < len(indices)
            total = dims[i["of_length"]]
            arr = np.sort(rng.choice(np.arange(1, total), size=shape[0] - 1, replace=False))
            arr = np.concatenate([[0], arr]).astype(i["dtype"])
        elif "range" in i:
            lo, hi = (int(eval(str(b), {}, dict(dims))) for b in i["range"])
            arr = rng.integers(lo, hi + 1, size=shape).astype(i["dtype"])
        else:
            arr = rng.standard_normal(shape).astype(i["dtype"])
        feeds[name] = arr
    return feeds


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode()) % 10000


def tiny_init(module: nn.Module, gen_seed: int):
    """Random but sane statistics for batch norms (a fresh one is the identity)."""
    g = torch.Generator().manual_seed(gen_seed)
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 0.5 + 0.75)


def hf_causal(cls_name, experts=None, **cfg):
    import transformers

    config = getattr(transformers, cls_name.replace("ForCausalLM", "Config"))(**cfg)
    config._attn_implementation = "eager"
    if experts:
        config._experts_implementation = experts
    return getattr(transformers, cls_name)(config).eval()


LLM_BASE = dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                tie_word_embeddings=True, use_cache=False)


class Logits(nn.Module):
    """input_ids, attention_mask -> logits (no cache)."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, input_ids, attention_mask):
        return self.lm(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits


def prefill_spec(lm, notes=""):
    v = lm.config.vocab_size
    return dict(module=Logits(lm),
                inputs={"input_ids": inp("int64", ["batch", "sequence"], range=[0, v - 1]),
                        "attention_mask": inp("int64", ["batch", "sequence"], values="ones")},
                outputs={"logits": ["batch", "sequence", v]},
                sizes={"batch": [1, 2], "sequence": [8, 16]}, notes=notes)


# --------------------------------------------------------------------------- LLMs
@model("llm_prefill", "llm_prefill")
def llm_prefill():
    lm = hf_causal("Qwen2ForCausalLM", **LLM_BASE)
    return prefill_spec(lm, "Qwen2 (GQA 4 heads / 2 KV heads, RMSNorm, rotary, SwiGLU)")


@model("llm_prefill_gemma2", "llm_prefill")
def llm_prefill_gemma2():
    lm = hf_causal("Gemma2ForCausalLM", **{**LLM_BASE, "head_dim": 8, "sliding_window": 8,
                                          "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,
                                          "query_pre_attn_scalar": 8})
    return prefill_spec(lm, "Gemma2: logit soft-capping (tanh), sliding-window layer, GQA")


@model("llm_prefill_phi3", "llm_prefill", opset=18)
def llm_prefill_phi3():
    lm = hf_causal("Phi3ForCausalLM", **{**LLM_BASE, "pad_token_id": 0})
    return prefill_spec(lm, "Phi-3: fused qkv_proj and gate_up_proj, GQA")


class DecodeStep(nn.Module):
    """input_ids, attention_mask (past + new), past_k_i, past_v_i -> logits, present_k_i, present_v_i."""

    def __init__(self, lm, layers):
        super().__init__()
        self.lm, self.layers = lm, layers

    def forward(self, input_ids, attention_mask, *past):
        from transformers import DynamicCache

        cache = DynamicCache(config=self.lm.config)
        for i in range(self.layers):
            cache.update(past[2 * i], past[2 * i + 1], i)
        out = self.lm(input_ids=input_ids, attention_mask=attention_mask, past_key_values=cache, use_cache=True)
        present = []
        for i in range(self.layers):
            layer = out.past_key_values.layers[i]
            present += [layer.keys, layer.values]
        return (out.logits, *present)


@model("llm_decode", "llm_decode")
def llm_decode():
    cfg = {**LLM_BASE, "use_cache": True}
    lm = hf_causal("Qwen2ForCausalLM", **cfg)
    kv, hd, v = cfg["num_key_value_heads"], cfg["hidden_size"] // cfg["num_attention_heads"], cfg["vocab_size"]
    inputs = {"input_ids": inp("int64", ["batch", "sequence"], range=[0, v - 1]),
              "attention_mask": inp("int64", ["batch", "total_sequence"], values="ones")}
    outputs = {"logits": ["batch", "sequence", v]}
    for i in range(cfg["num_hidden_layers"]):
        for kind in ("k", "v"):
            inputs[f"past_{kind}_{i}"] = inp("float32", ["batch", kv, "past_sequence", hd])
            outputs[f"present_{kind}_{i}"] = ["batch", kv, "total_sequence", hd]
    return dict(module=DecodeStep(lm, cfg["num_hidden_layers"]), inputs=inputs, outputs=outputs,
                sizes={"batch": [1, 2], "sequence": [1, 3], "past_sequence": [7, 20],
                       "total_sequence": "past_sequence + sequence"},
                notes="Qwen2 decode step: DynamicCache built from past_k_i/past_v_i; present = past + new")


@model("moe", "moe", opset=18)
def moe():
    # experts "batched_mm" (gather each token's expert weights, batched matmul): the default
    # grouped_mm calls torch.histc (no ONNX symbolic) and "eager" loops over the experts hit
    # (data-dependent: traced as constants) with index_add_ (exported without reduction)
    lm = hf_causal("Qwen2MoeForCausalLM", experts="batched_mm", **{**LLM_BASE, "num_hidden_layers": 1, "num_experts": 4,
                                            "num_experts_per_tok": 2, "moe_intermediate_size": 32,
                                            "shared_expert_intermediate_size": 64, "decoder_sparse_step": 1,
                                            "mlp_only_layers": []})
    return prefill_spec(lm, "Qwen2-MoE: 4 experts, top-2 routing (TopK, softmax), experts as batched_mm (Gather of expert weights, MatMul), shared expert with sigmoid gate")


# --------------------------------------------------------------------------- detector (plain torch)
def cba(cin, cout, k=3, s=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.SiLU())


class YoloHead(nn.Module):
    def __init__(self, chs, nc=4, na=3, strides=(8, 16, 32)):
        super().__init__()
        self.nc, self.na, self.no, self.strides = nc, na, nc + 5, strides
        self.convs = nn.ModuleList(nn.Conv2d(c, na * (nc + 5), 1) for c in chs)
        anchors = torch.tensor([[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]],
                               dtype=torch.float32).view(3, na, 2)
        self.register_buffer("anchors", anchors)

    def forward(self, feats):
        out = []
        for i, x in enumerate(feats):
            x = self.convs[i](x)
            b, _, ny, nx = x.shape
            x = x.view(b, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2)
            yv, xv = torch.meshgrid(torch.arange(ny, dtype=torch.float32), torch.arange(x.shape[-2], dtype=torch.float32),
                                    indexing="ij")
            grid = torch.stack((xv, yv), 2).view(1, 1, ny, nx, 2)
            anchor = self.anchors[i].view(1, self.na, 1, 1, 2)
            y = x.sigmoid()
            xy = (y[..., :2] * 2 - 0.5 + grid) * self.strides[i]
            wh = (y[..., 2:4] * 2) ** 2 * anchor
            out.append(torch.cat((xy, wh, y[..., 4:]), -1).view(b, -1, self.no))
        return torch.cat(out, 1)


class TinyYolo(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(cba(3, 8, 3, 2), cba(8, 16, 3, 2), cba(16, 16))
        self.p3 = cba(16, 16, 3, 2)      # stride 8
        self.p4 = cba(16, 24, 3, 2)      # stride 16
        self.p5 = cba(24, 32, 3, 2)      # stride 32
        self.lat5, self.td4, self.td3 = cba(32, 24, 1), cba(48, 16, 1), cba(32, 16)
        self.head = YoloHead((16, 16, 24))
        self.down3 = cba(16, 16, 3, 2)
        self.out4 = cba(32, 16)
        self.down4 = cba(16, 24, 3, 2)
        self.out5 = cba(48, 24)

    def forward(self, images):
        c3 = self.p3(self.stem(images))
        c4 = self.p4(c3)
        c5 = self.lat5(self.p5(c4))
        t4 = self.td4(torch.cat([F.interpolate(c5, scale_factor=2.0, mode="nearest"), c4], 1))
        t3 = self.td3(torch.cat([F.interpolate(t4, scale_factor=2.0, mode="nearest"), c3], 1))
        o4 = self.out4(torch.cat([self.down3(t3), t4], 1))
        o5 = self.out5(torch.cat([self.down4(o4), c5], 1))
        return self.head([t3, o4, o5])


@model("detector_yolo", "detector")
def detector_yolo():
    return dict(module=TinyYolo(), inputs={"images": inp("float32", ["batch", 3, "height", "width"])},
                outputs={"detections": ["batch", "anchors"]},
                sizes={"batch": [1, 2], "height": [64, 96], "width": [64, 128]},
                notes="YOLOv5-style: FPN/PAN neck (interpolate x2 + concat), grid from arange/meshgrid of feature sizes; height, width: multiples of 32")


# --------------------------------------------------------------------------- vision (transformers)
def hf_model(cls_name, config_name, **cfg):
    import transformers

    config = getattr(transformers, config_name)(**cfg)
    config._attn_implementation = "eager"
    return getattr(transformers, cls_name)(config).eval()


class FirstOutput(nn.Module):
    """Calls the model with keyword inputs, returns the named outputs."""

    def __init__(self, inner, names, out_fields, call=None):
        super().__init__()
        self.inner, self.names, self.out_fields, self.call = inner, names, out_fields, call

    def forward(self, *args):
        fn = self.call or self.inner
        out = fn(**dict(zip(self.names, args)))
        return tuple(getattr(out, f) if isinstance(f, str) else out[f] for f in self.out_fields)


def wrap(inner, inputs, outputs, out_fields, call=None, **rest):
    return dict(module=FirstOutput(inner, list(inputs), out_fields, call), inputs=inputs, outputs=outputs, **rest)


@model("segformer", "segmentation", opset=18)
def segformer():
    m = hf_model("SegformerForSemanticSegmentation", "SegformerConfig", num_channels=3, num_encoder_blocks=4,
                 depths=[1, 1, 1, 1], sr_ratios=[8, 4, 2, 1], hidden_sizes=[8, 16, 24, 32],
                 num_attention_heads=[1, 1, 2, 2], mlp_ratios=[2, 2, 2, 2], decoder_hidden_size=32, num_labels=5)
    return wrap(m, {"pixel_values": inp("float32", ["batch", 3, "height", "width"])},
                {"logits": ["batch", 5, "out_height", "out_width"]}, ["logits"],
                sizes={"batch": [1, 2], "height": [64, 96], "width": [64, 128]},
                notes="SegFormer: overlapping patch embeds, efficient (spatial-reduction) attention, Mix-FFN, MLP decoder with interpolate to the 1/4 size")


IMAGE = {"batch": [1, 2], "height": [32, 48], "width": [32, 64]}


@model("detr", "detector")
def detr():
    from transformers import ResNetConfig

    backbone = ResNetConfig(embedding_size=8, hidden_sizes=[8, 8, 16, 24], depths=[1, 1, 1, 1], layer_type="basic",
                            out_features=["stage4"])
    m = hf_model("DetrForObjectDetection", "DetrConfig", use_timm_backbone=False, backbone_config=backbone,
                 use_pretrained_backbone=False, num_queries=8, d_model=32, encoder_layers=1, decoder_layers=1,
                 encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                 num_labels=4)
    return wrap(m, {"pixel_values": inp("float32", ["batch", 3, "height", "width"])},
                {"logits": ["batch", 8, 5], "pred_boxes": ["batch", 8, 4]}, ["logits", "pred_boxes"],
                sizes={"batch": [1, 2], "height": [64, 96], "width": [64, 128]},
                notes="DETR: ResNet backbone (transformers ResNetConfig, no timm), sine position embedding from the mask, encoder-decoder with object queries")


@model("sam_vit", "vit")
def sam_vit():
    m = hf_model("SamVisionModel", "SamVisionConfig", hidden_size=32, output_channels=16, num_hidden_layers=2,
                 num_attention_heads=2, image_size=64, patch_size=8, window_size=4, global_attn_indexes=[1],
                 mlp_dim=64, use_rel_pos=True)
    return wrap(m, {"pixel_values": inp("float32", ["batch", 3, 64, 64])},
                {"last_hidden_state": ["batch", 16, 8, 8]}, ["last_hidden_state"], sizes={"batch": [1, 2]},
                notes="SAM ViT image encoder: windowed attention (pad + window partition) and a global layer, decomposed relative position (einsum), neck convs with LayerNorm2d; image size fixed by the absolute position embedding")


@model("dinov2", "vit", opset=18)
def dinov2():
    m = hf_model("Dinov2Model", "Dinov2Config", hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 mlp_ratio=2, image_size=32, patch_size=8)
    return wrap(m, {"pixel_values": inp("float32", ["batch", 3, "height", "width"])},
                {"last_hidden_state": ["batch", "tokens", 32], "pooler_output": ["batch", 32]},
                ["last_hidden_state", "pooler_output"], sizes=IMAGE,
                notes="DINOv2: position embeddings interpolated (bicubic) to the input's patch grid, layer scale")


@model("beit", "vit")
def beit():
    m = hf_model("BeitModel", "BeitConfig", hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=64, image_size=32, patch_size=8, use_relative_position_bias=True,
                 use_mean_pooling=True)

    def call(pixel_values):
        return m(pixel_values=pixel_values, interpolate_pos_encoding=True)

    return wrap(m, {"pixel_values": inp("float32", ["batch", 3, "height", "width"])},
                {"last_hidden_state": ["batch", "tokens", 32], "pooler_output": ["batch", 32]},
                ["last_hidden_state", "pooler_output"], call=call, sizes=IMAGE,
                notes="BEiT: relative position bias per layer (table indexed, interpolated to the input's grid), layer scale, mean pooling")


@model("clip", "two_tower", opset=18)
def clip():
    m = hf_model("CLIPModel", "CLIPConfig", projection_dim=16,
                 text_config=dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                  num_attention_heads=2, max_position_embeddings=32, eos_token_id=127),
                 vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                    num_attention_heads=2, image_size=32, patch_size=8))
    return wrap(m, {"input_ids": inp("int64", ["batch", "sequence"], range=[0, 127]),
                    "pixel_values": inp("float32", ["image_batch", 3, 32, 32]),
                    "attention_mask": inp("int64", ["batch", "sequence"], values="ones")},
                {"logits_per_image": ["image_batch", "batch"], "logits_per_text": ["batch", "image_batch"]},
                ["logits_per_image", "logits_per_text"],
                sizes={"batch": [2, 3], "sequence": [8, 16], "image_batch": [1, 4]},
                notes="CLIP two towers: causal text encoder pooled at the first eos token (argmax), ViT vision encoder, normalised projections, logit scale")


# --------------------------------------------------------------------------- audio
@model("wav2vec2", "audio")
def wav2vec2():
    m = hf_model("Wav2Vec2Model", "Wav2Vec2Config", hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=64, conv_dim=(32, 32, 32), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3),
                 num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, vocab_size=32)
    return wrap(m, {"input_values": inp("float32", ["batch", "audio_length"])},
                {"last_hidden_state": ["batch", "frames"]}, ["last_hidden_state"],
                sizes={"batch": [1, 2], "audio_length": [800, 2000]},
                notes="wav2vec2: conv feature encoder (group norm), conv positional embedding, post-norm encoder")


WHISPER = dict(vocab_size=128, num_mel_bins=16, encoder_layers=1, encoder_attention_heads=2, decoder_layers=2,
               decoder_attention_heads=2, d_model=32, encoder_ffn_dim=64, decoder_ffn_dim=64,
               max_source_positions=16, max_target_positions=64, pad_token_id=0, bos_token_id=1, eos_token_id=2,
               decoder_start_token_id=1)


@model("whisper_encoder", "audio")
def whisper_encoder():
    m = hf_model("WhisperForConditionalGeneration", "WhisperConfig", **WHISPER)
    enc = m.model.encoder
    return wrap(enc, {"input_features": inp("float32", ["batch", 16, 32])},
                {"last_hidden_state": ["batch", 16, 32]}, ["last_hidden_state"], sizes={"batch": [1, 2]},
                notes="Whisper encoder: 2 convs (GELU), sinusoidal positions, pre-norm layers; frames fixed at 2 x max_source_positions (Whisper checks it)")


class WhisperDecodeStep(nn.Module):
    def __init__(self, whisper, layers):
        super().__init__()
        self.whisper, self.layers = whisper, layers

    def forward(self, decoder_input_ids, encoder_hidden_states, *past):
        from transformers import DynamicCache, EncoderDecoderCache

        config = self.whisper.config
        self_cache = DynamicCache(config=config)
        for i in range(self.layers):
            self_cache.update(past[2 * i], past[2 * i + 1], i)
        cache = EncoderDecoderCache(self_cache, DynamicCache(config=config))
        out = self.whisper.model.decoder(input_ids=decoder_input_ids, encoder_hidden_states=encoder_hidden_states,
                                         past_key_values=cache, use_cache=True)
        logits = self.whisper.proj_out(out.last_hidden_state)
        present = []
        for i in range(self.layers):
            layer = out.past_key_values.self_attention_cache.layers[i]
            present += [layer.keys, layer.values]
        return (logits, *present)


@model("whisper_decoder_step", "audio", opset=18)
def whisper_decoder_step():
    m = hf_model("WhisperForConditionalGeneration", "WhisperConfig", **WHISPER)
    heads, hd, v = WHISPER["decoder_attention_heads"], WHISPER["d_model"] // WHISPER["decoder_attention_heads"], WHISPER["vocab_size"]
    inputs = {"decoder_input_ids": inp("int64", ["batch", "sequence"], range=[0, v - 1]),
              "encoder_hidden_states": inp("float32", ["batch", "encoder_sequence", WHISPER["d_model"]])}
    outputs = {"logits": ["batch", "sequence", v]}
    for i in range(WHISPER["decoder_layers"]):
        for kind in ("k", "v"):
            inputs[f"past_{kind}_{i}"] = inp("float32", ["batch", heads, "past_sequence", hd])
            outputs[f"present_{kind}_{i}"] = ["batch", heads, "total_sequence", hd]
    return dict(module=WhisperDecodeStep(m, WHISPER["decoder_layers"]), inputs=inputs, outputs=outputs,
                sizes={"batch": [1, 2], "sequence": [1, 2], "past_sequence": [5, 20], "encoder_sequence": [16, 24],
                       "total_sequence": "past_sequence + sequence"},
                notes="Whisper decoder step: self-attention past K/V in, cross-attention K/V computed from encoder_hidden_states, learned positions offset by the past length")


# --------------------------------------------------------------------------- diffusion (diffusers)
class UNetCall(nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states):
        return self.unet(sample, timestep, encoder_hidden_states, return_dict=False)[0]


@model("unet", "diffusion", opset=18)
def unet():
    from diffusers import UNet2DConditionModel

    m = UNet2DConditionModel(sample_size=16, in_channels=4, out_channels=4, block_out_channels=(8, 16),
                             layers_per_block=1, cross_attention_dim=16, norm_num_groups=4, attention_head_dim=2,
                             down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                             up_block_types=("UpBlock2D", "CrossAttnUpBlock2D")).eval()
    return dict(module=UNetCall(m),
                inputs={"sample": inp("float32", ["batch", 4, "height", "width"]),
                        "timestep": inp("int64", ["batch"], range=[0, 999]),
                        "encoder_hidden_states": inp("float32", ["batch", "sequence", 16])},
                outputs={"out_sample": ["batch", 4, "height", "width"]},
                sizes={"batch": [1, 2], "height": [8, 16], "width": [8, 24], "sequence": [7, 12]},
                notes="diffusers UNet2DConditionModel: timestep embedding, ResNet blocks (GroupNorm), cross-attention transformer, up/down sampling; height, width: even")


class VaeDecode(nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, latent_sample):
        return self.vae.decode(latent_sample, return_dict=False)[0]


@model("vae_decoder", "diffusion")
def vae_decoder():
    from diffusers import AutoencoderKL

    m = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
                      layers_per_block=1, norm_num_groups=4,
                      down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                      up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D")).eval()
    return dict(module=VaeDecode(m), inputs={"latent_sample": inp("float32", ["batch", 4, "height", "width"])},
                outputs={"sample": ["batch", 3, "out_height", "out_width"]},
                sizes={"batch": [1, 2], "height": [8, 16], "width": [8, 12]},
                notes="diffusers AutoencoderKL.decode: post-quant conv, mid-block self-attention, nearest x2 upsampling")


# --------------------------------------------------------------------------- timm CNNs
def timm_spec(name, notes, sizes=None, **kwargs):
    timm = import_timm()
    m = timm.create_model(name, pretrained=False, num_classes=10, **kwargs).eval()
    return dict(module=m, inputs={"pixel_values": inp("float32", ["batch", 3, "height", "width"])},
                outputs={"logits": ["batch", 10]},
                sizes=sizes or {"batch": [1, 2], "height": [64, 96], "width": [64, 80]}, notes=notes)


@model("nfnet", "cnn")
def nfnet():
    return timm_spec("nfnet_f0", "timm NFNet-F0 reduced: scaled weight-standardised convs (computed in the graph), GELU, SE",
                     depths=(1, 1, 1, 1), channels=(8, 16, 24, 32), stem_chs=8, num_features=32, group_size=8)


@model("convnextv2", "cnn", opset=18)
def convnextv2():
    return timm_spec("convnextv2_atto", "timm ConvNeXt-V2 reduced: depthwise 7x7, LayerNorm, GRN", depths=(1, 1, 1, 1),
                     dims=(8, 16, 24, 32))


@model("fastvit", "cnn")
def fastvit():
    return timm_spec("fastvit_t8", "timm FastViT-T8 reduced: RepMixer, large-kernel conv stems, train-time branches",
                     layers=(1, 1, 1, 1), embed_dims=(8, 16, 16, 32))


@model("poolformer", "cnn", opset=18)
def poolformer():
    timm = import_timm()
    from timm.layers import GroupNorm1
    from timm.models.metaformer import MetaFormer

    m = MetaFormer(num_classes=10, depths=(1, 1, 1, 1), dims=(8, 16, 24, 32), downsample_norm=None, mlp_act=nn.GELU,
                   mlp_bias=True, norm_layers=GroupNorm1, layer_scale_init_values=1e-5, res_scale_init_values=None,
                   use_mlp_head=False).eval()  # timm's poolformer_s12 arguments, reduced
    return dict(module=m, inputs={"pixel_values": inp("float32", ["batch", 3, "height", "width"])},
                outputs={"logits": ["batch", 10]}, sizes={"batch": [1, 2], "height": [64, 96], "width": [64, 80]},
                notes="timm PoolFormer-S12 reduced (MetaFormer): AvgPool token mixer (x - pool(x)), GroupNorm(1), layer scale")


# --------------------------------------------------------------------------- recommender, GNN
class Recommender(nn.Module):
    def __init__(self, num_embeddings=500, dim=16, dense=8):
        super().__init__()
        self.bag = nn.EmbeddingBag(num_embeddings, dim, mode="sum")
        self.bottom = nn.Sequential(nn.Linear(dense, dim), nn.ReLU())
        self.top = nn.Sequential(nn.Linear(2 * dim, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, indices, offsets, dense_features):
        sparse = self.bag(indices, offsets)
        return torch.sigmoid(self.top(torch.cat([sparse, self.bottom(dense_features)], 1)))


@model("embeddingbag", "recommender")
def embeddingbag():
    return dict(module=Recommender(),
                inputs={"indices": inp("int64", ["num_indices"], range=[0, 499]),
                        "offsets": {**inp("int64", ["batch"], values="offsets"), "of_length": "num_indices"},
                        "dense_features": inp("float32", ["batch", 8])},
                outputs={"score": ["batch", 1]},
                sizes={"batch": [2, 5], "num_indices": [6, 23]},
                notes="DLRM-style: EmbeddingBag(mode='sum') with offsets (exports as Loop) + MLPs")


class MessagePassing(nn.Module):
    def __init__(self, dim=16, hidden=32):
        super().__init__()
        self.msg = nn.Linear(2 * dim, hidden)
        self.upd = nn.Linear(dim + hidden, hidden)
        self.out = nn.Linear(hidden, 4)

    def forward(self, x, edge_index):
        src, dst = edge_index[0], edge_index[1]
        messages = torch.relu(self.msg(torch.cat([x[src], x[dst]], 1)))
        # index_add would be the natural call, but the TorchScript exporter writes it as a
        # ScatterElements without reduction (wrong when edges share a destination): scatter_add
        index = dst.unsqueeze(1).expand(-1, messages.shape[1])
        agg = torch.zeros(x.shape[0], messages.shape[1], dtype=x.dtype).scatter_add(0, index, messages)
        degree = torch.zeros(x.shape[0], dtype=x.dtype).scatter_add(0, dst, torch.ones_like(dst, dtype=x.dtype))
        agg = agg / degree.clamp(min=1.0).unsqueeze(1)
        h = torch.relu(self.upd(torch.cat([x, agg], 1)))
        return self.out(h)


@model("scatter_gnn", "gnn")
def scatter_gnn():
    return dict(module=MessagePassing(),
                inputs={"x": inp("float32", ["num_nodes", 16]),
                        "edge_index": inp("int64", [2, "num_edges"], range=[0, "num_nodes - 1"])},
                outputs={"node_logits": ["num_nodes", 4]},
                sizes={"num_nodes": [5, 17], "num_edges": [9, 40]},
                notes="message passing: gather by edge, scatter_add (mean aggregation) over edges")


# --------------------------------------------------------------------------- export
def export(name: str, out_dir: Path) -> dict:
    fn, family, opset = MODELS[name]
    torch.manual_seed(seed_of(name))
    spec = fn()
    module = spec["module"].eval()
    tiny_init(module, seed_of(name))
    spec.setdefault("notes", "")
    in_names, out_names = list(spec["inputs"]), list(spec["outputs"])
    axes = {}
    for n, i in spec["inputs"].items():
        axes[n] = {d: a for d, a in enumerate(i["shape"]) if isinstance(a, str)}
    for n, shape in spec["outputs"].items():
        axes[n] = {d: a for d, a in enumerate(shape) if isinstance(a, str)}
    seed = seed_of(name)
    feeds = make_inputs(spec, 0, seed)
    args = tuple(torch.from_numpy(a) for a in feeds.values())
    path = out_dir / f"{name}.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), dynamo=False, opset_version=opset, input_names=in_names,
                          output_names=out_names, dynamic_axes=axes)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    graph_inputs = [i.name for i in proto.graph.input]
    if graph_inputs != in_names:
        raise AssertionError(f"{name}: graph inputs {graph_inputs} != {in_names} (one folded away?)")
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for k in (0, 1):
        feeds = make_inputs(spec, k, seed)
        with torch.no_grad():
            ref = module(*(torch.from_numpy(a) for a in feeds.values()))
        ref = ref if isinstance(ref, tuple) else (ref,)
        got = sess.run(None, feeds)
        for o, r, g in zip(out_names, ref, got):
            np.testing.assert_allclose(g, r.numpy(), rtol=1e-3, atol=1e-4, err_msg=f"{name} size {k} {o}: ort != torch")
    entry = {"family": family, "opset": opset,
             "inputs": {n: {k: v for k, v in i.items()} for n, i in spec["inputs"].items()},
             "outputs": spec["outputs"], "sizes": spec["sizes"], "notes": spec["notes"],
             "onnx_nodes": len(proto.graph.node), "bytes": path.stat().st_size}
    return entry


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"models to make (default all: {', '.join(MODELS)})")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    failed = 0
    for name in args.names or MODELS:
        try:
            entry = export(name, args.out)
        except Exception as err:  # report and go on with the others
            failed += 1
            print(f"{name}: FAILED: {type(err).__name__}: {str(err).strip()[:400]}", file=sys.stderr, flush=True)
            continue
        manifest[name] = entry
        print(f"{name:22s} {entry['bytes'] / 1e3:7.1f} KB {entry['onnx_nodes']:5d} nodes  "
              + ", ".join(f"{n}{i['shape']}" for n, i in entry["inputs"].items()), flush=True)
    manifest = {k: manifest[k] for k in MODELS if k in manifest}
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
