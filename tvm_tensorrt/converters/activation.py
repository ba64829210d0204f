"""Activations: one TensorRT activation layer each."""

from .base import TensorRTOpConverter, register_converter
from .helpers import tensor_of


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
