"""Convolutions and transposed convolutions (1-D runs as a 2-D window of width 1)."""

from tvm_tensorrt.errors import ConversionError
from .base import TensorRTOpConverter, register_converter
from .helpers import pairs, tensor_of, weight_of


def bias_weights(params):
    """The bias the network builder folded into this convolution (fusion.py), or none."""
    return params.weights(params.bias) if params.bias is not None else params.trt.Weights()


def _as_2d(params, x, kernel, strides, dilation, pre, post):
    """TensorRT convolves 2-D and 3-D windows only: give a 1-D problem a unit second axis. The
    shuffles copy the other dims (0 is "as the input has it"), so any length works (wav2vec2's
    feature encoder runs over a symbolic audio length)."""
    layer = params.network.add_shuffle(x)
    layer.reshape_dims = (0, 0, 0, 1)
    return layer.get_output(0), kernel[..., None], strides + [1], dilation + [1], pre + (0,), post + (0,)


def _drop_unit_axis(params, out):
    layer = params.network.add_shuffle(out)
    layer.reshape_dims = (0, 0, 0)
    return layer.get_output(0)


class ConvConverter(TensorRTOpConverter):
    """Kernel (O, I/groups, *window), the layout TensorRT takes; the bias is Relax's separate add,
    folded back in by the network builder where it can be."""

    input_types = ("tensor", "tensor")  # a constant kernel, or a tensor: quantized weights or a computed kernel

    def convert(self, params):
        attrs = params.attrs
        if params.inputs[1].weight is None:
            return [self.tensor_kernel(params)]
        kernel = weight_of(params, 1)
        nd = kernel.ndim - 2
        x = tensor_of(params, 0)
        strides, dilation = list(attrs["strides"]), list(attrs["dilation"])
        pre, post = pairs(attrs["padding"], nd)
        if nd == 1:
            x, kernel, strides, dilation, pre, post = _as_2d(params, x, kernel, strides, dilation, pre, post)
        layer = params.network.add_convolution_nd(x, int(kernel.shape[0]), tuple(kernel.shape[2:]),
                                                  params.weights(kernel), bias_weights(params))
        layer.stride_nd = tuple(strides)
        layer.dilation_nd = tuple(dilation)
        layer.num_groups = int(attrs["groups"])
        layer.pre_padding, layer.post_padding = pre, post
        out = layer.get_output(0)
        return [_drop_unit_axis(params, out) if nd == 1 else out]

    def tensor_kernel(self, params):
        """The kernel is a tensor: the output of a dequantize layer on int8 constants (TensorRT
        then runs the convolution in INT8), or a kernel the network computes. TensorRT takes it
        as the layer's second input."""
        attrs, shape = params.attrs, params.inputs[1].shape
        nd = len(shape) - 2
        if nd not in (2, 3):
            raise ConversionError(f"{nd}-D convolutions with a tensor kernel are not supported; it must be 2-D or 3-D",
                                  op_name=params.op_name)
        layer = params.network.add_convolution_nd(tensor_of(params, 0), int(shape[0]), tuple(shape[2:]),
                                                  params.trt.Weights(), bias_weights(params))
        layer.set_input(1, params.inputs[1].tensor)
        layer.stride_nd, layer.dilation_nd = tuple(attrs["strides"]), tuple(attrs["dilation"])
        layer.num_groups = int(attrs["groups"])
        layer.pre_padding, layer.post_padding = pairs(attrs["padding"], nd)
        return layer.get_output(0)


class ConvTransposeConverter(TensorRTOpConverter):
    """Kernel (I, O/groups, *window) is TensorRT's deconvolution layout. Relax's output_padding
    extends the output at the end, i.e. crops that much less there (the rule checks it is no
    more than the end padding)."""

    input_types = ("tensor", "weight")

    def convert(self, params):
        attrs = params.attrs
        kernel = weight_of(params, 1)
        nd = kernel.ndim - 2
        groups = int(attrs["groups"])
        pre, post = pairs(attrs["padding"], nd)
        post = tuple(p - o for p, o in zip(post, attrs["output_padding"]))
        layer = params.network.add_deconvolution_nd(tensor_of(params, 0), int(kernel.shape[1]) * groups,
                                                    tuple(kernel.shape[2:]), params.weights(kernel),
                                                    bias_weights(params))
        layer.stride_nd = tuple(attrs["strides"])
        layer.num_groups = groups
        layer.pre_padding, layer.post_padding = pre, post
        return [layer.get_output(0)]


register_converter("nn.conv1d")(type("Conv1DConverter", (ConvConverter,), {}))
register_converter("nn.conv2d")(type("Conv2DConverter", (ConvConverter,), {}))
register_converter("nn.conv3d")(type("Conv3DConverter", (ConvConverter,), {}))
register_converter("nn.conv2d_transpose")(type("Conv2DTransposeConverter", (ConvTransposeConverter,), {}))
register_converter("nn.conv3d_transpose")(type("Conv3DTransposeConverter", (ConvTransposeConverter,), {}))
