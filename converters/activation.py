"""Activations: one TensorRT activation layer each; silu, softplus and prelu compose a few."""

from .base import TensorRTOpConverter, register_converter
from .helpers import normalise_axis, elementwise, reshape, scalar_constant, tensor_of


class ActivationConverter(TensorRTOpConverter):
    activation = ""

    def convert(self, params):
        kind = getattr(params.trt.ActivationType, self.activation)
        layer = params.network.add_activation(tensor_of(params, 0), kind)
        self.configure(layer, params)
        return [layer.get_output(0)]

    def configure(self, layer, params):
        pass


@register_converter("nn.relu")
class ReluConverter(ActivationConverter):
    activation = "RELU"


@register_converter("sigmoid")
class SigmoidConverter(ActivationConverter):
    activation = "SIGMOID"


@register_converter("tanh")
class TanhConverter(ActivationConverter):
    activation = "TANH"


@register_converter("clip")
class ClipConverter(ActivationConverter):
    activation = "CLIP"

    def configure(self, layer, params):
        layer.alpha = float(params.attrs["min"])
        layer.beta = float(params.attrs["max"])


@register_converter("nn.leakyrelu")
class LeakyReluConverter(ActivationConverter):
    activation = "LEAKY_RELU"

    def configure(self, layer, params):
        layer.alpha = float(params.attrs["alpha"])


@register_converter("nn.gelu")
class GeluConverter(ActivationConverter):
    activation = "GELU_ERF"


@register_converter("nn.gelu_tanh")
class GeluTanhConverter(ActivationConverter):
    activation = "GELU_TANH"


@register_converter("nn.selu")
class SeluConverter(ActivationConverter):
    """TVM's constants (those of the SELU paper), as TensorRT's alpha and its scale beta."""

    activation = "SELU"

    def configure(self, layer, params):
        layer.alpha, layer.beta = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


@register_converter("nn.silu")
class SiluConverter(TensorRTOpConverter):
    def convert(self, params):
        x = tensor_of(params, 0)
        sigmoid = params.network.add_activation(x, params.trt.ActivationType.SIGMOID).get_output(0)
        return [elementwise(params, x, sigmoid, "PROD")]


@register_converter("nn.softplus")
class SoftplusConverter(TensorRTOpConverter):
    """TensorRT's SOFTPLUS is alpha * log(1 + exp(beta * x)); TVM's is that with alpha = 1 / beta,
    but x itself where beta * x > threshold, which a select reproduces exactly."""

    def convert(self, params):
        x, dtype, rank = tensor_of(params, 0), params.inputs[0].dtype, len(params.inputs[0].shape)
        beta, threshold = float(params.attrs["beta"]), float(params.attrs["threshold"])
        layer = params.network.add_activation(x, params.trt.ActivationType.SOFTPLUS)
        layer.alpha, layer.beta = 1.0 / beta, beta
        scaled = elementwise(params, x, scalar_constant(params, beta, dtype, rank), "PROD")
        linear = elementwise(params, scaled, scalar_constant(params, threshold, dtype, rank), "GREATER")
        return [params.network.add_select(linear, x, layer.get_output(0)).get_output(0)]


@register_converter("nn.prelu")
class PreluConverter(TensorRTOpConverter):
    """The slope is 1-D along `axis`; TensorRT's parametric ReLU broadcasts one of the input's rank."""

    def convert(self, params):
        rank = len(params.inputs[0].shape)
        axis = normalise_axis(int(params.attrs["axis"]), rank)
        channels = params.inputs[1].shape[0]
        slope = reshape(params, tensor_of(params, 1), (1,) * axis + (channels,) + (1,) * (rank - axis - 1))
        return [params.network.add_parametric_relu(tensor_of(params, 0), slope).get_output(0)]
