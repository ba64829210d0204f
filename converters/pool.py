"""Pooling: 2-D and 3-D windows, and adaptive average pooling with an exact fixed window."""

from .base import TensorRTOpConverter, register_converter
from .helpers import pairs, tensor_of


class PoolConverter(TensorRTOpConverter):
    pooling = ""

    def convert(self, params):
        trt, attrs = params.trt, params.attrs
        window = tuple(attrs["pool_size"])
        layer = params.network.add_pooling_nd(tensor_of(params, 0), getattr(trt.PoolingType, self.pooling), window)
        layer.stride_nd = tuple(attrs["strides"])
        pre, post = pairs(attrs["padding"], len(window))
        layer.pre_padding, layer.post_padding = pre, post
        if attrs.get("ceil_mode"):
            layer.padding_mode = trt.PaddingMode.EXPLICIT_ROUND_UP
        if self.pooling == "AVERAGE":
            layer.average_count_excludes_padding = not attrs.get("count_include_pad", False)
        return [layer.get_output(0)]


register_converter("nn.max_pool2d")(type("MaxPool2DConverter", (PoolConverter,), {"pooling": "MAX"}))
register_converter("nn.avg_pool2d")(type("AvgPool2DConverter", (PoolConverter,), {"pooling": "AVERAGE"}))
register_converter("nn.max_pool3d")(type("MaxPool3DConverter", (PoolConverter,), {"pooling": "MAX"}))
register_converter("nn.avg_pool3d")(type("AvgPool3DConverter", (PoolConverter,), {"pooling": "AVERAGE"}))


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
