"""Generate the transformer-family model set in tests/models/*.onnx.

Each model is a real architecture (Hugging Face BERT, GPT-2, LLaMA and T5 built from their
configs; ViT, Swin, ConvNeXt, MobileViT, DeepLabV3 and MaxViT written here in plain torch)
at reduced depth and width, with random weights from fixed seeds: nothing is downloaded.
Every file is float32, batch 1 with static shapes (except the two *_dynamic* variants),
checked with onnx.checker and compared with onnxruntime (CPU) against torch.

torch and transformers are not dependencies of the project, so run this from a venv of its own,
outside the repository:

    python3 -m venv /work/modelgen
    /work/modelgen/bin/pip install torch==2.13.0        # the CPU build; no torchvision
    /work/modelgen/bin/pip install transformers onnx onnxscript onnxslim onnxruntime numpy
    /work/modelgen/bin/python tests/models/make_model_set.py            # all models
    /work/modelgen/bin/python tests/models/make_model_set.py vit t5_encoder --out /tmp/m

Re-running gives the same graphs and weights: each model seeds torch with its own fixed seed.
It prints one line per model (size, inputs, ONNX node count) for tests/models/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn

OPSET = 17
HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------- shared pieces
class Mlp(nn.Module):
    def __init__(self, dim, hidden, act=nn.GELU):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), act(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class SelfAttention(nn.Module):
    """Multi-head self-attention over (B, N, C) tokens, fused qkv projection (timm style)."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv, self.proj = nn.Linear(dim, dim * 3), nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class PreNormBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=2, act=nn.GELU):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), SelfAttention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim), Mlp(dim, dim * mlp_ratio, act)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def conv_bn_act(cin, cout, k=3, stride=1, groups=1, dilation=1, act=nn.ReLU):
    pad = dilation * (k - 1) // 2
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), act())


# --------------------------------------------------------------------------- ViT / DeiT
class ViT(nn.Module):
    def __init__(self, img=32, patch=4, dim=64, depth=2, heads=4, classes=10):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        n = (img // patch) ** 2
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[PreNormBlock(dim, heads) for _ in range(depth)])
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


# --------------------------------------------------------------------------- Swin
def window_partition(x, w):
    b, h, wd, c = x.shape
    x = x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w * w, c)


def window_reverse(windows, w, h, wd):
    c = windows.shape[-1]
    x = windows.view(-1, h // w, wd // w, w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, wd, c)


class WindowAttention(nn.Module):
    def __init__(self, dim, window, heads):
        super().__init__()
        self.window, self.heads, self.scale = window, heads, (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.randn((2 * window - 1) ** 2, heads) * 0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("relative_position_index", rel[..., 0] * (2 * window - 1) + rel[..., 1])
        self.qkv, self.proj = nn.Linear(dim, dim * 3), nn.Linear(dim, dim)

    def forward(self, x, mask=None):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(b // nw, nw, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.heads, n, n)
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class SwinBlock(nn.Module):
    def __init__(self, dim, res, heads, window, shift):
        super().__init__()
        self.res, self.window, self.shift = res, window, shift
        self.norm1, self.attn = nn.LayerNorm(dim), WindowAttention(dim, window, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim), Mlp(dim, dim * 4)
        mask = None
        if shift:
            img = torch.zeros(1, res, res, 1)
            cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
            label = 0
            for hs in cuts:
                for ws in cuts:
                    img[:, hs, ws, :] = label
                    label += 1
            wins = window_partition(img, window).squeeze(-1)
            mask = wins.unsqueeze(1) - wins.unsqueeze(2)
            mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
        self.register_buffer("attn_mask", mask)

    def forward(self, x):
        b, n, c = x.shape
        shortcut = x
        x = self.norm1(x).view(b, self.res, self.res, c)
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        x = self.attn(window_partition(x, self.window), self.attn_mask)
        x = window_reverse(x, self.window, self.res, self.res)
        if self.shift:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        x = shortcut + x.reshape(b, n, c)
        return x + self.mlp(self.norm2(x))


class SwinStage(nn.Module):
    """Patch embedding, a regular and a shifted-window block, patch merging, head."""

    def __init__(self, img=32, patch=2, dim=32, heads=2, window=4, classes=10):
        super().__init__()
        res = img // patch
        self.patch_embed, self.embed_norm = nn.Conv2d(3, dim, patch, patch), nn.LayerNorm(dim)
        self.blocks = nn.Sequential(SwinBlock(dim, res, heads, window, 0),
                                    SwinBlock(dim, res, heads, window, window // 2))
        self.res = res
        self.merge_norm, self.reduction = nn.LayerNorm(4 * dim), nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm, self.head = nn.LayerNorm(2 * dim), nn.Linear(2 * dim, classes)

    def forward(self, x):
        x = self.embed_norm(self.patch_embed(x).flatten(2).transpose(1, 2))
        x = self.blocks(x)
        b, _, c = x.shape
        x = x.view(b, self.res, self.res, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        x = self.reduction(self.merge_norm(x.view(b, -1, 4 * c)))
        return self.head(self.norm(x).mean(dim=1))


# --------------------------------------------------------------------------- ConvNeXt
class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of an NCHW tensor, written out (channels_first)."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight, self.bias, self.eps = nn.Parameter(torch.ones(dim)), nn.Parameter(torch.zeros(dim)), eps

    def forward(self, x):
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1, self.act, self.pwconv2 = nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 0.5) + 0.1 * torch.randn(dim))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)  # NHWC for the LayerNorm and the pointwise MLP
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    def __init__(self, dims=(32, 64), depths=(2, 1), classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], 4, 4), LayerNorm2d(dims[0]))
        layers = []
        for i, (dim, depth) in enumerate(zip(dims, depths)):
            if i:
                layers += [LayerNorm2d(dims[i - 1]), nn.Conv2d(dims[i - 1], dim, 2, 2)]  # downsampling
            layers += [ConvNeXtBlock(dim) for _ in range(depth)]
        self.stages = nn.Sequential(*layers)
        self.norm, self.head = nn.LayerNorm(dims[-1], eps=1e-6), nn.Linear(dims[-1], classes)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.head(self.norm(x.mean([-2, -1])))


# --------------------------------------------------------------------------- MobileViT
class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand=2):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.block = nn.Sequential(conv_bn_act(cin, hidden, 1, act=nn.SiLU),
                                   conv_bn_act(hidden, hidden, 3, stride, groups=hidden, act=nn.SiLU),
                                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return x + self.block(x) if self.use_res else self.block(x)


class MobileViTBlock(nn.Module):
    def __init__(self, channels, dim, depth=2, heads=4, patch=2):
        super().__init__()
        self.patch = patch
        self.conv_kxk = conv_bn_act(channels, channels, 3, act=nn.SiLU)
        self.conv_1x1 = nn.Conv2d(channels, dim, 1, bias=False)
        self.transformer = nn.Sequential(*[PreNormBlock(dim, heads, act=nn.SiLU) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.conv_proj = conv_bn_act(dim, channels, 1, act=nn.SiLU)
        self.conv_fusion = conv_bn_act(2 * channels, channels, 3, act=nn.SiLU)

    def forward(self, x):
        shortcut = x
        y = self.conv_1x1(self.conv_kxk(x))
        b, d, h, w = y.shape
        p = self.patch
        # unfold: (B, d, H, W) -> (B * p * p, number of patches, d)
        y = y.reshape(b, d, h // p, p, w // p, p).permute(0, 3, 5, 2, 4, 1).reshape(b * p * p, -1, d)
        y = self.norm(self.transformer(y))
        # fold back
        y = y.reshape(b, p, p, h // p, w // p, d).permute(0, 5, 3, 1, 4, 2).reshape(b, d, h, w)
        y = self.conv_proj(y)
        return self.conv_fusion(torch.cat([shortcut, y], dim=1))


class MobileViT(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(conv_bn_act(3, 16, 3, 2, act=nn.SiLU), InvertedResidual(16, 16, 1),
                                      InvertedResidual(16, 24, 2), MobileViTBlock(24, 48),
                                      conv_bn_act(24, 64, 1, act=nn.SiLU))
        self.head = nn.Linear(64, classes)

    def forward(self, x):
        return self.head(self.features(x).mean([-2, -1]))


# --------------------------------------------------------------------------- DeepLabV3
class ASPP(nn.Module):
    def __init__(self, cin, cout=32, rates=(2, 4, 6)):
        super().__init__()
        self.branches = nn.ModuleList([conv_bn_act(cin, cout, 1)] + [conv_bn_act(cin, cout, 3, dilation=r) for r in rates])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())
        self.project = conv_bn_act(cout * (len(rates) + 2), cout, 1)

    def forward(self, x):
        outs = [branch(x) for branch in self.branches]
        outs.append(F.interpolate(self.pool(x), size=x.shape[-2:], mode="bilinear", align_corners=False))
        return self.project(torch.cat(outs, dim=1))


class DeepLabV3(nn.Module):
    def __init__(self, classes=5):
        super().__init__()
        self.backbone = nn.Sequential(conv_bn_act(3, 16, 3, 2), conv_bn_act(16, 32, 3, 2), conv_bn_act(32, 32, 3, 2),
                                      conv_bn_act(32, 48, 3, dilation=2))  # output stride 8, dilated last stage
        self.aspp = ASPP(48)
        self.head = nn.Sequential(conv_bn_act(32, 32, 3), nn.Conv2d(32, classes, 1))

    def forward(self, x):
        y = self.head(self.aspp(self.backbone(x)))
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


# --------------------------------------------------------------------------- MaxViT
class SqueezeExcite(nn.Module):
    def __init__(self, ch, reduced):
        super().__init__()
        self.reduce, self.act, self.expand = nn.Conv2d(ch, reduced, 1), nn.SiLU(), nn.Conv2d(reduced, ch, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.expand(self.act(self.reduce(x.mean((2, 3), keepdim=True)))))


class MBConv(nn.Module):
    def __init__(self, dim, expand=4):
        super().__init__()
        hidden = dim * expand
        self.pre_norm = nn.BatchNorm2d(dim)
        self.conv = nn.Sequential(conv_bn_act(dim, hidden, 1, act=nn.GELU),
                                  conv_bn_act(hidden, hidden, 3, groups=hidden, act=nn.GELU),
                                  SqueezeExcite(hidden, dim // 4), nn.Conv2d(hidden, dim, 1))

    def forward(self, x):
        return x + self.conv(self.pre_norm(x))


class EinsumAttention(nn.Module):
    """Attention over (B', N, C) windows with einsum products and a relative position bias."""

    def __init__(self, dim, heads, size):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv, self.proj = nn.Linear(dim, dim * 3), nn.Linear(dim, dim)
        self.rel_bias = nn.Parameter(torch.randn(heads, size * size, size * size) * 0.02)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        attn = torch.einsum("bhid,bhjd->bhij", q, k) * self.scale + self.rel_bias
        out = torch.einsum("bhij,bhjd->bhid", attn.softmax(dim=-1), v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class PartitionAttention(nn.Module):
    """MaxViT block ('window') or grid ('grid') attention with its MLP, on NHWC tensors."""

    def __init__(self, dim, heads, size, kind):
        super().__init__()
        self.size, self.kind = size, kind
        self.norm1, self.attn = nn.LayerNorm(dim), EinsumAttention(dim, heads, size)
        self.norm2, self.mlp = nn.LayerNorm(dim), Mlp(dim, dim * 4)

    def partition(self, x):
        b, h, w, c = x.shape
        p = self.size
        if self.kind == "window":
            x = x.view(b, h // p, p, w // p, p, c).permute(0, 1, 3, 2, 4, 5)
        else:
            x = x.view(b, p, h // p, p, w // p, c).permute(0, 2, 4, 1, 3, 5)
        return x.reshape(-1, p * p, c)

    def reverse(self, x, b, h, w):
        p, c = self.size, x.shape[-1]
        if self.kind == "window":
            x = x.view(b, h // p, w // p, p, p, c).permute(0, 1, 3, 2, 4, 5)
        else:
            x = x.view(b, h // p, w // p, p, p, c).permute(0, 3, 1, 4, 2, 5)
        return x.reshape(b, h, w, c)

    def forward(self, x):
        b, h, w, _ = x.shape
        x = x + self.reverse(self.attn(self.partition(self.norm1(x))), b, h, w)
        return x + self.mlp(self.norm2(x))


class MaxViT(nn.Module):
    def __init__(self, dim=32, heads=2, size=4, classes=10):
        super().__init__()
        self.stem = nn.Sequential(conv_bn_act(3, dim, 3, 2, act=nn.GELU), nn.Conv2d(dim, dim, 3, padding=1))
        self.mbconv = MBConv(dim)
        self.block_attn = PartitionAttention(dim, heads, size, "window")
        self.grid_attn = PartitionAttention(dim, heads, size, "grid")
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, classes)

    def forward(self, x):
        x = self.mbconv(self.stem(x)).permute(0, 2, 3, 1)
        x = self.grid_attn(self.block_attn(x))
        return self.head(self.norm(x.mean((1, 2))))


# --------------------------------------------------------------------------- Hugging Face models
class HFWrapper(nn.Module):
    """Returns plain tensors instead of a ModelOutput."""

    def __init__(self, model, outputs):
        super().__init__()
        self.model, self.outputs = model, outputs

    def forward(self, input_ids, attention_mask=None):
        kwargs = {"attention_mask": attention_mask} if attention_mask is not None else {}
        out = self.model(input_ids=input_ids, return_dict=True, **kwargs)
        return tuple(out[name] for name in self.outputs)


def bert():
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=128, max_position_embeddings=64, attn_implementation="eager")
    return HFWrapper(BertModel(cfg), ("last_hidden_state", "pooler_output"))


def gpt2():
    from transformers import GPT2Config, GPT2Model

    cfg = GPT2Config(vocab_size=1000, n_positions=64, n_embd=64, n_layer=2, n_head=4, use_cache=False,
                     attn_implementation="eager")
    return HFWrapper(GPT2Model(cfg), ("last_hidden_state",))


def llama():
    from transformers import LlamaConfig, LlamaModel

    cfg = LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      use_cache=False, attn_implementation="eager")
    return HFWrapper(LlamaModel(cfg), ("last_hidden_state",))


def t5():
    from transformers import T5Config, T5EncoderModel

    cfg = T5Config(vocab_size=1000, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
                   relative_attention_num_buckets=32, relative_attention_max_distance=64,
                   use_cache=False, attn_implementation="eager")
    return HFWrapper(T5EncoderModel(cfg), ("last_hidden_state",))


# --------------------------------------------------------------------------- the set
SEQ = 16


def token_inputs(seed, batch=1, seq=SEQ, mask=True):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 1000, (batch, seq), generator=g)
    if not mask:
        return {"input_ids": ids}
    attention = torch.ones(batch, seq, dtype=torch.int64)
    attention[:, seq - seq // 4:] = 0  # padded tail, so the mask matters
    return {"input_ids": ids, "attention_mask": attention}


def image_input(seed, size, batch=1):
    g = torch.Generator().manual_seed(seed)
    return {"pixel_values": torch.randn(batch, 3, size, size, generator=g)}


# name: (builder, inputs(batch), output names, ops the ONNX file must contain, dynamic axes, fold constants)
# Swin's bias-table gather only uses constants, so the exporter's constant folding would replace it
# by its result: Swin is exported without constant folding. (onnxslim, which tvm_tensorrt.from_onnx
# runs first, folds it later.) T5's buckets depend on the sequence length, which the exporter keeps.
MODELS = {
    "bert_encoder": (bert, lambda b=1, s=SEQ: token_inputs(1, b, s), ("last_hidden_state", "pooler_output"),
                     {"Cast", "And", "Where", "Softmax", "Erf", "Tanh"}, None, True),
    "bert_encoder_dynamic": (bert, lambda b=1, s=SEQ: token_inputs(1, b, s), ("last_hidden_state", "pooler_output"),
                             {"Shape", "Softmax"},
                             {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                              "last_hidden_state": {0: "batch", 1: "sequence"}, "pooler_output": {0: "batch"}}, True),
    "gpt2_decoder": (gpt2, lambda b=1: token_inputs(2, b, mask=False), ("last_hidden_state",),
                     {"Where", "Softmax", "Tanh", "Pow"}, None, True),
    "vit": (ViT, lambda b=1: image_input(3, 32, b), ("logits",), {"Conv", "Concat", "Add", "Softmax", "Erf"}, None, True),
    "vit_dynamic_batch": (ViT, lambda b=1: image_input(3, 32, b), ("logits",), {"Conv", "Concat", "Expand"},
                          {"pixel_values": {0: "batch"}, "logits": {0: "batch"}}, True),
    "swin_block": (SwinStage, lambda b=1: image_input(4, 32, b), ("logits",),
                   {"Gather", "Slice", "Concat", "Transpose", "Reshape", "Softmax"}, None, False),
    "convnext": (ConvNeXt, lambda b=1: image_input(5, 32, b), ("logits",), {"Conv", "Transpose", "Sqrt", "Erf"}, None, True),
    "mobilevit": (MobileViT, lambda b=1: image_input(6, 64, b), ("logits",), {"Conv", "Transpose", "Sigmoid", "Softmax"},
                  None, True),
    "llama_block": (llama, lambda b=1: token_inputs(7, b, mask=False), ("last_hidden_state",),
                    {"Sqrt", "Sigmoid", "Neg", "Softmax", "Where"}, None, True),
    "deeplabv3": (DeepLabV3, lambda b=1: image_input(8, 64, b), ("logits",), {"Conv", "GlobalAveragePool", "Resize"},
                  None, True),
    "maxvit_einsum": (MaxViT, lambda b=1: image_input(9, 32, b), ("logits",), {"Einsum", "Sigmoid", "Conv"}, None, True),
    "t5_encoder": (t5, lambda b=1: token_inputs(10, b), ("last_hidden_state",),
                   {"Log", "Min", "Where", "Cast", "Abs", "Less"}, None, True),
}


def randomize_batchnorm(model: nn.Module, g: torch.Generator):
    """Random running statistics, so batch norms are not identities."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))


def seed_of(name: str) -> int:
    return zlib.crc32(name.removesuffix("_dynamic").removesuffix("_dynamic_batch").encode())


def build(name):
    builder = MODELS[name][0]
    torch.manual_seed(seed_of(name))
    model = builder()
    randomize_batchnorm(model, torch.Generator().manual_seed(seed_of(name)))
    return model.eval()


@contextlib.contextmanager
def no_packed_sequences():
    """transformers' causal masks look for several sequences packed in one row (position ids that
    restart), via torch.diff, which the TorchScript exporter has no symbolic for. Outside tracing that
    check answers "not packed" for our inputs; under tracing it cannot decide, so answer it the same."""
    from transformers import masking_utils

    saved = masking_utils.find_packed_sequence_indices
    masking_utils.find_packed_sequence_indices = lambda position_ids: None
    try:
        yield
    finally:
        masking_utils.find_packed_sequence_indices = saved


def run_ort(path, feeds):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {k: v.numpy() for k, v in feeds.items()})


def export(name, out_dir: Path):
    _, make_inputs, outputs, must_have, dynamic_axes, fold = MODELS[name]
    model = build(name)
    feeds = make_inputs()
    path = out_dir / f"{name}.onnx"
    with torch.no_grad():
        torch.onnx.export(model, tuple(feeds.values()), str(path), dynamo=False, opset_version=OPSET,
                          input_names=list(feeds), output_names=list(outputs), dynamic_axes=dynamic_axes,
                          do_constant_folding=fold)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    ops = Counter(n.op_type for n in proto.graph.node)
    missing = must_have - set(ops)
    if missing:
        raise AssertionError(f"{name}: expected ops {sorted(missing)} are not in the graph")
    used = {i for n in proto.graph.node for i in n.input}
    unused = [i.name for i in proto.graph.input if i.name not in used]
    if unused:  # e.g. a mask the exporter folded away
        raise AssertionError(f"{name}: inputs {unused} are not used by the graph")
    checks = [feeds]
    if dynamic_axes:  # also a shape other than the traced one
        checks.append(make_inputs(2, 8) if "sequence" in str(dynamic_axes) else make_inputs(3))
    for inputs in checks:
        with torch.no_grad():
            ref = model(*inputs.values())
        ref = ref if isinstance(ref, tuple) else (ref,)
        got = run_ort(path, inputs)
        for r, o in zip(ref, got):
            np.testing.assert_allclose(o, r.numpy(), rtol=1e-4, atol=1e-5, err_msg=f"{name}: onnxruntime != torch")

    def dims(vi):
        return "x".join(d.dim_param or str(d.dim_value) for d in vi.type.tensor_type.shape.dim)

    inits = {i.name for i in proto.graph.initializer}
    ins = ", ".join(f"{i.name} {onnx.helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type)}[{dims(i)}]"
                    for i in proto.graph.input if i.name not in inits)
    n_params = sum(int(np.prod(i.dims)) for i in proto.graph.initializer)
    return {"name": name, "bytes": path.stat().st_size, "params": n_params, "inputs": ins, "nodes": len(proto.graph.node)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"models to make (default: all of {', '.join(MODELS)})")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name in args.names or MODELS:
        try:
            with no_packed_sequences():
                row = export(name, args.out)
        except Exception as err:  # report and go on with the others
            failed += 1
            print(f"{name}: FAILED: {type(err).__name__}: {str(err).splitlines()[0][:300]}", file=sys.stderr)
            continue
        print(f"{row['name']:22s} {row['bytes'] / 1e6:6.2f} MB {row['params']:8d} params {row['nodes']:5d} nodes  {row['inputs']}",
              flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
