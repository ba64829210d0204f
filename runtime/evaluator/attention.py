"""TensorRT's fused transformer layers: attention (IAttention, seen in the network as an
ATTENTION_INPUT and an ATTENTION_OUTPUT layer) and rotary embedding.

IAttention computes normalise(Q K^T [+ mask | masked | causal]) V per head, with no scale of its
own (NVIDIA's parser multiplies Q and K by sqrt(scale) before it), K and V heads shared by
Hq / Hkv query heads each (grouped-query attention, ONNX's head order). The whole result is
computed at ATTENTION_INPUT, whose output is the attention's; ATTENTION_OUTPUT passes it on.
Products and the softmax are in float32 whatever the input dtype, as the GPU kernels accumulate.
"""

from __future__ import annotations

import numpy as np

from .core import _LAYER_CLASSES, _enum_name, _handler, _input, _is_float, _unsupported

_LAYER_CLASSES.update({"ATTENTION_INPUT": "IAttentionInputLayer", "ATTENTION_OUTPUT": "IAttentionOutputLayer",
                       "ROTARY_EMBEDDING": "IRotaryEmbeddingLayer"})


def _heads(x, heads: int, what: str):
    if x.shape[1] == heads:
        return x
    if heads % x.shape[1]:
        raise _unsupported(f"{what} has {x.shape[1]} heads, which do not divide the query's {heads}")
    return np.repeat(x, heads // x.shape[1], axis=1)


@_handler("ATTENTION_INPUT")
def _attention(ev, layer, ins, dtypes):
    attention = layer.attention
    q, k, v = ins[0], ins[1], ins[2]
    mask = attention.mask
    mask = _input(ins, 3) if mask is not None else None
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise _unsupported(f"attention on {q.ndim}-d query, {k.ndim}-d key, {v.ndim}-d value (4-d BHSD only)")
    if not _is_float(q.dtype):
        raise _unsupported(f"attention on {q.dtype}")
    if attention.normalization_quantize_scale is not None:
        raise _unsupported("attention with a quantized normalization output")
    heads = q.shape[1]
    k, v = _heads(k, heads, "the key"), _heads(v, heads, "the value")
    scores = ev.contract(q.astype(np.float32), np.swapaxes(k.astype(np.float32), -1, -2))
    if mask is not None:
        if mask.dtype == np.bool_:
            scores = np.where(mask, scores, -np.inf)
        else:
            scores = scores + mask.astype(np.float32)
    causal = _enum_name(attention.causal_kind)
    if causal != "NONE":
        sq, skv = scores.shape[-2:]
        offset = 0 if causal == "UPPER_LEFT" else skv - sq  # LOWER_RIGHT: the last query sees every key
        allowed = np.arange(skv)[None, :] <= np.arange(sq)[:, None] + offset
        scores = np.where(allowed, scores, -np.inf)
    norm = _enum_name(attention.norm_op)
    if norm == "SOFTMAX":
        top = scores.max(axis=-1, keepdims=True)
        e = np.exp(scores - np.where(np.isfinite(top), top, 0))
        weights = e / e.sum(axis=-1, keepdims=True)
    elif norm == "NONE":
        weights = scores
    else:
        raise _unsupported(f"attention normalization {norm}")
    return [ev.contract(weights, v.astype(np.float32)).astype(dtypes[0])]


@_handler("ATTENTION_OUTPUT")
def _attention_output(ev, layer, ins, dtypes):
    return [ins[0]]


@_handler("ROTARY_EMBEDDING")
def _rotary(ev, layer, ins, dtypes):
    """ONNX RotaryEmbedding's arithmetic on (B, H, S, D) input: cos and sin (B, S, R/2), or
    (positions, R/2) read at position_ids (B, S)."""
    x, cos, sin = ins[0], ins[1], ins[2]
    positions = _input(ins, 3)
    if x.ndim != 4:
        raise _unsupported(f"rotary embedding of a {x.ndim}-d input (B, H, S, D only)")
    if positions is not None:
        cos, sin = cos[positions], sin[positions]
    rotary = int(layer.rotary_embedding_dim) or x.shape[-1]
    half = rotary // 2
    if cos.shape[-1] != half:
        raise _unsupported(f"rotary cos/sin of width {cos.shape[-1]} for a rotary dimension of {rotary}")
    cos = cos.astype(np.float32)[:, None]
    sin = sin.astype(np.float32)[:, None]
    xf = x.astype(np.float32)
    part, rest = xf[..., :rotary], xf[..., rotary:]
    if layer.interleaved:
        x1, x2 = part[..., 0::2], part[..., 1::2]
    else:
        x1, x2 = part[..., :half], part[..., half:]
    real, imag = x1 * cos - x2 * sin, x2 * cos + x1 * sin
    if layer.interleaved:
        rotated = np.stack([real, imag], axis=-1).reshape(part.shape)
    else:
        rotated = np.concatenate([real, imag], axis=-1)
    return [np.concatenate([rotated, rest], axis=-1).astype(dtypes[0])]
