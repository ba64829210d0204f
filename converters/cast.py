"""astype (cast layer); broadcast_to and tile (one slice layer each, on the input lifted to the
output's rank: stride 0 repeats a unit dim, WRAP mode repeats a whole axis)."""

from .base import TensorRTOpConverter, register_converter
from .helpers import cast_to, lift_to_rank, slice_layer, tensor_of


@register_converter("astype")
class AstypeConverter(TensorRTOpConverter):
    def convert(self, params):  # output_dtypes are the network's (FP16 engines: half)
        return [cast_to(params, tensor_of(params, 0), params.output_dtypes[0])]


class ReplicateConverter(TensorRTOpConverter):
    mode = None  # a trt.SampleMode member name

    def strides(self, shape, out) -> list:
        raise NotImplementedError

    def convert(self, params):
        item, out = params.inputs[0], params.output_shapes[0]
        x = lift_to_rank(params, tensor_of(params, 0), item.shape, len(out), item.dims)
        shape = (1,) * (len(out) - len(item.shape)) + tuple(item.shape)
        return [slice_layer(params, x, [0] * len(out), out, self.strides(shape, out), self.mode,
                            out_dims=params.output_dims[0]).get_output(0)]


@register_converter("broadcast_to")
class BroadcastToConverter(ReplicateConverter):
    def strides(self, shape, out) -> list:
        return [0 if d == 1 and n != 1 else 1 for d, n in zip(shape, out)]


@register_converter("tile")
class TileConverter(ReplicateConverter):
    mode = "WRAP"

    def strides(self, shape, out) -> list:
        return [1] * len(out)
