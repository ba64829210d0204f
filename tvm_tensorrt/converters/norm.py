"""Batch norm (inference), layer norm, softmax."""

import numpy as np

from .base import TensorRTOpConverter, register_converter
from .helpers import axes_mask, axis_of, reshape, tensor_of, weight_of


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
                                            axis_of(attrs["axis"], rank))
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
        axes = sorted(axis_of(a, rank) for a in attrs["axes"])
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


@register_converter("nn.softmax")
class SoftmaxConverter(TensorRTOpConverter):
    def convert(self, params):
        rank = len(params.inputs[0].shape)
        layer = params.network.add_softmax(tensor_of(params, 0))
        layer.axes = 1 << axis_of(params.attrs.get("axis", -1), rank)
        return [layer.get_output(0)]
