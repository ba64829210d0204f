"""Convolution, batch norm, pooling, softmax."""

import numpy as np

from .base import TensorRTOpConverter, register_converter
from .helpers import pairs, tensor_of, weight_of


@register_converter("nn.conv2d")
class Conv2DConverter(TensorRTOpConverter):
    input_types = ("tensor", "weight")

    def convert(self, params):
        trt, attrs = params.trt, params.attrs
        kernel = weight_of(params, 1)
        out_channels, kernel_hw = kernel.shape[0], kernel.shape[2:]
        layer = params.network.add_convolution_nd(tensor_of(params, 0), int(out_channels), tuple(kernel_hw),
                                                  params.weights(kernel), trt.Weights())  # bias: a separate add
        layer.stride_nd = tuple(attrs["strides"])
        layer.dilation_nd = tuple(attrs["dilation"])
        layer.num_groups = int(attrs["groups"])
        pre, post = pairs(attrs["padding"], 2)
        layer.pre_padding, layer.post_padding = pre, post
        return [layer.get_output(0)]


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
        axis = attrs["axis"] + rank if attrs["axis"] < 0 else attrs["axis"]
        layer = params.network.add_scale_nd(tensor_of(params, 0), trt.ScaleMode.CHANNEL,
                                            params.weights(shift.astype(dtype)), params.weights(scale.astype(dtype)),
                                            params.weights(np.ones_like(scale, dtype=dtype)), axis)
        # the tuple's other fields are the (unchanged) running statistics in inference
        return [layer.get_output(0), params.constant(mean.astype(dtype)), params.constant(var.astype(dtype))]


class PoolConverter(TensorRTOpConverter):
    pooling = ""

    def convert(self, params):
        trt, attrs = params.trt, params.attrs
        layer = params.network.add_pooling_nd(tensor_of(params, 0), getattr(trt.PoolingType, self.pooling),
                                              tuple(attrs["pool_size"]))
        layer.stride_nd = tuple(attrs["strides"])
        pre, post = pairs(attrs["padding"], 2)
        layer.pre_padding, layer.post_padding = pre, post
        if attrs.get("ceil_mode"):
            layer.padding_mode = trt.PaddingMode.EXPLICIT_ROUND_UP
        if self.pooling == "AVERAGE":
            layer.average_count_excludes_padding = not attrs.get("count_include_pad", False)
        return [layer.get_output(0)]


@register_converter("nn.max_pool2d")
class MaxPool2DConverter(PoolConverter):
    pooling = "MAX"


@register_converter("nn.avg_pool2d")
class AvgPool2DConverter(PoolConverter):
    pooling = "AVERAGE"


@register_converter("nn.adaptive_avg_pool2d")
class AdaptiveAvgPool2DConverter(TensorRTOpConverter):
    """Exact as a fixed pooling when input sizes are multiples of output sizes (the rule's check)."""

    def convert(self, params):
        in_hw = params.inputs[0].shape[2:]
        out_hw = params.output_shapes[0][2:]
        stride = tuple(i // o for i, o in zip(in_hw, out_hw))
        layer = params.network.add_pooling_nd(tensor_of(params, 0), params.trt.PoolingType.AVERAGE, stride)
        layer.stride_nd = stride
        return [layer.get_output(0)]


@register_converter("nn.softmax")
class SoftmaxConverter(TensorRTOpConverter):
    def convert(self, params):
        rank = len(params.inputs[0].shape)
        axis = params.attrs.get("axis", -1)
        layer = params.network.add_softmax(tensor_of(params, 0))
        layer.axes = 1 << (axis + rank if axis < 0 else axis)
        return [layer.get_output(0)]
