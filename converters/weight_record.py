"""Which numpy array each layer's weights came from, recorded while the converters fill a network.

TensorRT's Python bindings give FP32, FP16 and integer weights back as numpy views of the arrays
they were made from, but BF16 weights only as an opaque `trt.Weights` (no data, no address). The
CPU evaluator needs the numbers to check a BF16 network, so the arrays are kept here, keyed by
(layer index, the layer's weight attribute), as they are handed to TensorRT.
"""

from __future__ import annotations

# The network calls that take weights, and their parameters in order: the names of the layer
# attributes that hold those weights afterwards (IConstantLayer.weights, IConvolutionLayer.kernel, ...).
WEIGHT_PARAMETERS = {
    "add_constant": ("shape", "weights"),
    "add_convolution_nd": ("input", "num_output_maps", "kernel_shape", "kernel", "bias"),
    "add_deconvolution_nd": ("input", "num_output_maps", "kernel_shape", "kernel", "bias"),
    "add_scale": ("input", "mode", "shift", "scale", "power"),
    "add_scale_nd": ("input", "mode", "shift", "scale", "power", "channel_axis"),
}
WEIGHT_ATTRIBUTES = ("weights", "kernel", "bias", "shift", "scale", "power")


class KeptArrays(list):
    """The numpy arrays TensorRT points into until the build (it does not copy them), and the
    array behind each trt.Weights the bindings cannot give back (`trt_weights` fills `opaque`)."""

    def __init__(self):
        super().__init__()
        self.opaque: dict = {}  # id(trt.Weights) -> (that Weights: held so the id stays its own, its array)


class RecordingNetwork:
    """The INetworkDefinition as converters see it: every call goes to TensorRT unchanged; the
    calls that take weights also record which kept array each opaque weight is, under the index of
    the layer they made. `weights` is the record: {(layer index, attribute): array}."""

    def __init__(self, network, kept: KeptArrays):
        object.__setattr__(self, "_network", network)
        object.__setattr__(self, "_kept", kept)
        object.__setattr__(self, "weights", {})

    def __getattr__(self, name):
        value = getattr(self._network, name)
        if name not in WEIGHT_PARAMETERS:
            return value
        parameters = WEIGHT_PARAMETERS[name]

        def add_layer(*args, **kwargs):
            layer = value(*args, **kwargs)
            given = {**dict(zip(parameters, args)), **kwargs}
            for attribute, weights in given.items():
                found = self._kept.opaque.get(id(weights)) if attribute in WEIGHT_ATTRIBUTES else None
                if found is not None and found[0] is weights:
                    self.weights[(self._network.num_layers - 1, attribute)] = found[1]
            return layer

        return add_layer

    def __setattr__(self, name, value):
        setattr(self._network, name, value)
