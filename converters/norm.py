"""Batch norm (inference), layer, group and instance norm, RMS norm, softmax."""

import numpy as np

from .base import TensorRTOpConverter, register_converter, trt_weights
from .helpers import axes_mask, normalise_axis, elementwise, reshape, tensor_of, unary, weight_of
from .network import trt_dtype


@register_converter("nn.batch_norm")
class BatchNormConverter(TensorRTOpConverter):
    """Inference batch norm is a per-channel scale: y = x * s + (beta - mean * s)."""

    input_types = ("tensor", "weight", "weight", "weight", "weight")

    def convert(self, params):
        trt, attrs = params.trt, params.attrs
        gamma, beta, mean, var = (weight_of(params, i).astype(np.float32) for i in range(1, 5))
        if not attrs.get("scale", True):
            gamma = np.ones_like(gamma)
        if not attrs.get("center", True):
            beta = np.zeros_like(beta)
        scale = gamma / np.sqrt(var + np.float32(attrs["epsilon"]))
        shift = beta - mean * scale
        dtype = np.dtype(params.inputs[0].dtype)
        rank = len(params.inputs[0].shape)
        layer = params.network.add_scale_nd(tensor_of(params, 0), trt.ScaleMode.CHANNEL,
                                            params.weights(shift.astype(dtype)), params.weights(scale.astype(dtype)),
                                            params.weights(np.ones_like(scale, dtype=dtype)),
                                            normalise_axis(attrs["axis"], rank))
        # the tuple's other fields are the (unchanged) running statistics in inference
        return [layer.get_output(0), params.constant(mean.astype(dtype)), params.constant(var.astype(dtype))]


@register_converter("nn.layer_norm")
class LayerNormConverter(TensorRTOpConverter):
    """TensorRT's normalization layer; gamma and beta (shaped like the normalised axes) are
    reshaped to the input's rank with unit dims elsewhere, as the layer requires."""

    input_types = ("tensor", "tensor", "tensor")

    def convert(self, params):
        attrs = params.attrs
        shape = params.inputs[0].shape
        rank = len(shape)
        axes = sorted(normalise_axis(a, rank) for a in attrs["axes"])
        stats_shape = tuple(shape[a] if a in axes else 1 for a in range(rank))
        gamma = self._affine(params, 1, attrs.get("scale", True), 1.0, stats_shape)
        beta = self._affine(params, 2, attrs.get("center", True), 0.0, stats_shape)
        layer = params.network.add_normalization(tensor_of(params, 0), gamma, beta, axes_mask(axes, rank))
        layer.epsilon = float(attrs["epsilon"])
        return [layer.get_output(0)]

    @staticmethod
    def _affine(params, index, enabled, default, shape):
        if not enabled:
            return params.constant(np.full(shape, default, dtype=np.float32))
        item = params.inputs[index]
        if item.weight is not None:
            return params.constant(np.asarray(item.weight).reshape(shape))
        return reshape(params, item.tensor, shape)


def per_channel(params, index: int, rank: int):
    """gamma or beta (C,) as (1, C, 1, ...), to broadcast over NC... data."""
    item = params.inputs[index]
    shape = (1, item.shape[0]) + (1,) * (rank - 2)
    if item.weight is not None:
        return params.constant(np.asarray(item.weight).reshape(shape))
    return reshape(params, item.tensor, shape)


@register_converter("nn.instance_norm")
class InstanceNormConverter(TensorRTOpConverter):
    """The normalization layer over axes 2.. with per-channel (1, C, 1, ...) scale and bias, the
    form TensorRT recognises as instance normalization."""

    input_types = ("tensor", "tensor", "tensor")

    def convert(self, params):
        rank = len(params.inputs[0].shape)
        layer = params.network.add_normalization(tensor_of(params, 0), per_channel(params, 1, rank),
                                                 per_channel(params, 2, rank), axes_mask(range(2, rank), rank))
        layer.epsilon = float(params.attrs["epsilon"])
        return [layer.get_output(0)]


@register_converter("nn.group_norm")
class GroupNormConverter(TensorRTOpConverter):
    """One normalization layer with num_groups. add_normalization_v2 (TensorRT-RTX, TensorRT >=
    10.15) takes TVM's per-channel gamma and beta (1, C, 1, ...) itself, as NVIDIA's parser builds
    ONNX's opset-21 GroupNormalization; the older layer takes one scale and bias per group, so
    there it normalises with ones and zeros and the per-channel affine follows as two
    element-wise layers (the same arithmetic)."""

    input_types = ("tensor", "tensor", "tensor")

    def convert(self, params):
        rank = len(params.inputs[0].shape)
        groups = int(params.attrs["num_groups"])
        v2 = getattr(params.network, "add_normalization_v2", None)
        if v2 is not None:
            layer = v2(tensor_of(params, 0), per_channel(params, 1, rank), per_channel(params, 2, rank),
                       axes_mask(range(2, rank), rank))
            layer.num_groups = groups
            layer.epsilon = float(params.attrs["epsilon"])
            return [layer.get_output(0)]
        shape = (1, groups) + (1,) * (rank - 2)
        layer = params.network.add_normalization(tensor_of(params, 0), params.constant(np.ones(shape, np.float32)),
                                                 params.constant(np.zeros(shape, np.float32)),
                                                 axes_mask(range(2, rank), rank))
        layer.num_groups = groups
        layer.epsilon = float(params.attrs["epsilon"])
        scaled = elementwise(params, layer.get_output(0), per_channel(params, 1, rank), "PROD")
        return [elementwise(params, scaled, per_channel(params, 2, rank), "SUM")]


@register_converter("nn.rms_norm")
class RmsNormConverter(TensorRTOpConverter):
    """x / sqrt(mean(x * x) + epsilon) * weight. TensorRT has no RMS layer; the statistics are
    computed in float32 even in an FP16 engine, because x * x overflows half precision from
    |x| > 256 on (TVM computes them in float32 too)."""

    input_types = ("tensor", "tensor")

    def convert(self, params):
        shape = params.inputs[0].shape
        rank = len(shape)
        axes = sorted(normalise_axis(a, rank) for a in params.attrs["axes"])
        weight_shape = tuple(shape[a] if a in axes else 1 for a in range(rank))
        item = params.inputs[1]
        weight = params.constant(np.asarray(item.weight).reshape(weight_shape)) if item.weight is not None \
            else reshape(params, item.tensor, weight_shape)
        return [rms_norm_layers(params, tensor_of(params, 0), shape, axes, params.attrs["epsilon"], weight)]


def rms_norm_layers(params, x, shape, axes, epsilon, weight=None):
    """x / sqrt(mean(x * x over axes) + epsilon) [* weight], statistics in float32 (also the
    fused RMSNorm pattern's, converters/fused_norm.py)."""
    trt = params.trt
    rank = len(shape)
    dtype = params.inputs[0].dtype
    wide = x if dtype == "float32" else params.network.add_cast(x, trt.float32).get_output(0)
    mean_square = params.network.add_reduce(elementwise(params, wide, wide, "PROD"), trt.ReduceOperation.AVG,
                                            axes_mask(axes, rank), True).get_output(0)
    eps = np.full((1,) * rank, epsilon, np.float32)
    # float32 whatever the engine's precision (params.weights would cast)
    eps = params.network.add_constant(eps.shape, trt_weights(trt, eps, params.keep_alive)).get_output(0)
    root = unary(params, elementwise(params, mean_square, eps, "SUM"), "SQRT")
    if dtype != "float32":
        root = params.network.add_cast(root, trt_dtype(trt, dtype)).get_output(0)
    normalised = elementwise(params, x, root, "DIV")
    return normalised if weight is None else elementwise(params, normalised, weight, "PROD")


@register_converter("nn.softmax")
class SoftmaxConverter(TensorRTOpConverter):
    def convert(self, params):
        rank = len(params.inputs[0].shape)
        layer = params.network.add_softmax(tensor_of(params, 0))
        layer.axes = 1 << normalise_axis(params.attrs.get("axis", -1), rank)
        return [layer.get_output(0)]
