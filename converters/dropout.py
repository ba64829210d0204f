"""nn.dropout at inference: the data unchanged (an identity layer, so the output is a tensor of
its own) and a mask of ones."""

import numpy as np

from .base import TensorRTOpConverter, register_converter
from .helpers import runtime_size, tensor_of


def ones_like(params, tensor, shape):
    """Ones of `shape`; a -1 dim (a symbolic batch) is taken from `tensor` at run time by
    reading one constant element with stride 0."""
    if all(d >= 0 for d in shape):
        return params.constant(np.ones(shape, np.float32))
    one = params.constant(np.ones((1,) * len(shape), np.float32))
    layer = params.network.add_slice(one, (0,) * len(shape), tuple(max(d, 0) for d in shape), (0,) * len(shape))
    layer.set_input(2, runtime_size(params, tensor, shape))
    return layer.get_output(0)


@register_converter("nn.dropout")
class DropoutConverter(TensorRTOpConverter):
    def convert(self, params):
        x = tensor_of(params, 0)
        return [params.network.add_identity(x).get_output(0), ones_like(params, x, params.output_shapes[1])]
